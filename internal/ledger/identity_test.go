package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// ledgerEvents lists the events of l as "seq type".
func ledgerEvents(t *testing.T, l *Ledger) []string {
	t.Helper()
	var got []string
	if err := l.s.Events(context.Background(), func(e Event) error {
		got = append(got, fmt.Sprintf("%d %s", e.Seq, e.Type))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// makePreIDLedger turns st's ledger into one as a build from before ledger
// ids left it: two events, recorded without origins, and the schema at
// version identityVersion-1, without ledger_identity and what later
// versions added.
func makePreIDLedger(t *testing.T, st storeUnderTest) {
	t.Helper()
	ctx, l := context.Background(), st.l
	clock, ok := l.s.(interface{ setWallClock(func() time.Time) })
	if !ok {
		t.Fatalf("%T has no wall clock to set", l.s)
	}
	clock.setWallClock(func() time.Time { return time.Time{} })
	l.SetOrigin(Origin{})
	if st.name == "postgres" {
		// That build's schema had no trigger to stamp recording times.
		if err := st.exec(`DROP TRIGGER events_recorded_now ON events`, `DROP FUNCTION events_recorded_now()`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_old"), t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.ExpireGrant(ctx, "grt_old", t0.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	revertStateCopies(t, st)
	undo := []string{
		`DROP TABLE ledger_identity`, `DROP TABLE policies`,
		`DROP INDEX grants_revoke_pending`, `DROP INDEX grants_principal_unfolded`, `DROP INDEX grants_entitlement_status`,
		`ALTER TABLE events DROP COLUMN recorded_at`, `ALTER TABLE events DROP COLUMN actor`, `ALTER TABLE events DROP COLUMN run_id`,
		fmt.Sprintf(`DELETE FROM schema_migrations WHERE version >= %d`, st.dialect.identityVersion),
	}
	if st.name == "postgres" {
		undo = append(undo, `DROP FUNCTION ledger_identity_fixed()`, `DROP FUNCTION policies_kept()`)
	}
	if err := st.exec(undo...); err != nil {
		t.Fatal(err)
	}
}

// TestStoresIdentifiedByMigration: a ledger from before ledger ids, which
// already holds events, gains its id and exactly one ledger.identified event
// naming it when a build that knows ids opens it, however many open it at
// once or again; it still verifies, in full and from a checkpoint. Whoever
// changes the kept id afterwards, with the table's protection taken away,
// is caught by verification naming that event.
func TestStoresIdentifiedByMigration(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		makePreIDLedger(t, st)

		// Concurrent openers: the migration runs once and leaves one event.
		var wg sync.WaitGroup
		opened := make([]*Ledger, 4)
		errs := make([]error, len(opened))
		for i := range opened {
			wg.Add(1)
			go func() {
				defer wg.Done()
				opened[i], errs[i] = Open(ctx, st.location)
			}()
		}
		wg.Wait()
		for i, l := range opened {
			if errs[i] != nil {
				t.Fatalf("open %d: %v", i, errs[i])
			}
			defer l.Close()
		}
		l := opened[0]
		if got, want := ledgerEvents(t, l), []string{"1 grant.issued", "2 grant.expired", "3 ledger.identified"}; !slices.Equal(got, want) {
			t.Fatalf("events = %q, want %q", got, want)
		}
		id, err := l.ID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		if err := l.s.Events(ctx, func(e Event) error {
			if e.Seq == 3 {
				ev = e
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var payload Identified
		if err := json.Unmarshal(ev.Data, &payload); err != nil {
			t.Fatal(err)
		}
		want := Identified{LedgerID: id, MigratedFrom: st.dialect.identityVersion - 1, SchemaVersion: len(st.dialect.migrations)}
		if payload != want || ev.Subject != LedgerSubject {
			t.Fatalf("ledger.identified about %q = %+v, want %+v", ev.Subject, payload, want)
		}
		// Recorded as every append: its recording time and origin, covered
		// by its hash.
		origin := OriginFromEnv(os.Getenv)
		if ev.RecordedAt.IsZero() || ev.At.IsZero() || ev.Actor != origin.Actor || ev.RunID != origin.RunID {
			t.Fatalf("ledger.identified at %v recorded at %v by %q in %q, want a recording time and %+v", ev.At, ev.RecordedAt, ev.Actor, ev.RunID, origin)
		}
		if head, err := l.Head(ctx); err != nil || head != (Head{Seq: 3, Hash: ev.Hash}) {
			t.Fatalf("head = %+v, %v; want event 3", head, err)
		}
		mustVerify(t, l)

		// Opening again adds nothing; appends go on after the event.
		again, err := Open(ctx, st.location)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		g, err := again.IssueGrant(ctx, testGrant("grt_new"), t0.Add(2*time.Hour))
		if err != nil || g.Seq != 4 {
			t.Fatalf("grant after the event: seq %d, %v; want 4", g.Seq, err)
		}
		mustVerify(t, again)
		checkpoint, err := again.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r, err := again.VerifySince(ctx, checkpoint); err != nil || !r.OK || r.From != 4 {
			t.Fatalf("VerifySince(%+v) = %+v, %v; want OK from 4", checkpoint, r, err)
		}
		// Its read of the identified event goes through the subject index.
		plan, err := st.explain(identifiedQuery(st.dialect), []any{LedgerSubject, EventLedgerIdentified, checkpoint.Seq})
		if err != nil || !strings.Contains(plan, "events_subject") {
			t.Fatalf("plan of the identified event's read:\n%s\n%v; want it through events_subject", plan, err)
		}

		// The insider changes the kept id, with its protection taken away.
		change := []string{`DROP TRIGGER ledger_identity_no_update`}
		if st.name == "postgres" {
			change = []string{`ALTER TABLE ledger_identity DISABLE TRIGGER ALL`}
		}
		other := strings.Repeat("0", 32)
		if err := st.exec(append(change, `UPDATE ledger_identity SET ledger_id = '`+other+`'`)...); err != nil {
			t.Fatal(err)
		}
		wantProblem := fmt.Sprintf("the ledger's id was changed: event 3 records it as %s, but the ledger says %s", id, other)
		r, err := again.Verify(ctx)
		if err != nil || r.OK || r.FirstBad != 3 || r.Problem != wantProblem {
			t.Fatalf("Verify after the id changed = %+v, %v; want event 3: %s", r, err, wantProblem)
		}
		r, err = again.VerifySince(ctx, checkpoint)
		if err != nil || r.OK || r.FirstBad != 3 || r.Problem != wantProblem {
			t.Fatalf("VerifySince after the id changed = %+v, %v; want event 3: %s", r, err, wantProblem)
		}
	})
}

// TestStoresNewLedgerNotIdentified: a ledger made with its id records no
// ledger.identified event, when made or reopened with events, so that its
// sequence numbers are what its appends make them.
func TestStoresNewLedgerNotIdentified(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		if got := ledgerEvents(t, l); len(got) != 0 {
			t.Fatalf("a new ledger holds events %q", got)
		}
		if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
			t.Fatal(err)
		}
		again, err := Open(ctx, st.location)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		if got, want := ledgerEvents(t, again), []string{"1 grant.issued"}; !slices.Equal(got, want) {
			t.Fatalf("events after reopening = %q, want %q", got, want)
		}
	})
}

// TestStoresIdentifiedOnce: a second ledger.identified event, chained like
// any other, is refused by verification, which names it.
func TestStoresIdentifiedOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		makePreIDLedger(t, st)
		l, err := Open(ctx, st.location)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		id, err := l.ID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(Identified{LedgerID: id, MigratedFrom: 1, SchemaVersion: 7})
		ev := Event{Seq: head.Seq + 1, At: t0, Type: EventLedgerIdentified, Subject: LedgerSubject, Data: data, PrevHash: head.Hash}
		ev.Hash = HashEvent(ev.PrevHash, ev)
		args := eventArgs(ev)
		insert := fmt.Sprintf(`INSERT INTO events (seq, at, type, subject, data, prev_hash, hash) VALUES (%d, '%s', '%s', '%s', '%s', '%s', '%s')`,
			args[0], args[1], args[2], args[3], args[4], args[5], args[6])
		// As the owner, around the trigger that has PostgreSQL stamp
		// recording times.
		stmts := append(append(append([]string{}, st.triggersOff...), insert,
			fmt.Sprintf(`UPDATE ledger_head SET seq = %d, hash = '%s' WHERE id = 1`, ev.Seq, ev.Hash)), st.triggersOn...)
		if err := st.exec(stmts...); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("event %d records the ledger's id again, after event %d", ev.Seq, head.Seq)
		if r, err := l.Verify(ctx); err != nil || r.OK || r.FirstBad != ev.Seq || r.Problem != want {
			t.Fatalf("Verify = %+v, %v; want event %d: %s", r, err, ev.Seq, want)
		}
		if r, err := l.VerifySince(ctx, head); err != nil || r.OK || r.FirstBad != ev.Seq || r.Problem != want {
			t.Fatalf("VerifySince(%+v) = %+v, %v; want event %d: %s", head, r, err, ev.Seq, want)
		}
	})
}
