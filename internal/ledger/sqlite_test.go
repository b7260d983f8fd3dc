package ledger

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
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
		s, err := OpenSQLite(ctx, path)
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

func TestGrantsFilter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := openTestLedger(t)
	mk := func(id, principal, entitlement string, expires time.Time) {
		g := testGrant(id)
		g.Principal, g.Entitlement, g.ExpiresAt = principal, entitlement, expires.Format(time.RFC3339Nano)
		if _, err := l.IssueGrant(ctx, g, t0); err != nil {
			t.Fatal(err)
		}
	}
	mk("grt_c", "svc-a", "db-read", t0.Add(2*time.Hour))
	mk("grt_a", "svc-a", "db-write", t0.Add(time.Hour+500*time.Millisecond))
	mk("grt_b", "svc-b", "db-read", t0.Add(48*time.Hour))
	mk("grt_d", "svc-b", "db-read", t0.Add(30*time.Minute))
	mk("grt_e", "svc-c", "db-read", t0.Add(time.Hour).In(time.FixedZone("X", -5*3600)))
	l.RevokeGrant(ctx, "grt_d", t0, ReasonOutOfBand, "", nil)

	tests := []struct {
		name string
		f    GrantFilter
		want []string
	}{
		{"all, sorted by id", GrantFilter{}, []string{"grt_a", "grt_b", "grt_c", "grt_d", "grt_e"}},
		{"principal", GrantFilter{Principal: "svc-a"}, []string{"grt_a", "grt_c"}},
		{"entitlement", GrantFilter{Entitlement: "db-read"}, []string{"grt_b", "grt_c", "grt_d", "grt_e"}},
		{"status", GrantFilter{Status: StatusRevoked}, []string{"grt_d"}},
		{"principal and entitlement", GrantFilter{Principal: "svc-b", Entitlement: "db-read", Status: StatusActive}, []string{"grt_b"}},
		// grt_d expires first but is no longer active; grt_a expires half a second
		// after the bound, in the same second.
		{"expiring before, exact to the nanosecond", GrantFilter{ExpiringBefore: t0.Add(time.Hour + 500*time.Millisecond)}, []string{"grt_e"}},
		{"expiring before, just after", GrantFilter{ExpiringBefore: t0.Add(time.Hour + 500*time.Millisecond + 1)}, []string{"grt_a", "grt_e"}},
		{"nothing", GrantFilter{Principal: "svc-z"}, []string{}},
	}
	for _, tt := range tests {
		got, err := l.Grants(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		ids := []string{}
		for _, g := range got {
			ids = append(ids, g.ID)
			if g.Seq == 0 {
				t.Errorf("%s: %s has no seq", tt.name, g.ID)
			}
		}
		if !slices.Equal(ids, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, ids, tt.want)
		}
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
