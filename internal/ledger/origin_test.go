package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOriginFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want Origin
	}{
		{"governed's own", map[string]string{EnvActor: " deploy-bot ", EnvRunID: "run-7", "GITHUB_ACTOR": "alice", "GITHUB_RUN_ID": "9"},
			Origin{Actor: "deploy-bot", RunID: "run-7"}},
		{"GitHub Actions", map[string]string{"GITHUB_ACTOR": "alice", "GITHUB_RUN_ID": "9876"},
			Origin{Actor: "alice", RunID: "GITHUB_RUN_ID=9876"}},
		{"GitLab CI", map[string]string{"GITLAB_USER_LOGIN": "bob", "CI_PIPELINE_ID": "55"},
			Origin{Actor: "bob", RunID: "CI_PIPELINE_ID=55"}},
		{"control characters dropped", map[string]string{EnvActor: "evil\x1fbot\n", EnvRunID: "r\x00un"},
			Origin{Actor: "evilbot", RunID: "run"}},
		{"cut to 256 bytes", map[string]string{EnvActor: strings.Repeat("é", 200), EnvRunID: "1"},
			Origin{Actor: strings.Repeat("é", 128), RunID: "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := OriginFromEnv(func(k string) string { return tc.env[k] })
			if got != tc.want {
				t.Fatalf("OriginFromEnv = %+v, want %+v", got, tc.want)
			}
		})
	}
	// Without any, the actor is the local user.
	if got := OriginFromEnv(func(string) string { return "" }); got.Actor != localActor() || got.RunID != "" {
		t.Fatalf("OriginFromEnv with nothing set = %+v, want the local user %q", got, localActor())
	}
}

// TestHashEventOrigin: an event that records its origin hashes three more
// fields after the documented ones; one that does not hashes as before.
func TestHashEventOrigin(t *testing.T) {
	t.Parallel()
	e := Event{Seq: 42, At: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), Type: EventGrantIssued, Subject: "grt_1",
		Data: []byte(`{"id":"grt_1"}`), RecordedAt: time.Date(2026, 3, 1, 9, 0, 1, 500000000, time.UTC),
		Actor: "deploy-bot", RunID: "GITHUB_RUN_ID=9"}
	prev := strings.Repeat("ab", 32)
	var buf []byte
	for _, f := range []string{"governed.ledger.v1", prev, "42", "2026-03-01T09:00:00Z", "grant.issued", "grt_1", `{"id":"grt_1"}`,
		"2026-03-01T09:00:01.5Z", "deploy-bot", "GITHUB_RUN_ID=9"} {
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(f)))
		buf = append(buf, f...)
	}
	sum := sha256.Sum256(buf)
	if got, want := HashEvent(prev, e), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("HashEvent = %s, want %s", got, want)
	}
	for _, change := range []func(*Event){
		func(e *Event) { e.Actor = "someone-else" },
		func(e *Event) { e.RunID = "" },
		func(e *Event) { e.RecordedAt = e.RecordedAt.Add(time.Second) },
		func(e *Event) { e.RecordedAt, e.Actor, e.RunID = time.Time{}, "", "" },
	} {
		changed := e
		change(&changed)
		if HashEvent(prev, changed) == HashEvent(prev, e) {
			t.Errorf("the hash does not cover the change to %+v", changed)
		}
	}
}

// TestStoresRecordOrigin: every event records when it was written and by
// whom, covered by its hash; events recorded before the ledger kept them
// still verify beside the new ones.
func TestStoresRecordOrigin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		clock, ok := l.s.(interface{ setWallClock(func() time.Time) })
		if !ok {
			t.Fatalf("%T has no wall clock to set", l.s)
		}
		// Events as a build before origins wrote them: no recording time, no
		// origin; then recorded by a fixed clock, which the PostgreSQL
		// store's trigger would hold to the database's.
		if st.name == "postgres" {
			if err := st.exec(`ALTER TABLE events DISABLE TRIGGER events_recorded_now`); err != nil {
				t.Fatal(err)
			}
		}
		clock.setWallClock(func() time.Time { return time.Time{} })
		l.SetOrigin(Origin{})
		if _, err := l.IssueGrant(ctx, testGrant("grt_old"), t0); err != nil {
			t.Fatal(err)
		}
		wall := time.Date(2026, 3, 1, 9, 0, 3, 250000000, time.UTC)
		clock.setWallClock(func() time.Time { return wall })
		l.SetOrigin(Origin{Actor: "deploy-bot", RunID: "GITHUB_RUN_ID=9"})
		if _, err := l.IssueGrant(ctx, testGrant("grt_new"), t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.RevokeGrant(ctx, "grt_old", t0, ReasonOutOfBand, "incident", nil); err != nil {
			t.Fatal(err)
		}
		if st.name == "postgres" {
			if err := st.exec(`ALTER TABLE events ENABLE TRIGGER events_recorded_now`); err != nil {
				t.Fatal(err)
			}
		}
		var events []Event
		if err := l.s.Events(ctx, func(e Event) error { events = append(events, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(events) != 3 || !events[0].RecordedAt.IsZero() || events[0].Actor != "" || events[0].RunID != "" {
			t.Fatalf("the first event = %+v, want no recording time or origin", events[0])
		}
		for _, e := range events[1:] {
			if !e.RecordedAt.Equal(wall) || e.Actor != "deploy-bot" || e.RunID != "GITHUB_RUN_ID=9" || !e.At.Equal(t0) {
				t.Fatalf("event %d = %+v, want recorded at %s by deploy-bot in GITHUB_RUN_ID=9", e.Seq, e, wall)
			}
			if e.Hash != HashEvent(e.PrevHash, e) {
				t.Fatalf("event %d: the stored hash is not HashEvent of the event read", e.Seq)
			}
		}
		mustVerify(t, l)

		for _, tamper := range []struct{ name, sql string }{
			{"actor changed", `UPDATE events SET actor = 'someone-else' WHERE seq = 2`},
			{"origin blanked", `UPDATE events SET recorded_at = '', actor = '', run_id = '' WHERE seq = 2`},
			{"origin added to an old event", `UPDATE events SET actor = 'deploy-bot' WHERE seq = 1`},
		} {
			stmts := append(append(append([]string{}, st.triggersOff...), tamper.sql), st.triggersOn...)
			if err := st.exec(stmts...); err != nil {
				t.Fatal(err)
			}
			r, err := l.Verify(ctx)
			if err != nil || r.OK || !strings.Contains(r.Problem, "was altered") {
				t.Errorf("%s: Verify = %+v, %v; want the event reported altered", tamper.name, r, err)
			}
			undo := `UPDATE events SET recorded_at = '` + formatAt(wall) + `', actor = 'deploy-bot', run_id = 'GITHUB_RUN_ID=9' WHERE seq = 2`
			if tamper.name == "origin added to an old event" {
				undo = `UPDATE events SET actor = '' WHERE seq = 1`
			}
			if err := st.exec(append(append(append([]string{}, st.triggersOff...), undo), st.triggersOn...)...); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l)
		}
	})
}

func TestStoresSubjectEvents(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		for _, id := range []string{"grt_b", "grt_a"} {
			if _, err := l.IssueGrant(ctx, testGrant(id), t0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.RevokeGrant(ctx, "grt_b", t0.Add(time.Hour), ReasonOutOfBand, "incident", nil); err != nil {
			t.Fatal(err)
		}
		read := func(kind, subject string) (got []string) {
			t.Helper()
			err := l.SubjectEvents(ctx, kind, subject, func(e Event) error {
				got = append(got, fmt.Sprintf("%s %d %s", e.Subject, e.Seq, e.Type))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got, want := read("grant", ""), []string{"grt_a 2 grant.issued", "grt_b 1 grant.issued", "grt_b 4 grant.revoked"}; !slices.Equal(got, want) {
			t.Errorf("grant events = %q, want %q", got, want)
		}
		if got, want := read("grant", "grt_b"), []string{"grt_b 1 grant.issued", "grt_b 4 grant.revoked"}; !slices.Equal(got, want) {
			t.Errorf("grt_b's events = %q, want %q", got, want)
		}
		if got, want := read("approval", ""), []string{"apr_1 3 approval.recorded"}; !slices.Equal(got, want) {
			t.Errorf("approval events = %q, want %q", got, want)
		}
		if err := l.SubjectEvents(ctx, "ledger", "", func(Event) error { return nil }); err == nil {
			t.Error("SubjectEvents of kind ledger: no error")
		}
	})
}

// TestStoresMigrateOrigin: a ledger made before events recorded their origin
// gains the columns when a build that knows them opens it, and its events
// verify unchanged beside the new ones.
func TestStoresMigrateOrigin(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		clock, ok := l.s.(interface{ setWallClock(func() time.Time) })
		if !ok {
			t.Fatalf("%T has no wall clock to set", l.s)
		}
		clock.setWallClock(func() time.Time { return time.Time{} })
		l.SetOrigin(Origin{})
		// The version before the migration that added the origin columns.
		before := int64(-1)
		for i, m := range st.dialect.migrations {
			if strings.Contains(strings.Join(m, "\n"), "ADD COLUMN recorded_at") {
				before = int64(i)
			}
		}
		if before < 0 {
			t.Fatal("no migration adds recorded_at")
		}
		if st.name == "postgres" {
			// And before the database stamped recording times.
			if err := st.exec(`DROP TRIGGER events_recorded_now ON events`, `DROP FUNCTION events_recorded_now()`); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.IssueGrant(ctx, testGrant("grt_old"), t0); err != nil {
			t.Fatal(err)
		}
		// The schema as the version before the origin columns left it: the
		// current state still kept copies of payloads then.
		revertStateCopies(t, st)
		if err := st.exec(
			`ALTER TABLE events DROP COLUMN recorded_at`, `ALTER TABLE events DROP COLUMN actor`, `ALTER TABLE events DROP COLUMN run_id`,
			fmt.Sprintf(`DELETE FROM schema_migrations WHERE version > %d`, before),
		); err != nil {
			t.Fatal(err)
		}
		again, err := Open(ctx, st.location)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if n, err := st.queryInt(`SELECT max(version) FROM schema_migrations`); err != nil || n != int64(len(st.dialect.migrations)) {
			t.Fatalf("schema version %d, %v; want %d", n, err, len(st.dialect.migrations))
		}
		again.SetOrigin(Origin{Actor: "deploy-bot", RunID: "run-1"})
		if _, _, err := again.ExpireGrant(ctx, "grt_old", t0.Add(time.Hour), nil); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, again)
		var got []string
		if err := again.s.Events(ctx, func(e Event) error {
			got = append(got, fmt.Sprintf("%d %s %q %q %v", e.Seq, e.Type, e.Actor, e.RunID, e.RecordedAt.IsZero()))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := []string{`1 grant.issued "" "" true`, `2 grant.expired "deploy-bot" "run-1" false`}
		if !slices.Equal(got, want) {
			t.Fatalf("events = %q, want %q", got, want)
		}
	})
}
