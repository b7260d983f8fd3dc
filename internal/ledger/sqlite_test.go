package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawDB opens the ledger file directly, as someone with file access could.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	l.IssueGrant(ctx, testGrant("grt_1"), t0)
	l.IssueGrant(ctx, testGrant("grt_2"), t0)
	db := rawDB(t, path)

	for _, stmt := range []string{
		`UPDATE events SET data = '{}' WHERE seq = 1`,
		`UPDATE events SET seq = 10 WHERE seq = 2`,
		`DELETE FROM events WHERE seq = 2`,
		`DELETE FROM events`,
	} {
		_, err := db.Exec(stmt)
		if err == nil || !strings.Contains(err.Error(), "ledger events are append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
		}
	}
	var n int
	db.QueryRow(`SELECT count(*) FROM events`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d events left, want 2", n)
	}
	mustVerify(t, l)
}

func TestConcurrentAppendsOneLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if i%2 == 0 {
				_, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%02d", i)), t0)
				errs <- err
			} else {
				_, err := l.RecordApproval(ctx, testApproval(fmt.Sprintf("apr_%02d", i)), t0)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	r := mustVerify(t, l)
	if r.Events != n || r.Head.Seq != n {
		t.Fatalf("report = %+v, want %d events", r, n)
	}
}

func TestConcurrentAppendsTwoStores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := t.TempDir() + "/shared.db"
	var ledgers [2]*Ledger
	for i := range ledgers {
		s, err := openSQLite(ctx, path, true)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ledgers[i] = New(s)
	}
	if _, err := ledgers[0].IssueGrant(ctx, testGrant("grt_contended"), t0); err != nil {
		t.Fatal(err)
	}

	const perStore = 20
	var wg sync.WaitGroup
	errs := make(chan error, 4*perStore)
	for i, l := range ledgers {
		for j := range perStore {
			wg.Go(func() {
				_, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d_%02d", i, j)), t0)
				errs <- err
			})
			// Both "processes" race to revoke the same grant: exactly one wins,
			// the others re-read and find it revoked.
			wg.Go(func() {
				_, err := l.RevokeGrant(ctx, "grt_contended", t0.Add(time.Minute), ReasonOutOfBand, fmt.Sprintf("store %d", i), nil)
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	r := mustVerify(t, ledgers[1])
	if want := int64(1 + 2*perStore + 1); r.Events != want {
		t.Fatalf("%d events, want %d (one issue, %d grants, one revocation)", r.Events, want, 2*perStore)
	}
	var revocations int
	ledgers[0].Store().Events(ctx, func(e Event) error {
		if e.Type == EventGrantRevoked {
			revocations++
		}
		return nil
	})
	if revocations != 1 {
		t.Fatalf("%d revocation events for one grant, want 1", revocations)
	}
}

func TestAppendRefusedOnInconsistentHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, path := openTestLedger(t)
	l.IssueGrant(ctx, testGrant("grt_1"), t0)
	db := rawDB(t, path)
	if _, err := db.Exec(`UPDATE ledger_head SET seq = 5`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_2"), t0); err == nil || !strings.Contains(err.Error(), "run governed verify") {
		t.Fatalf("append on a ledger whose head moved: %v", err)
	}
}
