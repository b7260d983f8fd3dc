// Command history writes a SQLite ledger with a long history for
// scripts/bench-history.sh: N events, half of them issuing a grant and half
// revoking it, chained and hashed as governed writes them, with the
// current-state rows and head to match. It writes in one transaction without
// waiting for the disk, which governed itself never does: this is a fixture,
// not a ledger to use.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	_ "modernc.org/sqlite"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

func main() {
	path := flag.String("ledger", "", "the SQLite ledger file to create")
	n := flag.Int64("n", 1_000_000, "how many events to write")
	flag.Parse()
	if err := write(*path, *n); err != nil {
		fmt.Fprintln(os.Stderr, "history:", err)
		os.Exit(1)
	}
}

func write(path string, n int64) error {
	ctx := context.Background()
	l, err := ledger.Open(ctx, path) // the schema, as governed makes it
	if err != nil {
		return err
	}
	l.Close()
	db, err := sql.Open("sqlite", path+"?_pragma=synchronous(off)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	insertEvent, err := tx.PrepareContext(ctx, `INSERT INTO events (seq, at, type, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	upsertGrant, err := tx.PrepareContext(ctx, `INSERT INTO grants (id, seq, data) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, data = excluded.data`)
	if err != nil {
		return err
	}
	t0 := time.Now().UTC().Add(-time.Duration(n) * time.Minute).Truncate(time.Second)
	prev := ""
	for seq := int64(1); seq <= n; seq++ {
		i := (seq - 1) / 2
		at := t0.Add(time.Duration(seq) * time.Minute)
		g := ledger.Grant{ID: fmt.Sprintf("grt_%020d", i), Principal: fmt.Sprintf("svc-history-%d", i%1000),
			Entitlement: "history-read", TicketID: fmt.Sprintf("SEC-%d", i), Approvers: []string{"alice@example.com"},
			Requester: "dev@example.com", Target: "ledger", ExpiresAt: at.Add(8 * time.Hour).Format(time.RFC3339),
			Status: ledger.StatusActive, GrantedAt: at}
		typ := ledger.EventGrantIssued
		if seq%2 == 0 {
			g.GrantedAt = at.Add(-time.Minute)
			g.ExpiresAt = g.GrantedAt.Add(8 * time.Hour).Format(time.RFC3339)
			g.Status, g.RevokedAt, g.RevocationReason, typ = ledger.StatusRevoked, at, ledger.ReasonOutOfBand, ledger.EventGrantRevoked
		}
		data, err := json.Marshal(g)
		if err != nil {
			return err
		}
		e := ledger.Event{Seq: seq, At: at, Type: typ, Subject: g.ID, Data: data, PrevHash: prev}
		e.Hash = ledger.HashEvent(prev, e)
		if _, err := insertEvent.ExecContext(ctx, seq, at.Format(time.RFC3339Nano), typ, g.ID, string(data), prev, e.Hash); err != nil {
			return err
		}
		if _, err := upsertGrant.ExecContext(ctx, g.ID, seq, string(data)); err != nil {
			return err
		}
		prev = e.Hash
	}
	if _, err := tx.ExecContext(ctx, `UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, n, prev); err != nil {
		return err
	}
	return tx.Commit()
}
