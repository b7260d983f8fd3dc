package ledger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHashEventEncoding(t *testing.T) {
	t.Parallel()
	e := Event{Seq: 42, At: time.Date(2026, 3, 1, 10, 0, 0, 120000000, time.FixedZone("CET", 3600)),
		Type: EventGrantIssued, Subject: "grt_1", Data: []byte(`{"id":"grt_1"}`)}
	prev := strings.Repeat("ab", 32)

	// The documented encoding, written out independently.
	var buf []byte
	for _, f := range []string{"governed.ledger.v1", prev, "42", "2026-03-01T09:00:00.12Z", "grant.issued", "grt_1", `{"id":"grt_1"}`} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	sum := sha256.Sum256(buf)
	if got, want := HashEvent(prev, e), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("HashEvent = %s, want %s", got, want)
	}
	// Pinned, so that a change to the encoding cannot pass unnoticed: it would
	// break every existing ledger.
	if got := HashEvent(prev, e); got != "8de2c09b435516f48424719224520f90c6300ce103d41a74b0e878602fd5a9da" {
		t.Errorf("the pinned hash changed to %s", got)
	}

	// The same instant in another zone hashes the same; PrevHash and Hash of the
	// event itself are ignored.
	same := e
	same.At = e.At.UTC()
	same.PrevHash, same.Hash = "x", "y"
	if HashEvent(prev, same) != HashEvent(prev, e) {
		t.Error("the hash depends on the time zone or on the event's own hash fields")
	}
	// Moving bytes between adjacent fields changes the hash.
	a, b := e, e
	a.Type, a.Subject = "grant.issuedgrt", "_1"
	b.Type, b.Subject = "grant.issued", "grt_1"
	if HashEvent(prev, a) == HashEvent(prev, b) {
		t.Error("field boundaries are ambiguous")
	}
	for name, change := range map[string]func(*Event){
		"seq":     func(e *Event) { e.Seq++ },
		"at":      func(e *Event) { e.At = e.At.Add(time.Nanosecond) },
		"type":    func(e *Event) { e.Type = EventGrantRevoked },
		"subject": func(e *Event) { e.Subject = "grt_2" },
		"data":    func(e *Event) { e.Data = []byte(`{"id":"grt_2"}`) },
	} {
		c := e
		change(&c)
		if HashEvent(prev, c) == HashEvent(prev, e) {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	if HashEvent(prev, e) == HashEvent("", e) {
		t.Error("the previous hash is not part of the hash")
	}
}

// chain builds n valid events in memory.
func chain(n int) []Event {
	events := make([]Event, n)
	prev := ""
	for i := range events {
		e := Event{Seq: int64(i + 1), At: t0.Add(time.Duration(i) * time.Second), Type: EventGrantIssued,
			Subject: fmt.Sprintf("grt_%d", i), Data: []byte(fmt.Sprintf(`{"id":"grt_%d"}`, i)), PrevHash: prev}
		e.Hash = HashEvent(prev, e)
		events[i], prev = e, e.Hash
	}
	return events
}

func TestVerifyChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		tamper   func([]Event) []Event
		firstBad int64
		problem  string
	}{
		{"intact", func(e []Event) []Event { return e }, 0, ""},
		{"empty", func(e []Event) []Event { return nil }, 0, ""},
		{"data changed", func(e []Event) []Event { e[3].Data = []byte(`{}`); return e }, 4, "event 4 was altered"},
		{"hash recomputed after a change", func(e []Event) []Event {
			e[3].Data = []byte(`{}`)
			e[3].Hash = HashEvent(e[3].PrevHash, e[3])
			return e
		}, 5, "event 5 does not link"},
		{"deleted", func(e []Event) []Event { return append(e[:5:5], e[6:]...) }, 6, "event 6 is missing"},
		{"two deleted", func(e []Event) []Event { return append(e[:5:5], e[7:]...) }, 6, "events 6 to 7 are missing"},
		{"reordered", func(e []Event) []Event { e[2], e[3] = e[3], e[2]; return e }, 3, "event 3 is missing"},
		{"duplicated", func(e []Event) []Event { return append(e[:4:4], e[3:]...) }, 5, "event 4 is out of order"},
		{"renumbered after a deletion", func(e []Event) []Event {
			e = append(e[:5:5], e[6:]...)
			for i := 5; i < len(e); i++ {
				e[i].Seq--
			}
			return e
		}, 6, "event 6 does not link"},
		{"first event does not start the chain", func(e []Event) []Event { e[0].PrevHash = e[1].Hash; return e }, 1, "event 1 does not link"},
		{"starts at 2", func(e []Event) []Event { return e[1:] }, 1, "event 1 is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, firstBad, problem := verifyChain(tt.tamper(chain(10)))
			if ok != (tt.firstBad == 0) || firstBad != tt.firstBad || !strings.Contains(problem, tt.problem) {
				t.Fatalf("verifyChain = %v, %d, %q; want first bad %d, %q", ok, firstBad, problem, tt.firstBad, tt.problem)
			}
		})
	}
}

// buildTamperFixture writes ten events:
//
//	1 grt_1 issued   2 grt_2 issued   3 apr_1 recorded   4 grt_3 issued    5 grt_1 revoked
//	6 grt_4 issued   7 apr_1 withdrawn 8 grt_2 expired   9 grt_5 issued   10 grt_3 retired
func buildTamperFixture(t testing.TB) (*Ledger, string) {
	t.Helper()
	ctx := context.Background()
	l, path := openTestLedger(t)
	steps := []func() error{
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); return err },
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_2"), t0); return err },
		func() error { _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); return err },
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_3"), t0); return err },
		func() error {
			_, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil)
			return err
		},
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_4"), t0.Add(time.Hour)); return err },
		func() error { _, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(2*time.Hour)); return err },
		func() error { _, err := l.ExpireGrant(ctx, "grt_2", t0.Add(8*24*time.Hour), nil); return err },
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_5"), t0.Add(8*24*time.Hour)); return err },
		func() error { _, err := l.RetireGrant(ctx, "grt_3", t0.Add(9*24*time.Hour), nil); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("fixture step %d: %v", i+1, err)
		}
	}
	return l, path
}

const dropTriggers = `DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete;`

// forgeEvent11 appends a correctly hashed event behind the store's back.
func forgeEvent11(db *sql.DB) error {
	var prev string
	if err := db.QueryRow(`SELECT hash FROM events WHERE seq = 10`).Scan(&prev); err != nil {
		return err
	}
	e := Event{Seq: 11, At: t0, Type: EventGrantIssued, Subject: "grt_forged", Data: []byte(`{"id":"grt_forged"}`)}
	_, err := db.Exec(`INSERT INTO events VALUES (11, ?, ?, ?, ?, ?, ?)`, formatAt(e.At), e.Type, e.Subject, string(e.Data), prev, HashEvent(prev, e))
	return err
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sql      string
		exec     func(*sql.DB) error
		firstBad int64
		problem  []string // substrings of the problem
		generic  bool     // also found through the Store interface alone
	}{
		{name: "intact"},
		{
			name:     "one event's data changed",
			sql:      dropTriggers + `UPDATE events SET data = replace(data, 'svc-payments-api', 'svc-attacker') WHERE seq = 4`,
			firstBad: 4, problem: []string{"event 4 was altered"}, generic: true,
		},
		{
			name:     "one event's time changed",
			sql:      dropTriggers + `UPDATE events SET at = '2026-03-01T08:59:59Z' WHERE seq = 7`,
			firstBad: 7, problem: []string{"event 7 was altered"}, generic: true,
		},
		{
			name:     "field boundary moved",
			sql:      dropTriggers + `UPDATE events SET type = type || char(31) || subject, subject = '' WHERE seq = 3`,
			firstBad: 3, problem: []string{"event 3 was altered"}, generic: true,
		},
		{
			name:     "one event deleted",
			sql:      dropTriggers + `DELETE FROM events WHERE seq = 6`,
			firstBad: 6, problem: []string{"event 6 is missing"}, generic: true,
		},
		{
			name: "two events swapped",
			sql: dropTriggers + `CREATE TEMP TABLE saved AS SELECT * FROM events WHERE seq IN (3, 5);
UPDATE events SET (at, type, subject, data, prev_hash, hash) =
	(SELECT at, type, subject, data, prev_hash, hash FROM saved WHERE saved.seq = 8 - events.seq)
WHERE seq IN (3, 5);`,
			firstBad: 3, problem: []string{"event 3 does not link"}, generic: true,
		},
		{
			name:     "tail cut",
			sql:      dropTriggers + `DELETE FROM events WHERE seq > 8`,
			firstBad: 9, problem: []string{"the log ends at event 8 but the recorded head is event 10"}, generic: true,
		},
		{
			name:     "tail cut and head rewound",
			sql:      dropTriggers + `DELETE FROM events WHERE seq > 8; UPDATE ledger_head SET seq = 8, hash = (SELECT hash FROM events WHERE seq = 8)`,
			firstBad: 9, problem: []string{"beyond the end of the log"}, generic: true,
		},
		{
			name:     "event forged after the head",
			exec:     forgeEvent11,
			firstBad: 11, problem: []string{"added outside governed"}, generic: true,
		},
		{
			name:     "head hash changed",
			sql:      `UPDATE ledger_head SET hash = 'feed'`,
			firstBad: 10, problem: []string{"recorded head hash"}, generic: true,
		},
		{
			name:     "grant row payload edited",
			sql:      `UPDATE grants SET data = replace(data, 'SEC-101', 'SEC-999') WHERE id = 'grt_4'`,
			firstBad: 6, problem: []string{`grant "grt_4"`, "(6)"}, generic: true,
		},
		{
			name:     "grant row put back to an earlier event",
			sql:      `UPDATE grants SET seq = 1, data = (SELECT data FROM events WHERE seq = 1) WHERE id = 'grt_1'`,
			firstBad: 5, problem: []string{`grant "grt_1"`, "says event 1 but its last event is 5"}, generic: true,
		},
		{
			name: "grants table redefined without generated columns",
			sql: `CREATE TABLE saved AS SELECT id, seq, data, principal, entitlement, status, expires_unix FROM grants;
DROP TABLE grants;
CREATE TABLE grants (id TEXT PRIMARY KEY, seq INTEGER, data TEXT, principal TEXT, entitlement TEXT, status TEXT, expires_unix INTEGER);
INSERT INTO grants SELECT * FROM saved;
DROP TABLE saved;
UPDATE grants SET status = 'active' WHERE id = 'grt_1';`,
			firstBad: 0, problem: []string{"the definition of the grants table was altered"},
		},
		{
			name: "filter column cannot be edited",
			exec: func(db *sql.DB) error {
				return expectError(db, `UPDATE grants SET status = 'active' WHERE id = 'grt_1'`, "cannot UPDATE generated column")
			},
			firstBad: 0,
		},
		{
			name:     "grant row deleted",
			sql:      `DELETE FROM grants WHERE id = 'grt_5'`,
			firstBad: 9, problem: []string{`grant "grt_5" has events`, "no current-state row"}, generic: true,
		},
		{
			name:     "grant row invented",
			sql:      `INSERT INTO grants (id, seq, data) SELECT 'grt_ghost', seq, data FROM grants WHERE id = 'grt_5'`,
			firstBad: 9, problem: []string{"current-state row"}, generic: true,
		},
		{
			name:     "approval row edited",
			sql:      `UPDATE approvals SET data = replace(data, '"withdrawn"', '"active"') WHERE id = 'apr_1'`,
			firstBad: 7, problem: []string{`approval "apr_1"`}, generic: true,
		},
		{
			name:     "triggers dropped",
			sql:      dropTriggers,
			firstBad: 0, problem: []string{"append-only triggers are missing"},
		},
		{
			name: "trigger replaced by a harmless one",
			sql: `DROP TRIGGER events_no_delete;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT 1; END;`,
			firstBad: 0, problem: []string{"append-only triggers were altered"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, path := buildTamperFixture(t)
			db := rawDB(t, path)
			if tt.sql != "" {
				if _, err := db.Exec(tt.sql); err != nil {
					t.Fatalf("tampering: %v", err)
				}
			}
			if tt.exec != nil {
				if err := tt.exec(db); err != nil {
					t.Fatalf("tampering: %v", err)
				}
			}
			check := func(how string, r Report) {
				t.Helper()
				wantOK := tt.firstBad == 0 && len(tt.problem) == 0
				if r.OK != wantOK || r.FirstBad != tt.firstBad {
					t.Fatalf("%s: report = %+v, want OK %v, first bad %d", how, r, wantOK, tt.firstBad)
				}
				for _, p := range tt.problem {
					if !strings.Contains(r.Problem, p) {
						t.Fatalf("%s: problem %q does not mention %q", how, r.Problem, p)
					}
				}
			}
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			check("SQLite", r)
			if wantOK := tt.firstBad == 0 && len(tt.problem) == 0; wantOK {
				if r.Events != 10 || r.Head.Seq != 10 || len(r.Head.Hash) != 64 {
					t.Fatalf("intact report = %+v", r)
				}
				h, _ := l.Head(ctx)
				if h != r.Head {
					t.Fatalf("report head %+v, store head %+v", r.Head, h)
				}
			}
		})
	}
}

// expectError runs stmt and checks that SQLite refuses it with msg.
func expectError(db *sql.DB, stmt, msg string) error {
	_, err := db.Exec(stmt)
	if err == nil || !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%s: err = %v, want %q", stmt, err, msg)
	}
	return nil
}

func TestVerifyWhileAppending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d", i)), t0); err != nil {
				t.Errorf("append: %v", err)
			}
		})
	}
	for range 5 {
		wg.Go(func() {
			r, err := l.Verify(ctx)
			if err != nil || !r.OK || r.Events != r.Head.Seq {
				t.Errorf("Verify during appends = %+v, %v", r, err)
			}
		})
	}
	wg.Wait()
	if r := mustVerify(t, l); r.Events != 20 {
		t.Fatalf("%d events, want 20", r.Events)
	}
}

func TestReplayMatchesCurrentState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := buildTamperFixture(t)
	// Rebuild the current state from the log alone and compare it with the tables.
	grants := map[string]Event{}
	approvals := map[string]Event{}
	var prev string
	l.Store().Events(ctx, func(e Event) error {
		if e.PrevHash != prev || e.Hash != HashEvent(prev, e) {
			t.Errorf("event %d does not chain", e.Seq)
		}
		prev = e.Hash
		if strings.HasPrefix(e.Type, "grant.") {
			grants[e.Subject] = e
		} else {
			approvals[e.Subject] = e
		}
		return nil
	})
	all, _ := l.Grants(ctx, GrantFilter{})
	if len(all) != len(grants) {
		t.Fatalf("%d grants in the table, %d in the log", len(all), len(grants))
	}
	for _, g := range all {
		e := grants[g.ID]
		if g.Seq != e.Seq {
			t.Errorf("grant %s at seq %d, last event %d", g.ID, g.Seq, e.Seq)
		}
		var fromLog Grant
		if err := json.Unmarshal(e.Data, &fromLog); err != nil {
			t.Fatal(err)
		}
		fromLog.Seq = e.Seq
		if fmt.Sprintf("%+v", fromLog) != fmt.Sprintf("%+v", g) {
			t.Errorf("grant %s:\nlog   %+v\ntable %+v", g.ID, fromLog, g)
		}
	}
	a, _ := l.Approval(ctx, "apr_1")
	if a.Seq != approvals["apr_1"].Seq || a.Status != ApprovalWithdrawn {
		t.Errorf("approval = %+v", a)
	}
}
