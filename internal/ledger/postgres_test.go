package ledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// The PostgreSQL server the package's tests share, started on first use and
// stopped by TestMain.
var pgTestServer struct {
	once sync.Once
	s    *pgtest.Server
	err  error
}

func testPostgresServer(t testing.TB) *pgtest.Server {
	t.Helper()
	pgTestServer.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pgTestServer.s, pgTestServer.err = pgtest.Start(ctx, pgtest.Options{})
	})
	if pgTestServer.err != nil {
		t.Fatalf("starting a PostgreSQL server for the tests: %v", pgTestServer.err)
	}
	return pgTestServer.s
}

// stopPostgresServers stops the servers tests and benchmarks started.
func stopPostgresServers() {
	pgTestServer.s.Stop()
	pgBenchServer.s.Stop()
}

// newPostgresDatabase creates an empty database and returns its name and URL.
func newPostgresDatabase(t testing.TB) (srv *pgtest.Server, db, location string) {
	t.Helper()
	srv = testPostgresServer(t)
	db, err := srv.CreateDatabase(context.Background(), "ledger")
	if err != nil {
		t.Fatalf("creating a database: %v", err)
	}
	return srv, db, srv.URL(db)
}

// openPostgresTestLedger opens a new PostgreSQL ledger in a database of its own.
func openPostgresTestLedger(t testing.TB) (*Ledger, *pgtest.Server, string) {
	t.Helper()
	srv, db, location := newPostgresDatabase(t)
	l, err := Open(context.Background(), location)
	if err != nil {
		t.Fatalf("Open(%q): %v", location, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, srv, db
}

// storeUnderTest is a new, empty ledger of one kind, with its location and raw
// SQL access to its database, as someone with direct access could have.
type storeUnderTest struct {
	l        *Ledger
	location string
	exec     func(stmts ...string) error
}

// testStores opens ledgers of every kind.
var testStores = []struct {
	name string
	open func(t testing.TB) storeUnderTest
}{
	{"sqlite", func(t testing.TB) storeUnderTest {
		l, path := openTestLedger(t)
		db := rawDB(t, path)
		return storeUnderTest{l: l, location: path, exec: func(stmts ...string) error {
			for _, st := range stmts {
				if _, err := db.Exec(st); err != nil {
					return err
				}
			}
			return nil
		}}
	}},
	{"postgres", func(t testing.TB) storeUnderTest {
		l, srv, db := openPostgresTestLedger(t)
		return storeUnderTest{l: l, location: srv.URL(db), exec: func(stmts ...string) error {
			return srv.Exec(context.Background(), db, stmts...)
		}}
	}},
}

// forEachStore runs test, in parallel, on a new ledger of every kind.
func forEachStore(t *testing.T, test func(t *testing.T, st storeUnderTest)) {
	t.Helper()
	for _, kind := range testStores {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			test(t, kind.open(t))
		})
	}
}

func TestStoresIssueGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		at := time.Date(2026, 3, 1, 10, 0, 0, 5, time.FixedZone("CET", 3600))
		g, err := l.IssueGrant(ctx, testGrant("grt_1"), at)
		if err != nil {
			t.Fatalf("IssueGrant: %v", err)
		}
		if g.Status != StatusActive || !g.GrantedAt.Equal(at) || g.Seq != 1 {
			t.Fatalf("issued grant = %+v", g)
		}
		got, err := l.Grant(ctx, "grt_1")
		if err != nil || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", g) {
			t.Fatalf("read back %+v, %v\nwant %+v", got, err, g)
		}
		if _, err := l.IssueGrant(ctx, testGrant("grt_1"), at); !errors.Is(err, ErrExists) {
			t.Fatalf("issuing a taken id: err = %v, want ErrExists", err)
		}
		if _, err := l.Grant(ctx, "grt_unknown"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown grant: err = %v, want ErrNotFound", err)
		}
		if _, err := l.IssueGrant(ctx, testGrant(""), at); err != nil {
			t.Fatalf("IssueGrant without id: %v", err)
		}
		bad := testGrant("grt_bad")
		bad.ExpiresAt = "next tuesday"
		if _, err := l.IssueGrant(ctx, bad, at); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Fatalf("bad expiry: err = %v", err)
		}
		var events []Event
		if err := l.Store().Events(ctx, func(e Event) error { events = append(events, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(events) != 2 || events[0].Subject != "grt_1" || !events[0].At.Equal(at) || events[0].Hash != HashEvent("", events[0]) ||
			events[1].PrevHash != events[0].Hash {
			t.Fatalf("events = %+v", events)
		}
		if r := mustVerify(t, l); r.Events != 2 || r.Head.Seq != 2 || r.Head.Hash != events[1].Hash {
			t.Fatalf("report = %+v", r)
		}
	})
}

func TestStoresGrantTransitions(t *testing.T) {
	t.Parallel()
	at := t0.Add(time.Hour)
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		for i, id := range []string{"grt_expire", "grt_revoke", "grt_retire", "grt_noop"} {
			if _, err := l.IssueGrant(ctx, testGrant(id), t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		steps := []struct {
			name       string
			act        func() (Grant, error)
			wantStatus string
			wantReason string
			wantRetire bool
			wantEvent  string // "" when the act must not append
		}{
			{"expire", func() (Grant, error) { return l.ExpireGrant(ctx, "grt_expire", at, nil) }, StatusExpired, ReasonExpired, false, EventGrantExpired},
			{"revoke", func() (Grant, error) { return l.RevokeGrant(ctx, "grt_revoke", at, ReasonOutOfBand, "INC-7", nil) }, StatusRevoked, ReasonOutOfBand, false, EventGrantRevoked},
			{"retire", func() (Grant, error) { return l.RetireGrant(ctx, "grt_retire", at, nil) }, StatusRevoked, ReasonDestroyed, true, EventGrantRetired},
			{"revoke expired is a no-op", func() (Grant, error) { return l.RevokeGrant(ctx, "grt_expire", at, ReasonOutOfBand, "", nil) }, StatusExpired, ReasonExpired, false, ""},
			{"retire expired keeps the expiry", func() (Grant, error) { return l.RetireGrant(ctx, "grt_expire", at, nil) }, StatusExpired, ReasonExpired, true, EventGrantRetired},
			{"retire retired is a no-op", func() (Grant, error) { return l.RetireGrant(ctx, "grt_retire", at, nil) }, StatusRevoked, ReasonDestroyed, true, ""},
			{"expire revoked is a no-op", func() (Grant, error) { return l.ExpireGrant(ctx, "grt_revoke", at, nil) }, StatusRevoked, ReasonOutOfBand, false, ""},
		}
		for _, step := range steps {
			before, _ := l.Head(ctx)
			g, err := step.act()
			if err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			if g.Status != step.wantStatus || g.RevocationReason != step.wantReason || g.RetiredAt.IsZero() == step.wantRetire {
				t.Fatalf("%s: grant = %+v", step.name, g)
			}
			after, _ := l.Head(ctx)
			if step.wantEvent == "" {
				if after != before {
					t.Fatalf("%s: no-op appended: head %d -> %d", step.name, before.Seq, after.Seq)
				}
			} else {
				var last Event
				l.Store().Events(ctx, func(e Event) error { last = e; return nil })
				if after.Seq != before.Seq+1 || g.Seq != after.Seq || last.Type != step.wantEvent || last.Subject != g.ID {
					t.Fatalf("%s: head %d -> %d, grant seq %d, last event %s %s", step.name, before.Seq, after.Seq, g.Seq, last.Type, last.Subject)
				}
			}
			stored, err := l.Grant(ctx, g.ID)
			if err != nil || fmt.Sprintf("%+v", stored) != fmt.Sprintf("%+v", g) {
				t.Fatalf("%s: stored = %+v, %v\nreturned = %+v", step.name, stored, err, g)
			}
		}
		for name, act := range map[string]func() (Grant, error){
			"expire": func() (Grant, error) { return l.ExpireGrant(ctx, "grt_none", t0, nil) },
			"revoke": func() (Grant, error) { return l.RevokeGrant(ctx, "grt_none", t0, ReasonOutOfBand, "", nil) },
			"retire": func() (Grant, error) { return l.RetireGrant(ctx, "grt_none", t0, nil) },
		} {
			if _, err := act(); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s unknown: err = %v, want ErrNotFound", name, err)
			}
		}
		if r := mustVerify(t, l); r.Events != 8 {
			t.Fatalf("%d events, want 8", r.Events)
		}
	})
}

func TestStoresApprovals(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		if a, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); err != nil || a.Seq != 1 || a.Status != ApprovalActive {
			t.Fatalf("RecordApproval = %+v, %v", a, err)
		}
		if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); !errors.Is(err, ErrExists) {
			t.Fatalf("recording an active approval again: err = %v, want ErrExists", err)
		}
		a, err := l.UseApproval(ctx, "apr_1", "grt_a", t0)
		if err != nil || a.GrantID != "grt_a" || a.Seq != 2 {
			t.Fatalf("UseApproval = %+v, %v", a, err)
		}
		if a, err := l.UseApproval(ctx, "apr_1", "grt_a", t0); err != nil || a.Seq != 2 {
			t.Fatalf("using it again for the same grant = %+v, %v", a, err)
		}
		if _, err := l.UseApproval(ctx, "apr_1", "grt_b", t0); !errors.Is(err, ErrApprovalUsed) {
			t.Fatalf("using it for another grant: err = %v, want ErrApprovalUsed", err)
		}
		w, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(time.Hour))
		if err != nil || w.Status != ApprovalWithdrawn || w.Seq != 3 {
			t.Fatalf("WithdrawApproval = %+v, %v", w, err)
		}
		if _, err := l.UseApproval(ctx, "apr_1", "grt_c", t0); !errors.Is(err, ErrApprovalUsed) {
			t.Fatalf("using a withdrawn approval: err = %v, want ErrApprovalUsed", err)
		}
		r, err := l.RecordApproval(ctx, testApproval("apr_1"), t0.Add(3*time.Hour))
		if err != nil || r.Status != ApprovalActive || r.Seq != 4 || !r.WithdrawnAt.IsZero() {
			t.Fatalf("re-recording a withdrawn approval = %+v, %v", r, err)
		}
		if _, err := l.RecordApproval(ctx, testApproval("apr_0"), t0); err != nil {
			t.Fatal(err)
		}
		stored, err := l.Approval(ctx, "apr_1")
		if err != nil || fmt.Sprintf("%+v", stored) != fmt.Sprintf("%+v", r) {
			t.Fatalf("stored = %+v, %v", stored, err)
		}
		if _, err := l.Approval(ctx, "apr_none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown approval: err = %v", err)
		}
		all, err := storedApprovals(ctx, l.Store())
		if err != nil || len(all) != 2 || all[0].ID != "apr_0" || all[1].ID != "apr_1" || all[1].Seq != 4 {
			t.Fatalf("Approvals = %+v, %v", all, err)
		}
		mustVerify(t, l)
	})
}

func TestStoresGrantsFilter(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
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
		// Expiries that PostgreSQL rounds to microseconds, either way.
		mk("grt_f", "svc-d", "db-read", t0.Add(3*time.Hour-1))
		mk("grt_g", "svc-d", "db-read", t0.Add(3*time.Hour+1))
		mk("grt_H", "svc-e", "db-read", t0.Add(72*time.Hour))
		l.RevokeGrant(ctx, "grt_d", t0, ReasonOutOfBand, "", nil)

		tests := []struct {
			name string
			f    GrantFilter
			want []string
		}{
			{"all, sorted by id byte by byte", GrantFilter{}, []string{"grt_H", "grt_a", "grt_b", "grt_c", "grt_d", "grt_e", "grt_f", "grt_g"}},
			{"principal", GrantFilter{Principal: "svc-a"}, []string{"grt_a", "grt_c"}},
			{"entitlement", GrantFilter{Entitlement: "db-write"}, []string{"grt_a"}},
			{"status", GrantFilter{Status: StatusRevoked}, []string{"grt_d"}},
			{"principal and entitlement", GrantFilter{Principal: "svc-b", Entitlement: "db-read", Status: StatusActive}, []string{"grt_b"}},
			{"expiring before, exact to the nanosecond", GrantFilter{ExpiringBefore: t0.Add(time.Hour + 500*time.Millisecond)}, []string{"grt_e"}},
			{"expiring before, just after", GrantFilter{ExpiringBefore: t0.Add(time.Hour + 500*time.Millisecond + 1)}, []string{"grt_a", "grt_e"}},
			{"expiring before, a nanosecond apart", GrantFilter{ExpiringBefore: t0.Add(3 * time.Hour)}, []string{"grt_a", "grt_c", "grt_e", "grt_f"}},
			{"expiring before and principal", GrantFilter{Principal: "svc-d", ExpiringBefore: t0.Add(3*time.Hour + 2)}, []string{"grt_f", "grt_g"}},
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
	})
}

func TestStoresAppendExpectations(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, s := context.Background(), st.l.Store()
		g := testGrant("grt_1")
		g.Status = StatusActive
		if _, err := s.AppendGrant(ctx, EventGrantIssued, t0, g, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendGrant(ctx, EventGrantIssued, t0, g, 0); !errors.Is(err, ErrExists) {
			t.Errorf("new record with a taken id: %v, want ErrExists", err)
		}
		if _, err := s.AppendGrant(ctx, EventGrantRevoked, t0, g, 7); !errors.Is(err, ErrConflict) {
			t.Errorf("stale seq: %v, want ErrConflict", err)
		}
		g2 := testGrant("grt_2")
		g2.Status = StatusActive
		if _, err := s.AppendGrant(ctx, EventGrantRevoked, t0, g2, 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("expected seq for an unknown record: %v, want ErrNotFound", err)
		}
		if _, err := s.AppendGrant(ctx, EventApprovalRecorded, t0, g2, 0); err == nil {
			t.Error("a grant appended with an approval event type")
		}
		if _, err := s.AppendGrant(ctx, "grant.renamed", t0, g2, 0); err == nil {
			t.Error("a grant appended with an unknown event type")
		}
		a := testApproval("apr_1")
		a.Status = ApprovalActive
		if _, err := s.AppendApproval(ctx, EventGrantIssued, t0, a, 0); err == nil {
			t.Error("an approval appended with a grant event type")
		}
		g3 := testGrant("grt_\x1f3")
		g3.Status = StatusActive
		if _, err := s.AppendGrant(ctx, EventGrantIssued, t0, g3, 0); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("an id with a control character: %v", err)
		}
		ev, err := s.AppendGrant(ctx, EventGrantRevoked, t0, g, 1)
		if err != nil || ev.Seq != 2 || ev.PrevHash == "" || ev.Hash != HashEvent(ev.PrevHash, ev) {
			t.Fatalf("append = %+v, %v", ev, err)
		}
		// An id already used by an approval is free for a grant: the kinds do
		// not share ids, and each reads only its own events.
		if _, err := s.AppendApproval(ctx, EventApprovalRecorded, t0, a, 0); err != nil {
			t.Fatal(err)
		}
		same := testGrant("apr_1")
		same.Status = StatusActive
		if _, err := s.AppendGrant(ctx, EventGrantIssued, t0, same, 0); err != nil {
			t.Fatalf("a grant with an approval's id: %v", err)
		}
		if got, err := st.l.Approval(ctx, "apr_1"); err != nil || got.Seq != 3 {
			t.Fatalf("approval apr_1 = %+v, %v", got, err)
		}
		if got, err := st.l.Grant(ctx, "apr_1"); err != nil || got.Seq != 4 {
			t.Fatalf("grant apr_1 = %+v, %v", got, err)
		}
		mustVerify(t, st.l)
	})
}

// TestStoresReadTheLog: a grant or approval is what its last event says, not
// what its current-state row says; Verify reports the edited row.
func TestStoresReadTheLog(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		issued, err := l.IssueGrant(ctx, testGrant("grt_1"), t0)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := l.RecordApproval(ctx, testApproval("apr_1"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.exec(
			`UPDATE grants SET data = replace(data, 'SEC-101', 'SEC-999') WHERE id = 'grt_1'`,
			`UPDATE approvals SET data = replace(data, 'nightly', 'hourly') WHERE id = 'apr_1'`,
		); err != nil {
			t.Fatal(err)
		}
		if g, err := l.Grant(ctx, "grt_1"); err != nil || g.TicketID != "SEC-101" || fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", issued) {
			t.Fatalf("Grant after the row was edited = %+v, %v", g, err)
		}
		if a, err := l.Approval(ctx, "apr_1"); err != nil || a.Justification != rec.Justification {
			t.Fatalf("Approval after the row was edited = %+v, %v", a, err)
		}
		// The lists come from the current-state tables, which Verify checks.
		if all, _ := l.Grants(ctx, GrantFilter{}); len(all) != 1 || all[0].TicketID != "SEC-999" {
			t.Fatalf("Grants = %+v", all)
		}
		r, err := l.Verify(ctx)
		if err != nil || r.OK || r.FirstBad != 1 || !strings.Contains(r.Problem, `grant "grt_1"`) {
			t.Fatalf("Verify = %+v, %v", r, err)
		}
	})
}

func TestStoresAppendRefusedOnInconsistentHead(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		st.l.IssueGrant(ctx, testGrant("grt_1"), t0)
		if err := st.exec(`UPDATE ledger_head SET seq = 5`); err != nil {
			t.Fatal(err)
		}
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_2"), t0); !errors.Is(err, ErrInconsistent) {
			t.Fatalf("append on a ledger whose head moved: %v", err)
		}
		if r, err := st.l.Verify(ctx); err != nil || r.OK || r.FirstBad != 2 {
			t.Fatalf("Verify = %+v, %v", r, err)
		}
	})
}

func TestStoresTransitionRetriesOnConflict(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, base := context.Background(), st.l
		base.IssueGrant(ctx, testGrant("grt_1"), t0)
		rs := &racingStore{Store: base.Store(), race: func() {
			if _, err := base.RevokeGrant(ctx, "grt_1", t0, ReasonOutOfBand, "incident", nil); err != nil {
				t.Errorf("racing revoke: %v", err)
			}
		}}
		g, err := New(rs).ExpireGrant(ctx, "grt_1", t0.Add(time.Hour), nil)
		if err != nil || g.Status != StatusRevoked || g.RevocationReason != ReasonOutOfBand || rs.appends != 1 {
			t.Fatalf("after the race: %+v, %v, %d appends", g, err, rs.appends)
		}
		mustVerify(t, base)
	})
}

// TestStoresConcurrentAppends: several stores on one ledger, as several
// processes would have, append at once; they race on one grant too.
func TestStoresConcurrentAppends(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		ledgers := []*Ledger{st.l}
		for range 2 {
			l, err := Open(ctx, st.location)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			ledgers = append(ledgers, l)
		}
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_contended"), t0); err != nil {
			t.Fatal(err)
		}
		const perStore = 20
		var wg sync.WaitGroup
		errs := make(chan error, 3*len(ledgers)*perStore)
		for i, l := range ledgers {
			for j := range perStore {
				wg.Go(func() {
					_, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d_%02d", i, j)), t0)
					errs <- err
				})
				wg.Go(func() {
					_, err := l.RecordApproval(ctx, testApproval(fmt.Sprintf("apr_%d_%02d", i, j)), t0)
					errs <- err
				})
				wg.Go(func() {
					_, err := l.RevokeGrant(ctx, "grt_contended", t0.Add(time.Minute), ReasonOutOfBand, fmt.Sprintf("store %d", i), nil)
					errs <- err
				})
			}
		}
		for range 3 {
			wg.Go(func() {
				r, err := st.l.Verify(ctx)
				if err != nil || !r.OK || r.Events != r.Head.Seq {
					errs <- fmt.Errorf("Verify during appends = %+v, %v", r, err)
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
		r := mustVerify(t, ledgers[1])
		if want := int64(1 + 2*len(ledgers)*perStore + 1); r.Events != want {
			t.Fatalf("%d events, want %d", r.Events, want)
		}
		revocations := 0
		st.l.Store().Events(ctx, func(e Event) error {
			if e.Type == EventGrantRevoked {
				revocations++
			}
			return nil
		})
		if revocations != 1 {
			t.Fatalf("%d revocations of one grant, want 1", revocations)
		}
	})
}

func TestPostgresEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, srv, db := openPostgresTestLedger(t)
	l.IssueGrant(ctx, testGrant("grt_1"), t0)
	l.IssueGrant(ctx, testGrant("grt_2"), t0)
	// As the superuser: the triggers stop the database's owner as well.
	for _, stmt := range []string{
		`UPDATE events SET data = '{}' WHERE seq = 1`,
		`UPDATE events SET seq = 10 WHERE seq = 2`,
		`DELETE FROM events WHERE seq = 2`,
		`DELETE FROM events`,
		// With the tables that refer to events, so that only the trigger stops it.
		`TRUNCATE events, grants, approvals`,
		`TRUNCATE events CASCADE`,
	} {
		err := srv.Exec(ctx, db, stmt)
		if err == nil || !strings.Contains(err.Error(), "ledger events are append-only") {
			t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
		}
	}
	if r := mustVerify(t, l); r.Events != 2 {
		t.Fatalf("%d events left, want 2", r.Events)
	}
}

// buildPostgresTamperFixture writes the ten events of buildTamperFixture to a
// new PostgreSQL ledger.
func buildPostgresTamperFixture(t testing.TB) (*Ledger, *pgtest.Server, string) {
	t.Helper()
	ctx := context.Background()
	l, srv, db := openPostgresTestLedger(t)
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
	return l, srv, db
}

// Tampering as a superuser would: switch the triggers off, edit, switch them
// on. ALL: the foreign keys from the current-state tables, enforced by
// triggers too, refuse deleting or renumbering the events they point to.
const (
	pgTriggersOff = `ALTER TABLE events DISABLE TRIGGER ALL`
	pgTriggersOn  = `ALTER TABLE events ENABLE TRIGGER ALL`
)

func TestPostgresVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	forged := Event{Seq: 11, At: t0, Type: EventGrantIssued, Subject: "grt_forged", Data: []byte(`{"id":"grt_forged"}`)}
	tests := []struct {
		name     string
		sql      []string
		refused  string // the tampering must fail with this error instead
		firstBad int64
		problem  []string
	}{
		{name: "intact"},
		{
			name:     "one event's data changed",
			sql:      []string{pgTriggersOff, `UPDATE events SET data = replace(data, 'svc-payments-api', 'svc-attacker') WHERE seq = 4`, pgTriggersOn},
			firstBad: 4, problem: []string{"event 4 was altered"},
		},
		{
			name:     "one event's time changed",
			sql:      []string{pgTriggersOff, `UPDATE events SET at = '2026-03-01T08:59:59Z' WHERE seq = 7`, pgTriggersOn},
			firstBad: 7, problem: []string{"event 7 was altered"},
		},
		{
			name:     "field boundary moved",
			sql:      []string{pgTriggersOff, `UPDATE events SET type = type || chr(31) || subject, subject = '' WHERE seq = 3`, pgTriggersOn},
			firstBad: 3, problem: []string{"event 3 was altered"},
		},
		{
			name:     "one event deleted",
			sql:      []string{pgTriggersOff, `DELETE FROM events WHERE seq = 6`, pgTriggersOn},
			firstBad: 6, problem: []string{"event 6 is missing"},
		},
		{
			name: "two events swapped",
			sql: []string{pgTriggersOff, `UPDATE events e SET at = o.at, type = o.type, subject = o.subject, data = o.data,
	prev_hash = o.prev_hash || '-', hash = o.hash
FROM events o WHERE e.seq IN (3, 5) AND o.seq = 8 - e.seq`,
				`UPDATE events SET prev_hash = rtrim(prev_hash, '-') WHERE seq IN (3, 5)`, pgTriggersOn},
			firstBad: 3, problem: []string{"event 3 does not link"},
		},
		{
			name:     "events renumbered after a deletion",
			sql:      []string{pgTriggersOff, `DELETE FROM events WHERE seq = 6`, `UPDATE events SET seq = seq - 1 WHERE seq > 6`, pgTriggersOn},
			firstBad: 6, problem: []string{"event 6 does not link"},
		},
		{
			name:     "tail cut",
			sql:      []string{pgTriggersOff, `DELETE FROM events WHERE seq > 8`, pgTriggersOn},
			firstBad: 9, problem: []string{"the log ends at event 8 but the recorded head is event 10"},
		},
		{
			name: "event forged after the head",
			sql: []string{fmt.Sprintf(`INSERT INTO events SELECT 11, '%s', '%s', '%s', '%s', hash, '%s' FROM events WHERE seq = 10`,
				formatAt(forged.At), forged.Type, forged.Subject, forged.Data, "HASH")},
			firstBad: 11, problem: []string{"added outside governed"},
		},
		{
			name:     "head hash changed",
			sql:      []string{`UPDATE ledger_head SET hash = 'feed'`},
			firstBad: 10, problem: []string{"recorded head hash"},
		},
		{
			name:     "grant row payload edited",
			sql:      []string{`UPDATE grants SET data = replace(data, 'SEC-101', 'SEC-999') WHERE id = 'grt_4'`},
			firstBad: 6, problem: []string{`grant "grt_4"`, "(6)"},
		},
		{
			name:     "grant row put back to an earlier event",
			sql:      []string{`UPDATE grants SET seq = 1, data = (SELECT data FROM events WHERE seq = 1) WHERE id = 'grt_1'`},
			firstBad: 5, problem: []string{`grant "grt_1"`, "says event 1 but its last event is 5"},
		},
		{
			name:     "grant row deleted",
			sql:      []string{`DELETE FROM grants WHERE id = 'grt_5'`},
			firstBad: 9, problem: []string{`grant "grt_5" has events`, "no current-state row"},
		},
		{
			name:     "approval row edited",
			sql:      []string{`UPDATE approvals SET data = replace(data, '"withdrawn"', '"active"') WHERE id = 'apr_1'`},
			firstBad: 7, problem: []string{`approval "apr_1"`},
		},
		{
			name:    "filter column cannot be edited",
			sql:     []string{`UPDATE grants SET status = 'active' WHERE id = 'grt_1'`},
			refused: `column "status" can only be updated to DEFAULT`,
		},
		{
			name:    "expiry column cannot disagree with the payload",
			sql:     []string{`UPDATE grants SET expires_at = '2099-01-01T00:00:00Z' WHERE id = 'grt_1'`},
			refused: `grants_expires_at_payload`,
		},
		{
			name:     "filter column turned into a plain one and edited",
			sql:      []string{`ALTER TABLE grants ALTER COLUMN status DROP EXPRESSION`, `UPDATE grants SET status = 'active' WHERE id = 'grt_1'`},
			firstBad: 0, problem: []string{"the definition of the grants table was altered"},
		},
		{
			name:     "expiry check dropped",
			sql:      []string{`ALTER TABLE approvals DROP CONSTRAINT approvals_expires_at_payload`},
			firstBad: 0, problem: []string{"the definition of the approvals table was altered"},
		},
		{
			name:     "triggers disabled",
			sql:      []string{`ALTER TABLE events DISABLE TRIGGER USER`},
			firstBad: 0, problem: []string{"append-only triggers are disabled"},
		},
		{
			name:    "an event referred to by a current-state row cannot be deleted even so",
			sql:     []string{`ALTER TABLE events DISABLE TRIGGER USER`, `DELETE FROM events WHERE seq = 6`},
			refused: `violates foreign key constraint "grants_seq_fkey"`,
			problem: []string{"append-only triggers are disabled"},
		},
		{
			name:     "truncate trigger disabled",
			sql:      []string{`ALTER TABLE events DISABLE TRIGGER events_no_truncate`},
			firstBad: 0, problem: []string{"append-only triggers are disabled"},
		},
		{
			name:     "trigger set to fire only in replicas",
			sql:      []string{`ALTER TABLE events ENABLE REPLICA TRIGGER events_no_delete`},
			firstBad: 0, problem: []string{"append-only triggers are disabled"},
		},
		{
			name:     "data changed while the triggers are still off",
			sql:      []string{`ALTER TABLE events DISABLE TRIGGER USER`, `UPDATE events SET data = replace(data, 'SEC-101', 'SEC-666') WHERE seq = 2`},
			firstBad: 2, problem: []string{"event 2 was altered"},
		},
		{
			name:     "trigger dropped",
			sql:      []string{`DROP TRIGGER events_no_update ON events`},
			firstBad: 0, problem: []string{"append-only triggers are missing"},
		},
		{
			name:     "triggers and function dropped",
			sql:      []string{`DROP FUNCTION events_append_only() CASCADE`},
			firstBad: 0, problem: []string{"append-only triggers are missing"},
		},
		{
			name: "function replaced by a harmless one",
			sql: []string{`CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RETURN coalesce(NEW, OLD);
END
$$`},
			firstBad: 0, problem: []string{"append-only triggers were altered"},
		},
		{
			name: "trigger recreated to fire after the fact",
			sql: []string{`DROP TRIGGER events_no_delete ON events`,
				`CREATE TRIGGER events_no_delete AFTER DELETE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()`},
			firstBad: 0, problem: []string{"append-only triggers were altered"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l, srv, db := buildPostgresTamperFixture(t)
			sql := slices.Clone(tt.sql)
			for i, st := range sql {
				if strings.Contains(st, "'HASH'") { // the forged event, hashed right
					var prev string
					conn, err := pgx.Connect(ctx, srv.URL(db))
					if err != nil {
						t.Fatal(err)
					}
					conn.QueryRow(ctx, `SELECT hash FROM events WHERE seq = 10`).Scan(&prev)
					conn.Close(ctx)
					sql[i] = strings.Replace(st, "'HASH'", "'"+HashEvent(prev, forged)+"'", 1)
				}
			}
			err := srv.Exec(ctx, db, sql...)
			if tt.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tt.refused) {
					t.Fatalf("tampering: err = %v, want %q", err, tt.refused)
				}
			} else if err != nil {
				t.Fatalf("tampering: %v", err)
			}
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			wantOK := tt.firstBad == 0 && len(tt.problem) == 0
			if r.OK != wantOK || r.FirstBad != tt.firstBad {
				t.Fatalf("report = %+v, want OK %v, first bad %d", r, wantOK, tt.firstBad)
			}
			for _, p := range tt.problem {
				if !strings.Contains(r.Problem, p) {
					t.Fatalf("problem %q does not mention %q", r.Problem, p)
				}
			}
			if wantOK && (r.Events != 10 || r.Head.Seq != 10 || len(r.Head.Hash) != 64) {
				t.Fatalf("intact report = %+v", r)
			}
		})
	}
}

func TestPostgresMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, location := newPostgresDatabase(t)

	// OpenExisting on an empty database: no ledger, and nothing created.
	if _, err := OpenExisting(ctx, location); err == nil || err.Error() != "no governed ledger at "+redactPostgresURL(location) {
		t.Fatalf("OpenExisting on an empty database: %v", err)
	}
	tables := func() []string {
		t.Helper()
		conn, err := pgx.Connect(ctx, location)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, _ := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := tables(); len(got) != 0 {
		t.Fatalf("OpenExisting created %v", got)
	}

	// Opening twice, the second time as OpenExisting, migrates once.
	for _, openFn := range []func(context.Context, string) (*Ledger, error){Open, OpenExisting, Open} {
		l, err := openFn(ctx, location)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.IssueGrant(ctx, testGrant(NewGrantID()), t0); err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	if got, want := tables(), []string{"approvals", "events", "grants", "ledger_head", "schema_migrations"}; !slices.Equal(got, want) {
		t.Fatalf("tables %v, want %v", got, want)
	}
	conn, err := pgx.Connect(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(versions) != len(pgMigrations) || versions[len(versions)-1] != int32(len(pgMigrations)) {
		t.Fatalf("schema_migrations holds %v, %v; want 1 to %d", versions, err, len(pgMigrations))
	}
	l, err := OpenExisting(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if r := mustVerify(t, l); r.Events != 3 {
		t.Fatalf("%d events, want 3", r.Events)
	}
	l.Close()

	// A schema newer than this build: refused, untouched.
	newer := len(pgMigrations) + 1
	if err := srv.Exec(ctx, db, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, 'later')`, newer)); err != nil {
		t.Fatal(err)
	}
	for _, openFn := range []func(context.Context, string) (*Ledger, error){Open, OpenExisting} {
		_, err := openFn(ctx, location)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("its schema is version %d, newer than this build of governed knows (%d)", newer, len(pgMigrations))) {
			t.Fatalf("opening a newer schema: %v", err)
		}
	}
}

// TestPostgresConcurrentFirstOpen: processes that open a new ledger at the same
// time create its schema once.
func TestPostgresConcurrentFirstOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, _, location := newPostgresDatabase(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := openPostgres(ctx, location, true)
			if err == nil {
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent first open: %v", err)
		}
	}
}

func TestPostgresForeignDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name  string
		setup []string
		want  string // "" when the ledger opens
	}{
		{"a table of the ledger's name", []string{`CREATE TABLE events (id serial, body text)`}, "is a PostgreSQL database but not a governed ledger"},
		{"another tool's schema_migrations", []string{`CREATE TABLE schema_migrations (version bigint, dirty boolean)`}, "is a PostgreSQL database but not a governed ledger"},
		{"unrelated tables", []string{`CREATE TABLE users (name text)`}, ""},
	}
	for _, tt := range tests {
		srv, db, location := newPostgresDatabase(t)
		if err := srv.Exec(ctx, db, tt.setup...); err != nil {
			t.Fatal(err)
		}
		l, err := Open(ctx, location)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			mustVerify(t, l)
			l.Close()
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Open = %v, want %q", tt.name, err, tt.want)
		}
		if err == nil {
			l.Close()
		}
	}
}

// TestPostgresSearchPath: the ledger lives in the schema the URL's
// search_path selects, and nothing names public.
func TestPostgresSearchPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, location := newPostgresDatabase(t)
	if err := srv.Exec(ctx, db, `CREATE SCHEMA "Gov Ledger"`, `CREATE TABLE public.events (unrelated int)`); err != nil {
		t.Fatal(err)
	}
	inSchema := location + "&search_path=%22Gov%20Ledger%22" // "Gov Ledger", quoted
	l, err := Open(ctx, inSchema)
	if err != nil {
		t.Fatalf("Open in a schema: %v", err)
	}
	defer l.Close()
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	conn, err := pgx.Connect(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM "Gov Ledger".events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("events in the schema: %d, %v", n, err)
	}
	// Without the search_path, public holds another program's events table.
	if _, err := Open(ctx, location); err == nil || !strings.Contains(err.Error(), "not a governed ledger") {
		t.Fatalf("Open in public: %v", err)
	}
	// A search_path naming no schema that exists.
	if _, err := Open(ctx, location+"&search_path=nowhere"); err == nil || !strings.Contains(err.Error(), "names no schema") {
		t.Fatalf("Open with no schema: %v", err)
	}
}

func TestOpenPostgresLocations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, db, location := newPostgresDatabase(t)

	// Both schemes open the same ledger.
	l, err := Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, err = OpenExisting(ctx, strings.Replace(location, "postgres://", "postgresql://", 1))
	if err != nil {
		t.Fatal(err)
	}
	if g, err := l.Grant(ctx, "grt_1"); err != nil || g.Seq != 1 {
		t.Fatalf("through postgresql://: %+v, %v", g, err)
	}
	if s, ok := l.Store().(*PostgresStore); !ok || strings.Contains(s.ledger, "sslmode") {
		t.Fatalf("store %T, location %q", l.Store(), s.ledger)
	}
	l.Close()
	if _, err := l.Grant(ctx, "grt_1"); err == nil || !strings.Contains(err.Error(), "closed pool") {
		t.Fatalf("a closed ledger: %v", err)
	}

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	unreachable := fmt.Sprintf("postgres://governor:s3cret-pw@127.0.0.1:%d/ledger?sslmode=disable&password=other-s3cret", closedPort)
	_, err = Open(ctx, unreachable)
	want := fmt.Sprintf("cannot reach the PostgreSQL ledger postgres://governor@127.0.0.1:%d/ledger: ", closedPort)
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unreachable server: %v\nwant it to start with %q and hold no password", err, want)
	}

	tests := []struct {
		location string
		want     string
	}{
		{strings.Replace(location, "/"+db, "/no_such_db", 1), `cannot open the PostgreSQL ledger postgres://postgres@127.0.0.1:` + strconv.Itoa(srv.Port()) + `/no_such_db: database "no_such_db" does not exist`},
		{location + "&pool_max_conns=0", "pool_max_conns"},
		{"postgres://governor:s3cret@127.0.0.1:notaport/ledger", "invalid PostgreSQL ledger location"},
	}
	for _, tt := range tests {
		_, err := Open(ctx, tt.location)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q) = %v, want it to contain %q", tt.location, err, tt.want)
		}
	}
}

func TestPostgresRefusesWhatItCannotStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _, _ := openPostgresTestLedger(t)
	nul := testGrant("grt_nul")
	nul.Justification = "a\x00b"
	if _, err := l.IssueGrant(ctx, nul, t0); err == nil || !strings.Contains(err.Error(), "U+0000") {
		t.Errorf("a NUL character: %v", err)
	}
	// A backslash followed by the text u0000 is no NUL.
	text := testGrant("grt_text")
	text.Justification = `C:\u0000`
	if _, err := l.IssueGrant(ctx, text, t0); err != nil {
		t.Errorf("the text \\u0000: %v", err)
	}
	year0 := testGrant("grt_year0")
	year0.ExpiresAt = "0000-06-01T00:00:00Z"
	if _, err := l.IssueGrant(ctx, year0, t0); err == nil || !strings.Contains(err.Error(), "before year 1") {
		t.Errorf("year 0: %v", err)
	}
	if _, err := l.IssueGrant(ctx, testGrant("grt_\xff"), t0); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Errorf("an id that is not UTF-8: %v", err)
	}
	if r := mustVerify(t, l); r.Events != 1 {
		t.Fatalf("%d events, want 1", r.Events)
	}
}

// pgWriterEnv carries, to a writer process, the ledger's URL, the writer's
// number and the time to start appending.
const pgWriterEnv = "GOVERNED_TEST_PG_WRITER"

const (
	pgWriterProcesses = 4
	pgWriterGrants    = 200
)

// TestHelperPostgresWriter is the body of a writer process started by
// TestPostgresConcurrentProcesses; it does nothing otherwise. It issues
// pgWriterGrants grants, then expires, revokes or retires each, and races the
// other writers to issue, then revoke, one shared grant.
func TestHelperPostgresWriter(t *testing.T) {
	spec := os.Getenv(pgWriterEnv)
	if spec == "" {
		return
	}
	fields := strings.Fields(spec)
	if len(fields) != 3 {
		t.Fatalf("%s=%q", pgWriterEnv, spec)
	}
	location, writer := fields[0], fields[1]
	start, _ := strconv.ParseInt(fields[2], 10, 64)
	ctx := context.Background()
	// Every writer opens the new ledger at once: the schema is created once.
	l, err := Open(ctx, location)
	if err != nil {
		t.Fatalf("writer %s: %v", writer, err)
	}
	defer l.Close()
	time.Sleep(time.Until(time.Unix(0, start)))

	if _, err := l.IssueGrant(ctx, testGrant("grt_contended"), t0); err != nil && !errors.Is(err, ErrExists) {
		t.Fatalf("writer %s: issuing the shared grant: %v", writer, err)
	}
	at := t0.Add(time.Hour)
	for i := range pgWriterGrants {
		if _, err := l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_w%s_%03d", writer, i)), t0); err != nil {
			t.Fatalf("writer %s: issue %d: %v", writer, i, err)
		}
	}
	for i := range pgWriterGrants {
		id := fmt.Sprintf("grt_w%s_%03d", writer, i)
		var err error
		switch i % 3 {
		case 0:
			_, err = l.ExpireGrant(ctx, id, at, nil)
		case 1:
			_, err = l.RevokeGrant(ctx, id, at, ReasonOutOfBand, "writer "+writer, nil)
		case 2:
			_, err = l.RetireGrant(ctx, id, at, nil)
		}
		if err != nil {
			t.Fatalf("writer %s: transition %d: %v", writer, i, err)
		}
		if i == pgWriterGrants/2 {
			if _, err := l.RevokeGrant(ctx, "grt_contended", at, ReasonOutOfBand, "writer "+writer, nil); err != nil {
				t.Fatalf("writer %s: revoking the shared grant: %v", writer, err)
			}
		}
	}
}

// TestPostgresConcurrentProcesses: separate processes append to one ledger at
// once, then one verification finds a single intact chain.
func TestPostgresConcurrentProcesses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, location := newPostgresDatabase(t)
	start := time.Now().Add(time.Second).UnixNano()
	type result struct {
		writer int
		out    []byte
		err    error
	}
	results := make(chan result, pgWriterProcesses)
	for w := range pgWriterProcesses {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperPostgresWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d", pgWriterEnv, location, w, start))
		go func() {
			out, err := cmd.CombinedOutput()
			results <- result{w, out, err}
		}()
	}
	for range pgWriterProcesses {
		r := <-results
		if r.err != nil {
			t.Errorf("writer %d: %v\n%s", r.writer, r.err, r.out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	l, err := OpenExisting(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := mustVerify(t, l)
	// Per writer: its issues and transitions; once: the shared grant's issue and revocation.
	if want := int64(pgWriterProcesses*2*pgWriterGrants + 2); r.Events != want || r.Head.Seq != want {
		t.Fatalf("report = %+v, want %d events", r, want)
	}
	counts := map[string]int{}
	writers := map[string]bool{}
	l.Store().Events(ctx, func(e Event) error {
		if e.Subject == "grt_contended" {
			counts[e.Type]++
		}
		if len(e.Subject) > 5 && strings.HasPrefix(e.Subject, "grt_w") {
			writers[e.Subject[:6]] = true
		}
		return nil
	})
	if counts[EventGrantIssued] != 1 || counts[EventGrantRevoked] != 1 || len(writers) != pgWriterProcesses {
		t.Fatalf("shared grant events %v, writers %v", counts, writers)
	}
	all, err := l.Grants(ctx, GrantFilter{})
	if err != nil || len(all) != pgWriterProcesses*pgWriterGrants+1 {
		t.Fatalf("%d grants, %v; want %d", len(all), err, pgWriterProcesses*pgWriterGrants+1)
	}
	byStatus := map[string]int{}
	retired := 0
	for _, g := range all {
		byStatus[g.Status]++
		if !g.RetiredAt.IsZero() {
			retired++
		}
	}
	// i%3: 0 expired (67 of 200), 1 revoked (67), 2 retired, so revoked (66).
	if byStatus[StatusExpired] != pgWriterProcesses*67 || byStatus[StatusRevoked] != pgWriterProcesses*(67+66)+1 || retired != pgWriterProcesses*66 {
		t.Fatalf("statuses %v, %d retired", byStatus, retired)
	}
}
