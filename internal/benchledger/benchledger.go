// Package benchledger writes long ledgers quickly, for benchmarks: a SQLite
// ledger with years of grant history, made in seconds in one transaction
// rather than in hours of durable appends, and chained and indexed exactly as
// appends would leave it, so that it verifies.
package benchledger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// The shape of the history AppendHistory writes.
const (
	// Active is how many of the history's grants are still in force at the
	// instant AppendHistory is given (one event each; up to two more, so that
	// the events come to the number asked for); the others are issued,
	// expired and retired (three events each).
	Active = 2_000
	// Entitlements and Principals are how many names the history's grants
	// spread over: "ent-0"…, "hist-0"….
	Entitlements = 10
	Principals   = 10_000
)

// AppendHistory appends n events to the SQLite ledger at path (created when
// missing), chained after its head: grants of Entitlements entitlements
// ("ent-0"…) to Principals principals ("hist-0"…), ids "grt_hist_…" (a fresh
// run of them for every call, after those already there), issued over the
// year and a half before now; all but Active of them issued, expired after
// 8 hours and retired, the last Active still in force at now. It updates the
// current-state rows and the head as appends do.
func AppendHistory(ctx context.Context, path string, n int, now time.Time) error {
	if n < Active+3 {
		return fmt.Errorf("a history needs at least %d events, not %d", Active+3, n)
	}
	l, err := ledger.Open(ctx, path)
	if err != nil {
		return err
	}
	if err := l.Close(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // after Commit, it does nothing
	var seq int64
	var prev, prevRecorded string
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &prev); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT recorded_at FROM events WHERE seq = ?`, seq).Scan(&prevRecorded); err != nil &&
		!errors.Is(err, sql.ErrNoRows) {
		return err
	}
	// Each event is recorded when it was decided, or, where the history
	// goes back before the event already at the head, when that one was:
	// recording times never go backwards along the chain.
	var recorded time.Time
	if prevRecorded != "" {
		if recorded, err = time.Parse(time.RFC3339Nano, prevRecorded); err != nil {
			return err
		}
	}
	var first int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM grants WHERE id LIKE 'grt_hist_%'`).Scan(&first); err != nil {
		return err
	}
	insertEvent, err := tx.PrepareContext(ctx, `INSERT INTO events (seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	upsertGrant, err := tx.PrepareContext(ctx, `INSERT INTO grants (id, seq, principal, entitlement, status, expires_unix, revoke_pending, approval_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, principal = excluded.principal, entitlement = excluded.entitlement,
	status = excluded.status, expires_unix = excluded.expires_unix, revoke_pending = excluded.revoke_pending,
	approval_id = excluded.approval_id`)
	if err != nil {
		return err
	}
	appendEvent := func(typ string, at time.Time, g ledger.Grant) error {
		data, err := json.Marshal(g)
		if err != nil {
			return err
		}
		seq++
		if at.After(recorded) {
			recorded = at.UTC().Round(0)
		}
		e := ledger.Event{Seq: seq, At: at.UTC().Round(0), Type: typ, Subject: g.ID, Data: data, PrevHash: prev,
			RecordedAt: recorded, Actor: "benchledger"}
		e.Hash = ledger.HashEvent(prev, e)
		if _, err := insertEvent.ExecContext(ctx, e.Seq, e.At.Format(time.RFC3339Nano), typ, g.ID, string(data), prev, e.Hash,
			e.RecordedAt.Format(time.RFC3339Nano), e.Actor, e.RunID); err != nil {
			return err
		}
		expires, err := time.Parse(time.RFC3339, g.ExpiresAt)
		if err != nil {
			return err
		}
		if _, err := upsertGrant.ExecContext(ctx, g.ID, seq, g.Principal, g.Entitlement, g.Status, expires.Unix(),
			g.RevokePending, g.ApprovalID); err != nil {
			return err
		}
		prev = e.Hash
		return nil
	}
	past := (n - Active) / 3
	active := n - 3*past
	start := now.Add(-548 * 24 * time.Hour)
	step := now.Add(-9*time.Hour).Sub(start) / time.Duration(past+active)
	for i := range past + active {
		at := start.Add(time.Duration(i) * step)
		k := first + i
		g := ledger.Grant{
			ID:          fmt.Sprintf("grt_hist_%012d", k),
			Principal:   fmt.Sprintf("hist-%d", k%Principals),
			Entitlement: fmt.Sprintf("ent-%d", k%Entitlements),
			TicketID:    fmt.Sprintf("SEC-%d", k),
			Approvers:   []string{"alice@example.com"},
			Requester:   "dev@example.com",
			Target:      "ledger",
			Role:        "reader",
			TTL:         "8h",
			ExpiresAt:   at.Add(8 * time.Hour).UTC().Format(time.RFC3339),
			GrantedAt:   at.UTC().Round(0),
			Status:      ledger.StatusActive,
			Evidence:    "asserted",
		}
		if i >= past {
			g.ExpiresAt = now.Add(8 * time.Hour).UTC().Format(time.RFC3339)
		}
		if err := appendEvent(ledger.EventGrantIssued, at, g); err != nil {
			return err
		}
		if i >= past {
			continue
		}
		exp := at.Add(8 * time.Hour).UTC().Round(0)
		g.Status, g.RevokedAt, g.RevocationReason = ledger.StatusExpired, exp, ledger.ReasonExpired
		if err := appendEvent(ledger.EventGrantExpired, exp, g); err != nil {
			return err
		}
		g.RetiredAt = exp.Add(time.Minute)
		if err := appendEvent(ledger.EventGrantRetired, g.RetiredAt, g); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, seq, prev)
	if err != nil {
		return err
	}
	if rows, err := res.RowsAffected(); err != nil || rows != 1 {
		return errors.Join(err, errors.New("the ledger has no head row"))
	}
	return tx.Commit()
}
