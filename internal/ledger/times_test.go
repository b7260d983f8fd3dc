package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// boundedContext has verification bound decision instants in this test
// binary, which turns the bounds off for the tests that decide at t0.
func boundedContext() context.Context {
	return context.WithValue(context.Background(), boundedKey{}, true)
}

// setWall replaces the clock st's store records by.
func setWall(t *testing.T, l *Ledger, wall func() time.Time) {
	t.Helper()
	clock, ok := l.s.(interface{ setWallClock(func() time.Time) })
	if !ok {
		t.Fatalf("%T has no wall clock to set", l.s)
	}
	clock.setWallClock(wall)
}

func TestParseUTC(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"2026-03-01T09:00:00Z", "2026-03-01T09:00:00.5Z", "2026-03-01T09:00:00.123456789Z", "1969-12-31T23:59:59Z",
		"2024-02-29T23:59:59.000001Z", "2026-12-31T00:00:00Z", "2026-11-30T23:00:00Z", "2000-02-29T00:00:00Z", "2026-03-01T10:00:00+01:00", "0001-01-01T00:00:00Z",
	} {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseUTC([]byte(s))
		if !ok || got != want.UnixNano() {
			t.Errorf("parseUTC(%q) = %d, %v; want %d", s, got, ok, want.UnixNano())
		}
	}
	for _, s := range []string{"", "2026-03-01", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-03-01T09:00:00.Z", "x026-03-01T09:00:00Z"} {
		if _, ok := parseUTC([]byte(s)); ok {
			t.Errorf("parseUTC(%q) accepted it", s)
		}
	}
}

// TestStoresRecordingTimesNeverGoBackwards: an append whose host's clock is
// behind the event before records that event's time instead, so that the
// chain's recording times never go backwards.
func TestStoresRecordingTimesNeverGoBackwards(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		if st.name == "postgres" {
			t.Skip("the database's clock records PostgreSQL's events (TestPostgresStampsRecordingTimes)")
		}
		ctx, l := context.Background(), st.l
		now := time.Now().UTC().Truncate(time.Second)
		setWall(t, l, func() time.Time { return now })
		if _, err := l.IssueGrant(ctx, testGrant("grt_1"), now); err != nil {
			t.Fatal(err)
		}
		// Another runner, its clock a minute behind.
		setWall(t, l, func() time.Time { return now.Add(-time.Minute) })
		g, _, err := l.RevokeGrant(ctx, "grt_1", now.Add(-time.Minute), ReasonOutOfBand, "incident", nil)
		if err != nil {
			t.Fatal(err)
		}
		var rec []time.Time
		if err := l.s.Events(ctx, func(e Event) error { rec = append(rec, e.RecordedAt); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(rec) != 2 || !rec[1].Equal(now) {
			t.Fatalf("recording times %v, want the second at %s, the first's", rec, now)
		}
		if r, err := l.VerifySince(boundedContext(), Head{Seq: 1, Hash: mustHash(t, l, 1)}); err != nil || !r.OK {
			t.Fatalf("VerifySince = %+v, %v (grant %+v)", r, err, g)
		}
		if r, err := verifyBounded(t, l); err != nil || !r.OK {
			t.Fatalf("Verify = %+v, %v", r, err)
		}
	})
}

// verifyBounded verifies the whole ledger with decision instants bounded.
func verifyBounded(t *testing.T, l *Ledger) (Report, error) {
	t.Helper()
	jv, ok := l.s.(judgedVerifier)
	if !ok {
		t.Fatalf("%T cannot verify", l.s)
	}
	return jv.verify(boundedContext(), nil, nil)
}

func mustHash(t *testing.T, l *Ledger, seq int64) string {
	t.Helper()
	h, err := l.EventHash(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestVerifyHoldsEventTimes: verification, whole and from a trusted event,
// reports recording times that go backwards, an event without one after
// events with one, and decision instants too far from their recording time.
func TestVerifyHoldsEventTimes(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	for _, tc := range []struct {
		name string
		// second is the recording time and decision instant of the second event.
		recorded, decided time.Time
		problem           string
	}{
		{"in order", now.Add(time.Minute), now.Add(-time.Hour), ""},
		{"skew allowed", now, now.Add(MaxClockSkew - time.Second), ""},
		{"recorded backwards", now.Add(-time.Second), now.Add(-time.Hour), "recording times never go backwards"},
		{"decided after it was recorded", now, now.Add(MaxClockSkew + time.Second), "after it was recorded"},
		{"backdated decision", now, now.Add(-MaxRunLength - time.Second), "its decision instant was backdated"},
		{"no recording time after one", time.Time{}, now, "records no recording time, and event 1 before it does"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, err := Open(context.Background(), t.TempDir()+"/ledger.db")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			setWall(t, l, func() time.Time { return now })
			if _, err := l.IssueGrant(context.Background(), testGrant("grt_1"), now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			// The owner appends the second event with times of their choosing.
			s, ok := l.s.(*SQLiteStore)
			if !ok {
				t.Fatalf("%T is not the SQLite store", l.s)
			}
			s.wall = nil
			g, err := l.Grant(context.Background(), "grt_1")
			if err != nil {
				t.Fatal(err)
			}
			g.Status, g.RevokedAt, g.RevocationReason = StatusRevoked, tc.decided, ReasonOutOfBand
			data, _ := json.Marshal(g)
			head, _ := l.Head(context.Background())
			ev := Event{Seq: 2, At: tc.decided, Type: EventGrantRevoked, Subject: "grt_1", Data: data, PrevHash: head.Hash, RecordedAt: tc.recorded}
			ev.Hash = HashEvent(ev.PrevHash, ev)
			if _, err := s.db.Exec(insertEventStatement(sqliteDialect), eventArgs(ev)...); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(`UPDATE grants SET seq = 2, status = ? WHERE id = 'grt_1'`, StatusRevoked); err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(`UPDATE ledger_head SET seq = 2, hash = ? WHERE id = 1`, ev.Hash); err != nil {
				t.Fatal(err)
			}
			whole, err := s.verify(boundedContext(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			since, err := s.verify(boundedContext(), nil, &Head{Seq: 1, Hash: head.Hash})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []Report{whole, since} {
				if tc.problem == "" {
					if !r.OK {
						t.Errorf("report %+v, want OK", r)
					}
					continue
				}
				if r.OK || r.FirstBad != 2 || !strings.Contains(r.Problem, tc.problem) {
					t.Errorf("report %+v, want event 2: %s", r, tc.problem)
				}
			}
		})
	}
}

// TestPostgresStampsRecordingTimes: the attack of a backdated revocation by
// the pipeline's least-privileged role, which may INSERT events. The
// database refuses a recording time that is not its clock's, or that goes
// before the event before; it cannot refuse a backdated decision instant,
// which verification reports, and which evidence does not use there.
func TestPostgresStampsRecordingTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, ownerURL := newPostgresDatabase(t)
	owner, err := Open(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	now := time.Now().UTC()
	g := testGrant("grt_1")
	g.ExpiresAt = now.Add(-time.Hour).Format(time.RFC3339) // expired an hour ago, still active
	if _, err := owner.IssueGrant(ctx, g, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	var events []Event
	if err := owner.s.Events(ctx, func(e Event) error { events = append(events, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if d := events[0].RecordedAt.Sub(now); d < -time.Second || d > 5*time.Second {
		t.Fatalf("event 1 recorded at %s, want the database's clock, about %s", events[0].RecordedAt, now)
	}

	conn, err := pgx.Connect(ctx, srv.URLAs(roleOf(t, srv, db), db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	revoked, err := owner.Grant(ctx, "grt_1")
	if err != nil {
		t.Fatal(err)
	}
	before := now.Add(-90 * time.Minute) // before the expiry
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason = StatusRevoked, before, ReasonOutOfBand
	data, _ := json.Marshal(revoked)
	forge := func(at, recorded time.Time) Event {
		ev := Event{Seq: 2, At: at, Type: EventGrantRevoked, Subject: "grt_1", Data: data, PrevHash: events[0].Hash, RecordedAt: recorded}
		ev.Hash = HashEvent(ev.PrevHash, ev)
		return ev
	}
	for _, tc := range []struct {
		name     string
		recorded time.Time
		refusal  string
	}{
		{"dated before the expiry", before, "from the database's clock"},
		{"dated in the future", now.Add(time.Hour), "from the database's clock"},
		{"dated before the event before", events[0].RecordedAt.Add(-time.Millisecond), "recording times never go backwards"},
		{"no recording time", time.Time{}, "the database's clock stamps every event"},
	} {
		_, err := conn.Exec(ctx, insertEventStatement(pgDialect), eventArgs(forge(before, tc.recorded))...)
		if err == nil || !strings.Contains(err.Error(), tc.refusal) {
			t.Errorf("%s: insert as the pipeline's role: %v, want refused: %s", tc.name, err, tc.refusal)
		}
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE events DISABLE TRIGGER events_recorded_now`); err == nil ||
		!strings.Contains(err.Error(), "must be owner") {
		t.Errorf("disabling the trigger as the pipeline's role: %v, want refused", err)
	}

	// Recorded by the database's clock and decided two days before: the
	// database takes it, verification reports it.
	var dbNow time.Time
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&dbNow); err != nil {
		t.Fatal(err)
	}
	ev := forge(dbNow.Add(-48*time.Hour), dbNow.UTC())
	batch := &pgx.Batch{}
	batch.Queue(insertEventStatement(pgDialect), eventArgs(ev)...)
	batch.Queue(`UPDATE grants SET seq = 2, status = $1 WHERE id = 'grt_1'`, StatusRevoked)
	batch.Queue(`UPDATE ledger_head SET seq = 2, hash = $1 WHERE id = 1`, ev.Hash)
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatalf("appending with the database's time as the pipeline's role: %v", err)
	}
	r, err := verifyBounded(t, owner)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.FirstBad != 2 || !strings.Contains(r.Problem, "its decision instant was backdated") {
		t.Fatalf("Verify = %+v, want event 2 reported backdated", r)
	}
	if !owner.StampsTime() {
		t.Error("StampsTime() = false for a PostgreSQL ledger")
	}
}

// roleOf creates another least-privileged role in db, as leastPrivileged
// does, and returns its name, for a connection of its own.
func roleOf(t *testing.T, srv *pgtest.Server, db string) string {
	t.Helper()
	name := fmt.Sprintf("insert_only_%d", privilegeRoles.Add(1))
	if err := srv.Exec(context.Background(), db,
		"CREATE ROLE "+name+" LOGIN",
		"GRANT CONNECT ON DATABASE "+pgx.Identifier{db}.Sanitize()+" TO "+name,
		"GRANT USAGE ON SCHEMA public TO "+name,
		"GRANT SELECT, INSERT ON events TO "+name,
		"GRANT SELECT, UPDATE ON ledger_head TO "+name,
		"GRANT SELECT, INSERT, UPDATE ON grants, approvals TO "+name,
	); err != nil {
		t.Fatal(err)
	}
	return name
}

// BenchmarkTimeline compares the walk's cost per event with and without the
// checks of the events' times, on the same stamped events: the chain's hash
// alone ("chain"), the hash and the times ("chain+times"), and the times
// alone ("times").
func BenchmarkTimeline(b *testing.B) {
	const n = 4096
	base := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	type raw struct{ at, rec, typ, subject, data, prev, hash []byte }
	events := make([]raw, n)
	prev := ""
	for i := range events {
		rec := base.Add(time.Duration(i) * 1234567 * time.Microsecond)
		ev := Event{Seq: int64(i + 1), At: rec.Add(-time.Minute), Type: EventGrantIssued, Subject: "grt_1",
			Data: []byte(`{"id":"grt_1","status":"active"}`), PrevHash: prev, RecordedAt: rec, Actor: "ci"}
		ev.Hash = HashEvent(prev, ev)
		events[i] = raw{[]byte(formatAt(ev.At)), []byte(formatAt(rec)), []byte(ev.Type), []byte(ev.Subject), ev.Data, []byte(prev), []byte(ev.Hash)}
		prev = ev.Hash
	}
	for _, mode := range []struct {
		name         string
		chain, times bool
	}{{"chain", true, false}, {"chain+times", true, true}, {"times", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				c := NewChainVerifier()
				tl := timeline{bounded: true}
				for i, e := range events {
					if mode.chain && !c.addRaw(int64(i+1), e.at, e.typ, e.subject, e.data, e.prev, e.hash, originFields{e.rec, []byte("ci"), nil}) {
						b.Fatal(c.Result())
					}
					if mode.times {
						tl.event(int64(i+1), e.at, e.rec)
					}
				}
				if tl.firstBad != 0 {
					b.Fatal(tl.problem)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
