package checkpoint

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// The cosignatures follow cosignature/v1 as transparency-dev/formats, the
// C2SP format's reference implementation in Go, makes and checks them: each
// verifies the other's, and both read the same time.
func TestCosignatureV1AgreesWithTheReferenceImplementation(t *testing.T) {
	t.Parallel()
	logSigner, logKey := keyPair(t, "checkpoints.example.com")
	wSigner, wVerifierKey, err := GenerateKey("witness.example.org")
	if err != nil {
		t.Fatal(err)
	}
	c := Checkpoint{LedgerID: strings.Repeat("a", 32), Size: 3, Hash: strings.Repeat("d", 64)}
	msg, err := Sign(c, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ours, _, err := CosignAt(msg, logKey, wSigner, at.Add(999*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}

	// Ours, read by the reference verifier.
	ref, err := fnote.NewVerifierForCosignatureV1(wVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(ours, note.VerifierList(ref))
	if err != nil {
		t.Fatalf("the reference verifier does not verify our cosignature: %v", err)
	}
	if len(n.Sigs) != 1 {
		t.Fatalf("verified %d signatures, want 1", len(n.Sigs))
	}
	if got, err := fnote.CoSigV1Timestamp(n.Sigs[0]); err != nil || !got.Equal(at) {
		t.Fatalf("the reference reads the time %s, %v; want %s (whole seconds)", got, err, at)
	}
	// The line's layout: key hash, eight bytes of time, 64 of signature.
	raw, err := base64.StdEncoding.DecodeString(n.Sigs[0].Base64)
	if err != nil || len(raw) != 4+8+64 || binary.BigEndian.Uint64(raw[4:12]) != uint64(at.Unix()) {
		t.Fatalf("signature line %q: %d bytes, %v", n.Sigs[0].Base64, len(raw), err)
	}

	// The reference signer's, read by ours.
	refSigner, err := fnote.NewSignerForCosignatureV1(wSigner)
	if err != nil {
		t.Fatal(err)
	}
	logNote, err := note.Open(msg, note.VerifierList(logKey))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := note.Sign(logNote, refSigner)
	if err != nil {
		t.Fatal(err)
	}
	w, err := ParseVerifierKey(wVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	r := Witnesses{Keys: []note.Verifier{w}, Threshold: 1}.Cosigners(theirs)
	if len(r.Cosigned) != 1 || r.Times["witness.example.org"].IsZero() {
		t.Fatalf("Cosigners of the reference's cosignature = %+v", r)
	}
	if d := time.Since(r.Times["witness.example.org"]); d < 0 || d > time.Minute {
		t.Fatalf("the reference signer's time read as %s", r.Times["witness.example.org"])
	}

	// An altered time no longer verifies.
	binary.BigEndian.PutUint64(raw[4:12], uint64(at.Unix()-3600))
	forged := strings.Replace(string(ours), n.Sigs[0].Base64, base64.StdEncoding.EncodeToString(raw), 1)
	if r := (Witnesses{Keys: []note.Verifier{w}, Threshold: 1}).Cosigners([]byte(forged)); len(r.Invalid) != 1 {
		t.Fatalf("a cosignature with its time moved back: %+v, want it invalid", r)
	}
}

// Cosignatures made before they were timestamped, plain signed-note lines,
// still count; they anchor no time.
func TestPlainCosignaturesStillCount(t *testing.T) {
	t.Parallel()
	logSigner, logKey := keyPair(t, "checkpoints.example.com")
	wSigner, w := keyPair(t, "witness.example.org")
	c := Checkpoint{LedgerID: strings.Repeat("a", 32), Size: 3, Hash: strings.Repeat("d", 64)}
	msg, err := Sign(c, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(logKey))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := note.NewSigner(wSigner)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, plain)
	if err != nil {
		t.Fatal(err)
	}
	r := Witnesses{Keys: []note.Verifier{w}, Threshold: 1}.Cosigners(cosigned)
	if len(r.Cosigned) != 1 || len(r.Times) != 0 || len(r.Anchors(c)) != 0 {
		t.Fatalf("Cosigners = %+v, want one cosignature without a time", r)
	}
	if _, err := Open(cosigned, w); err != nil {
		t.Fatalf("the witness's own plain cosignature does not open: %v", err)
	}
}

// The attack left open by a hash chain on SQLite: the ledger's owner
// appends, after the witness cosigned, a correctly chained revocation dated
// before the grant's expiry (its decision instant and its recording time
// both). Nothing in the chain, the lives of the grants or the order of the
// recording times gives it away; the witness's timestamp does.
func TestTimestampedCosignatureCatchesBackdatedRevocation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Second)
	issued := now.Add(-3 * time.Hour)
	expiry := now.Add(-time.Hour)
	g := ledger.Grant{ID: "grt_1", Principal: "svc-payments", Entitlement: "payments-db-read", TicketID: "SEC-1",
		Approvers: []string{"alice@example.com"}, Requester: "dev@example.com", Target: "ledger", Role: "payments_read",
		ExpiresAt: expiry.Format(time.RFC3339), GrantedAt: issued, Status: ledger.StatusActive}
	// As the owner, who may write anything into the file: events recorded
	// at the times of their choosing, chained and hashed as appends do.
	appendRaw := func(typ string, at time.Time, g ledger.Grant) {
		t.Helper()
		data, _ := json.Marshal(g)
		var seq int64
		var prev string
		if err := db.QueryRow(`SELECT seq, hash FROM ledger_head WHERE id = 1`).Scan(&seq, &prev); err != nil {
			t.Fatal(err)
		}
		ev := ledger.Event{Seq: seq + 1, At: at, Type: typ, Subject: g.ID, Data: data, PrevHash: prev, RecordedAt: at, Actor: "owner"}
		ev.Hash = ledger.HashEvent(prev, ev)
		for _, stmt := range []struct {
			q    string
			args []any
		}{
			{`INSERT INTO events (seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '')`,
				[]any{ev.Seq, at.Format(time.RFC3339Nano), typ, g.ID, string(data), prev, ev.Hash, at.Format(time.RFC3339Nano), ev.Actor}},
			{`INSERT INTO grants (id, seq, principal, entitlement, status, expires_unix, revoke_pending, approval_id)
VALUES (?, ?, ?, ?, ?, ?, 0, '') ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, status = excluded.status`,
				[]any{g.ID, ev.Seq, g.Principal, g.Entitlement, g.Status, expiry.Unix()}},
			{`UPDATE ledger_head SET seq = ?, hash = ? WHERE id = 1`, []any{ev.Seq, ev.Hash}},
		} {
			if _, err := db.Exec(stmt.q, stmt.args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendRaw(ledger.EventGrantIssued, issued, g)

	logSigner, logKey := keyPair(t, "checkpoints.example.com")
	wSigner, w := keyPair(t, "witness.example.org")
	cp, err := Of(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := Sign(cp, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	// The witness saw the ledger at size 1, after the grant's expiry.
	seen := now.Add(-30 * time.Minute)
	cosigned, _, err := CosignAt(msg, logKey, wSigner, seen)
	if err != nil {
		t.Fatal(err)
	}
	witnesses := Witnesses{Keys: []note.Verifier{w}, Threshold: 1}
	r := witnesses.Cosigners(cosigned)
	if got := r.Anchors(cp); len(got) != 1 || !got[0].Time.Equal(seen) || got[0].Size != 1 {
		t.Fatalf("Anchors = %+v, want size 1 at %s", got, seen)
	}
	if problem, err := CheckAnchors(ctx, l, cp, r); err != nil || problem != "" {
		t.Fatalf("CheckAnchors before the attack = %q, %v", problem, err)
	}

	revoked := g
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason = ledger.StatusRevoked, expiry.Add(-30*time.Minute), ledger.ReasonOutOfBand
	appendRaw(ledger.EventGrantRevoked, expiry.Add(-30*time.Minute), revoked)

	if rep, err := l.Verify(ctx); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v; want the forged revocation to pass every check but the anchor", rep, err)
	}
	if problem, err := Check(ctx, l, cp); err != nil || problem != "" {
		t.Fatalf("Check = %q, %v; the ledger still extends the checkpoint", problem, err)
	}
	problem, err := CheckAnchors(ctx, l, cp, r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(problem, "event 2 is recorded at") || !strings.Contains(problem, "appended later and backdated") {
		t.Fatalf("CheckAnchors = %q, want event 2 reported backdated", problem)
	}
}

// An event at or below the cosigned size recorded after the witness saw
// the ledger: its recording time was moved forward.
func TestTimeAnchorRefusesEventsRecordedAfterTheWitness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC()
	g := ledger.Grant{ID: "grt_1", Principal: "svc-payments", Entitlement: "payments-db-read", TicketID: "SEC-1",
		Approvers: []string{"alice@example.com"}, Target: "ledger", Role: "payments_read",
		ExpiresAt: now.Add(time.Hour).Format(time.RFC3339)}
	if _, err := l.IssueGrant(ctx, g, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seen    time.Time
		problem string
	}{
		{now, ""},
		{now.Add(-ledger.MaxClockSkew + time.Second), ""},
		{now.Add(-ledger.MaxClockSkew - time.Minute), "after witness w cosigned the ledger at size 1"},
	} {
		_, problem, err := l.CheckTimeAnchor(ctx, ledger.TimeAnchor{Size: 1, Time: tc.seen, Witness: "w"})
		if err != nil || !strings.Contains(problem, tc.problem) || (tc.problem == "") != (problem == "") {
			t.Errorf("anchor at %s: %q, %v; want %q", tc.seen, problem, err, tc.problem)
		}
	}
	// After the cosigned size: the event was appended after the witness saw
	// size 0, so it cannot be recorded before.
	if _, problem, err := l.CheckTimeAnchor(ctx, ledger.TimeAnchor{Size: 0, Time: now.Add(time.Hour), Witness: "w"}); err != nil ||
		!strings.Contains(problem, "appended later and backdated") {
		t.Errorf("anchor at size 0 an hour ahead: %q, %v", problem, err)
	}
}
