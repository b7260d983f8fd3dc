package ledger

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresShadowedEventsTable: the trigger events_recorded_now reads the
// event before by the unqualified name events, which the inserting session
// resolves through its search_path, where its own temporary schema comes
// first. The pipeline's INSERT-only role may create a temporary table named
// events (every role may create temporary tables unless TEMPORARY is revoked
// on the database), and the trigger then compares with that table: an event
// recorded before the event before it, within the trigger's 30 seconds of the
// database's clock, is taken. The database's clock still bounds the time;
// verification reports the order. This test pins down both: if the trigger
// one day refuses the insert, the first half says so and the test still
// passes.
func TestPostgresShadowedEventsTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, ownerURL := newPostgresDatabase(t)
	owner, err := Open(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.IssueGrant(ctx, testGrant("grt_1"), time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	var first Event
	if err := owner.s.Events(ctx, func(e Event) error { first = e; return nil }); err != nil {
		t.Fatal(err)
	}

	conn, err := pgx.Connect(ctx, srv.URLAs(roleOf(t, srv, db), db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TEMPORARY TABLE events (seq bigint, recorded_at text)`); err != nil {
		t.Skipf("the role may not create temporary tables: %v", err)
	}
	revoked, err := owner.Grant(ctx, "grt_1")
	if err != nil {
		t.Fatal(err)
	}
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason = StatusRevoked, first.RecordedAt.Add(-time.Second), ReasonOutOfBand
	data, _ := json.Marshal(revoked)
	ev := Event{Seq: 2, At: first.RecordedAt.Add(-time.Second), Type: EventGrantRevoked, Subject: "grt_1", Data: data,
		PrevHash: first.Hash, RecordedAt: first.RecordedAt.Add(-time.Second)}
	ev.Hash = HashEvent(ev.PrevHash, ev)
	insert := strings.Replace(insertEventStatement(pgDialect), "INSERT INTO events", "INSERT INTO public.events", 1)
	batch := &pgx.Batch{}
	batch.Queue(insert, eventArgs(ev)...)
	batch.Queue(`UPDATE public.grants SET seq = 2, status = $1 WHERE id = 'grt_1'`, StatusRevoked)
	batch.Queue(`UPDATE public.ledger_head SET seq = 2, hash = $1 WHERE id = 1`, ev.Hash)
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		if strings.Contains(err.Error(), "recording times never go backwards") {
			return // the trigger no longer reads the session's own table
		}
		t.Fatalf("insert as the pipeline's role beside a temporary events table: %v", err)
	}
	t.Log("the trigger took an event recorded before the event before it, reading the session's temporary events table")
	r, err := verifyBounded(t, owner)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.FirstBad != 2 || !strings.Contains(r.Problem, "recording times never go backwards") {
		t.Fatalf("Verify = %+v, want event 2 reported recorded before event 1", r)
	}
}
