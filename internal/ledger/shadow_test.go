package ledger

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestPostgresShadowedEventsTable: the pipeline's INSERT-only role may create
// a temporary table named events (every role may, unless TEMPORARY is revoked
// on the database), which comes first in its session's search_path. The
// trigger events_recorded_now reads the event before from the table it fires
// on, by schema, so such a table cannot make it take an event recorded before
// the event before it.
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
	err = conn.SendBatch(ctx, batch).Close()
	if err == nil || !strings.Contains(err.Error(), "recording times never go backwards") {
		t.Fatalf("insert as the pipeline's role beside a temporary events table = %v, want the trigger to refuse an event recorded before the event before it", err)
	}
}
