package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The conformance suite: every test here runs on a new ledger of every kind of
// store. What only one store does is tested in the file named for it.

// storeUnderTest is a new, empty ledger of one kind, with its location and raw
// SQL access to its database, as someone with direct access could have.
type storeUnderTest struct {
	name     string // as in testStores
	l        *Ledger
	location string
	dialect  dialect
	// exec runs statements one after another on one connection.
	exec func(stmts ...string) error
	// queryInt returns the single number that q selects.
	queryInt func(q string) (int64, error)
	// explain returns the plan the database chooses for q with args, as
	// text, where a full read of a table would be the planner's last resort.
	explain func(q string, args []any) (string, error)
	// triggersOff and triggersOn take the append-only triggers away and put
	// them back as they were, as someone with full access could.
	triggersOff, triggersOn []string
	// appender opens the ledger as the least-privileged role a pipeline
	// appends with: for PostgreSQL a role that may only insert events and
	// keep the head and the current state; for SQLite, whoever can write
	// the file.
	appender func(t testing.TB) *Ledger
}

// testStores opens ledgers of every kind.
var testStores = []struct {
	name string
	open func(t testing.TB) storeUnderTest
}{
	{"sqlite", func(t testing.TB) storeUnderTest {
		l, path := openTestLedger(t)
		db := rawDB(t, path)
		return storeUnderTest{
			l: l, location: path, dialect: sqliteDialect,
			exec: func(stmts ...string) error {
				ctx := context.Background()
				conn, err := db.Conn(ctx) // one connection: temporary tables last
				if err != nil {
					return err
				}
				defer conn.Close()
				for _, st := range stmts {
					if _, err := conn.ExecContext(ctx, st); err != nil {
						return fmt.Errorf("%s: %w", st, err)
					}
				}
				return nil
			},
			queryInt: func(q string) (n int64, err error) {
				err = db.QueryRow(q).Scan(&n)
				return n, err
			},
			explain: func(q string, args []any) (string, error) {
				rows, err := db.Query(`EXPLAIN QUERY PLAN `+q, args...)
				if err != nil {
					return "", err
				}
				defer rows.Close()
				var plan []string
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						return "", err
					}
					plan = append(plan, detail)
				}
				return strings.Join(plan, "\n"), rows.Err()
			},
			triggersOff: []string{`DROP TRIGGER events_no_update`, `DROP TRIGGER events_no_delete`},
			triggersOn:  []string{sqliteTriggerNoUpdate, sqliteTriggerNoDelete},
			appender: func(t testing.TB) *Ledger {
				l, err := Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
				return l
			},
		}
	}},
	{"postgres", func(t testing.TB) storeUnderTest {
		l, srv, db := openPostgresTestLedger(t)
		ctx := context.Background()
		return storeUnderTest{
			l: l, location: srv.URL(db), dialect: pgDialect,
			exec: func(stmts ...string) error {
				return srv.Exec(ctx, db, stmts...)
			},
			queryInt: func(q string) (n int64, err error) {
				conn, err := pgx.Connect(ctx, srv.URL(db))
				if err != nil {
					return 0, err
				}
				defer conn.Close(ctx)
				err = conn.QueryRow(ctx, q).Scan(&n)
				return n, err
			},
			explain: func(q string, args []any) (string, error) {
				conn, err := pgx.Connect(ctx, srv.URL(db))
				if err != nil {
					return "", err
				}
				defer conn.Close(ctx)
				// A table of a few rows is read whole unless that is ruled out.
				if _, err := conn.Exec(ctx, `SET enable_seqscan = off`); err != nil {
					return "", err
				}
				rows, err := conn.Query(ctx, `EXPLAIN `+q, args...)
				if err != nil {
					return "", err
				}
				defer rows.Close()
				var plan []string
				for rows.Next() {
					var line string
					if err := rows.Scan(&line); err != nil {
						return "", err
					}
					plan = append(plan, line)
				}
				return strings.Join(plan, "\n"), rows.Err()
			},
			// As a superuser would. ALL: the foreign keys from the
			// current-state tables, enforced by triggers too, would refuse
			// deleting or renumbering the events they point to.
			triggersOff: []string{`ALTER TABLE events DISABLE TRIGGER ALL`},
			triggersOn:  []string{`ALTER TABLE events ENABLE TRIGGER ALL`},
			appender: func(t testing.TB) *Ledger {
				return leastPrivileged(t, srv, db)
			},
		}
	}},
}

// forEachStore runs test, in parallel, on a new ledger of every kind.
func forEachStore(t *testing.T, test func(t *testing.T, st storeUnderTest)) {
	t.Helper()
	for _, kind := range testStores {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			st := kind.open(t)
			st.name = kind.name
			test(t, st)
		})
	}
}

func TestStoresIssueGrant(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		if h, err := l.Head(ctx); err != nil || h != (Head{}) {
			t.Fatalf("head of an empty ledger = %+v, %v", h, err)
		}
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
		if h, err := l.Head(ctx); err != nil || h != (Head{Seq: 2, Hash: events[1].Hash}) {
			t.Fatalf("head = %+v, %v; want event 2, %s", h, err, events[1].Hash)
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
			{"expire", func() (Grant, error) { return dropAppended(l.ExpireGrant(ctx, "grt_expire", at, nil)) }, StatusExpired, ReasonExpired, false, EventGrantExpired},
			{"revoke", func() (Grant, error) {
				return dropAppended(l.RevokeGrant(ctx, "grt_revoke", at, ReasonOutOfBand, "INC-7", nil))
			}, StatusRevoked, ReasonOutOfBand, false, EventGrantRevoked},
			{"retire", func() (Grant, error) { return dropAppended(l.RetireGrant(ctx, "grt_retire", at, nil)) }, StatusRevoked, ReasonDestroyed, true, EventGrantRetired},
			{"revoke expired is a no-op", func() (Grant, error) {
				return dropAppended(l.RevokeGrant(ctx, "grt_expire", at, ReasonOutOfBand, "", nil))
			}, StatusExpired, ReasonExpired, false, ""},
			{"retire expired keeps the expiry", func() (Grant, error) { return dropAppended(l.RetireGrant(ctx, "grt_expire", at, nil)) }, StatusExpired, ReasonExpired, true, EventGrantRetired},
			{"retire retired is a no-op", func() (Grant, error) { return dropAppended(l.RetireGrant(ctx, "grt_retire", at, nil)) }, StatusRevoked, ReasonDestroyed, true, ""},
			{"expire revoked is a no-op", func() (Grant, error) { return dropAppended(l.ExpireGrant(ctx, "grt_revoke", at, nil)) }, StatusRevoked, ReasonOutOfBand, false, ""},
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
				if err := l.Store().Events(ctx, func(e Event) error { last = e; return nil }); err != nil {
					t.Fatal(err)
				}
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
			"expire": func() (Grant, error) { return dropAppended(l.ExpireGrant(ctx, "grt_none", t0, nil)) },
			"revoke": func() (Grant, error) {
				return dropAppended(l.RevokeGrant(ctx, "grt_none", t0, ReasonOutOfBand, "", nil))
			},
			"retire": func() (Grant, error) { return dropAppended(l.RetireGrant(ctx, "grt_none", t0, nil)) },
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
		if _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0.Add(3*time.Hour)); !errors.Is(err, ErrExists) {
			t.Fatalf("re-recording a withdrawn approval: err = %v, want ErrExists", err)
		}
		if _, err := l.RecordApproval(ctx, testApproval("apr_0"), t0); err != nil {
			t.Fatal(err)
		}
		stored, err := l.Approval(ctx, "apr_1")
		if err != nil || fmt.Sprintf("%+v", stored) != fmt.Sprintf("%+v", w) {
			t.Fatalf("stored = %+v, %v; want the withdrawn record unchanged", stored, err)
		}
		if _, err := l.Approval(ctx, "apr_none"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown approval: err = %v", err)
		}
		all, err := storedApprovals(ctx, l.Store())
		if err != nil || len(all) != 2 || all[0].ID != "apr_0" || all[1].ID != "apr_1" || all[1].Seq != 3 {
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
		if _, _, err := l.RevokeGrant(ctx, "grt_d", t0, ReasonOutOfBand, "", nil); err != nil {
			t.Fatal(err)
		}

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

// TestStoresGrantsToReconcile: the filters a reconciliation uses find the
// grants past their expiry that are still in force, those under a withdrawn
// approval and those whose revocation is pending, each through an index.
func TestStoresGrantsToReconcile(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		now := t0.Add(10 * time.Hour)
		mk := func(id string, expires time.Time, approval string) {
			t.Helper()
			g := testGrant(id)
			g.ExpiresAt, g.ApprovalID = expires.Format(time.RFC3339Nano), approval
			if _, err := l.IssueGrant(ctx, g, t0); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{"apr_kept", "apr_gone"} {
			if _, err := l.RecordApproval(ctx, testApproval(id), t0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.WithdrawApproval(ctx, "apr_gone", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		mk("grt_due", now.Add(-time.Hour), "")
		mk("grt_at_now", now, "")                           // expires exactly now: past, as StatusAt says
		mk("grt_later", now.Add(time.Nanosecond), "")       // still in force at now
		mk("grt_recorded", now.Add(-2*time.Hour), "")       // its expiry is recorded below
		mk("grt_withdrawn", now.Add(time.Hour), "apr_gone") // approval withdrawn, not yet revoked
		mk("grt_kept", now.Add(time.Hour), "apr_kept")
		mk("grt_both", now.Add(-time.Hour), "apr_gone") // past its expiry and under a withdrawn approval
		mk("grt_stuck", now.Add(time.Hour), "")         // its revocation stays pending below
		mk("grt_done", now.Add(time.Hour), "")          // its revocation completes below
		pending := testGrant("grt_pending")
		pending.ExpiresAt = now.Add(-time.Minute).Format(time.RFC3339)
		if _, err := l.RequestGrant(ctx, pending, t0); err != nil {
			t.Fatal(err)
		}
		refused := errors.New("connection refused")
		steps := []func() error{
			func() error { _, _, err := l.ExpireGrant(ctx, "grt_recorded", now, nil); return err },
			func() error {
				_, _, err := l.RevokeGrant(ctx, "grt_stuck", now, ReasonOutOfBand, "INC-1", refused)
				return err
			},
			func() error {
				_, _, err := l.RevokeGrant(ctx, "grt_done", now, ReasonOutOfBand, "INC-2", refused)
				return err
			},
			func() error { _, _, err := l.CompleteRevocation(ctx, "grt_done", now, ""); return err },
		}
		for i, step := range steps {
			if err := step(); err != nil {
				t.Fatalf("step %d: %v", i+1, err)
			}
		}

		tests := []struct {
			name  string
			f     GrantFilter
			want  []string
			index string // the index the query must use
		}{
			{"overdue", GrantFilter{Overdue: now}, []string{"grt_at_now", "grt_both", "grt_due", "grt_pending"}, "grants_status_expires"},
			{"overdue a nanosecond before", GrantFilter{Overdue: now.Add(-time.Nanosecond)}, []string{"grt_both", "grt_due", "grt_pending"}, "grants_status_expires"},
			{"overdue of one principal", GrantFilter{Overdue: now, Principal: "svc-nobody"}, []string{}, ""},
			{"approval withdrawn", GrantFilter{ApprovalWithdrawn: true}, []string{"grt_both", "grt_withdrawn"}, "grants_status_expires"},
			{"revocation pending", GrantFilter{RevokePending: true}, []string{"grt_stuck"}, "grants_revoke_pending"},
		}
		// A read of a whole table: SQLite's SCAN without an index, PostgreSQL's
		// sequential scan.
		fullRead := regexp.MustCompile(`(?m)(SCAN (grants|approvals)( AS \w+)?$|Seq Scan on (grants|approvals))`)
		for _, tt := range tests {
			got, err := l.Grants(ctx, tt.f)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			ids := []string{}
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, ids, tt.want)
			}
			if tt.index == "" {
				continue
			}
			q, args := st.dialect.grantsQuery(tt.f)
			plan, err := st.explain(q, args)
			if err != nil {
				t.Fatalf("%s: explaining %s: %v", tt.name, q, err)
			}
			if !strings.Contains(plan, tt.index) || fullRead.MatchString(plan) {
				t.Errorf("%s: the query does not find its grants through %s alone:\n%s\n%s", tt.name, tt.index, q, plan)
			}
			if tt.f.ApprovalWithdrawn && !regexp.MustCompile(`approvals_pkey|sqlite_autoindex_approvals_1`).MatchString(plan) {
				t.Errorf("%s: approvals are not looked up by their key:\n%s", tt.name, plan)
			}
		}
	})
}

// TestStoresGrantsAsListed: the filters the governed_grants data source and
// governed grants use (principal as an identity, status as of an instant,
// entitlement) select in SQL exactly what the same filters select when every
// grant is read and judged in Go, and find their rows through an index.
func TestStoresGrantsAsListed(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		now := t0.Add(10 * time.Hour)
		// Principals as people write them: the same identity in other cases
		// and Unicode forms, with spaces around it, and letters that fold to
		// ASCII or from it.
		principals := []string{"svc-a", "SVC-A", " svc-a ", "Svc-A", "svc-ä", "svc-ä", "SVC-Ä",
			"svc a", "straße", "STRASSE", "strasse", "Ꭰ", "ꭰ", "svc-b", "svc_b", "SVC[B]", "svc-~!"}
		expiries := []time.Time{now.Add(time.Hour), now.Add(-time.Hour), now, now.Add(time.Nanosecond), now.Add(time.Second)}
		entitlements := []string{"read", "write"}
		n := 0
		for i, p := range principals {
			for j, exp := range expiries {
				n++
				g := testGrant(fmt.Sprintf("grt_%03d", n))
				g.Principal, g.Entitlement = p, entitlements[(i+j)%2]
				g.ExpiresAt = exp.Format(time.RFC3339Nano)
				var err error
				switch (i + j) % 5 {
				case 0, 1:
					_, err = l.IssueGrant(ctx, g, t0)
				case 2:
					_, err = l.RequestGrant(ctx, g, t0)
				case 3:
					if _, err = l.IssueGrant(ctx, g, t0); err == nil {
						_, _, err = l.RevokeGrant(ctx, g.ID, t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil)
					}
				case 4:
					if _, err = l.IssueGrant(ctx, g, t0); err == nil {
						_, _, err = l.ExpireGrant(ctx, g.ID, now.Add(-2*time.Hour), nil)
					}
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		all, err := l.Grants(ctx, GrantFilter{})
		if err != nil {
			t.Fatal(err)
		}
		// want is the filter judged in Go over every grant.
		want := func(f GrantFilter) []string {
			ids := []string{}
			for _, g := range all {
				if f.Matches(g) {
					ids = append(ids, g.ID)
				}
			}
			return ids
		}
		var filters []GrantFilter
		for _, p := range append(principals, "nobody", "SVC-ä") {
			filters = append(filters, GrantFilter{Identity: p})
		}
		for _, status := range []string{StatusActive, StatusPending, StatusExpired, StatusRevoked} {
			for _, at := range append(expiries, now.Add(-time.Nanosecond), now.Add(-time.Second)) {
				filters = append(filters, GrantFilter{StatusAt: status, At: at})
			}
			for _, e := range entitlements {
				filters = append(filters, GrantFilter{Entitlement: e, StatusAt: status, At: now},
					GrantFilter{Entitlement: e, StatusAt: status, At: now, Identity: "svc-a"})
			}
		}
		for _, f := range filters {
			var got []string
			if err := l.EachGrant(ctx, f, func(g Grant) error { got = append(got, g.ID); return nil }); err != nil {
				t.Fatalf("%+v: %v", f, err)
			}
			if got == nil {
				got = []string{}
			}
			if w := want(f); !slices.Equal(got, w) {
				t.Errorf("%+v: got %v, want %v", f, got, w)
			}
		}
		// Spot checks that do not lean on Matches.
		ids := func(f GrantFilter) []string {
			t.Helper()
			gs, err := l.Grants(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, g := range gs {
				out = append(out, g.Principal)
			}
			slices.Sort(out)
			return slices.Compact(out)
		}
		if got, w := ids(GrantFilter{Identity: "SVC-A"}), []string{" svc-a ", "SVC-A", "Svc-A", "svc-a"}; !slices.Equal(got, w) {
			t.Errorf("identity svc-a: got principals %q, want %q", got, w)
		}
		if got, w := ids(GrantFilter{Identity: "svc-ä"}), []string{"SVC-Ä", "svc-ä", "svc-ä"}; !slices.Equal(got, w) {
			t.Errorf("identity svc-ä: got principals %q, want %q", got, w)
		}
		if got, err := l.Grants(ctx, GrantFilter{StatusAt: StatusActive, At: now}); err != nil || len(got) == 0 {
			t.Fatalf("active at now: %d grants, %v", len(got), err)
		} else {
			for _, g := range got {
				if exp, _ := g.Expiry(); g.Status != StatusActive || !exp.After(now) {
					t.Errorf("active at now: %s is %s until %s", g.ID, g.Status, g.ExpiresAt)
				}
			}
		}

		// A read of a whole table: SQLite's SCAN without an index, PostgreSQL's
		// sequential scan.
		fullRead := regexp.MustCompile(`(?m)(SCAN (grants|approvals)( AS \w+)?$|Seq Scan on (grants|approvals))`)
		for _, tt := range []struct {
			f       GrantFilter
			indexes []string
			avoid   []string
		}{
			{GrantFilter{Identity: "svc-a"}, []string{"grants_principal ", "grants_principal_unfolded"}, nil},
			// A principal's grants are few, an entitlement's may be most of
			// the ledger: the query starts from the principal.
			// (SQLite's choice; PostgreSQL's planner goes by its statistics.)
			{GrantFilter{Identity: "svc-a", Entitlement: "read"}, []string{"grants_principal ", "grants_principal_unfolded"}, []string{"grants_entitlement"}},
			{GrantFilter{Identity: "svc-a", Entitlement: "read", StatusAt: StatusExpired, At: now}, []string{"grants_principal ", "grants_principal_unfolded"}, []string{"grants_entitlement", "grants_status_expires"}},
			{GrantFilter{Entitlement: "read"}, []string{"grants_entitlement_status"}, nil},
			{GrantFilter{Entitlement: "read", StatusAt: StatusActive, At: now}, []string{"grants_entitlement_status"}, nil},
			{GrantFilter{Entitlement: "read", StatusAt: StatusRevoked, At: now}, []string{"grants_entitlement_status"}, nil},
			{GrantFilter{StatusAt: StatusActive, At: now}, []string{"grants_status_expires"}, nil},
			{GrantFilter{StatusAt: StatusExpired, At: now}, []string{"grants_status_expires"}, nil},
		} {
			q, args := st.dialect.grantsQuery(tt.f)
			plan, err := st.explain(q, args)
			if err != nil {
				t.Fatalf("%+v: explaining %s: %v", tt.f, q, err)
			}
			for _, index := range tt.indexes {
				if !strings.Contains(plan+"\n", index) || fullRead.MatchString(plan) {
					t.Errorf("%+v: the query does not find its grants through %s:\n%s\n%s", tt.f, index, q, plan)
				}
			}
			for _, index := range tt.avoid {
				if st.name == "sqlite" && strings.Contains(plan, index) {
					t.Errorf("%+v: the query reads %s:\n%s\n%s", tt.f, index, q, plan)
				}
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
		g.Status = StatusRevoked
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
// what its current-state row says: the rows hold no payload, and a filter
// column that lies cannot put a grant in a list it does not belong to.
// Verify reports the edited row.
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
			`UPDATE grants SET principal = 'svc-other' WHERE id = 'grt_1'`,
			`UPDATE approvals SET status = 'withdrawn' WHERE id = 'apr_1'`,
		); err != nil {
			t.Fatal(err)
		}
		if g, err := l.Grant(ctx, "grt_1"); err != nil || g.TicketID != "SEC-101" || fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", issued) {
			t.Fatalf("Grant after the row was edited = %+v, %v", g, err)
		}
		if a, err := l.Approval(ctx, "apr_1"); err != nil || a.Status != rec.Status {
			t.Fatalf("Approval after the row was edited = %+v, %v", a, err)
		}
		// The lists select rows by their columns, which Verify checks, and
		// take each grant from its event.
		if all, err := l.Grants(ctx, GrantFilter{}); err != nil || len(all) != 1 || fmt.Sprintf("%+v", all[0]) != fmt.Sprintf("%+v", issued) {
			t.Fatalf("Grants = %+v, %v", all, err)
		}
		if some, err := l.Grants(ctx, GrantFilter{Principal: "svc-other"}); err != nil || len(some) != 0 {
			t.Fatalf("Grants of the principal the row names = %+v, %v; want none", some, err)
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
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
			t.Fatal(err)
		}
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

// A ledger whose recorded head does not match its log refuses appends until a
// discontinuity is recorded; after it, appends work again and Verify goes on
// reporting the original damage at its sequence number.
func TestStoresDiscontinuityKeepsDamageVisible(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		tamper   string
		firstBad int64
		problem  string
	}{
		{"head moved on", `UPDATE ledger_head SET seq = seq + 1`, 3, "the log ends at event 2 but the recorded head is event 3"},
		{"head moved back", `UPDATE ledger_head SET seq = 1`, 2, "the recorded head is event 1 but the log goes on to event 2"},
		{"head hash changed", `UPDATE ledger_head SET hash = 'feed'`, 2, "the recorded head hash differs from the hash of event 2"},
		{"head missing", `DELETE FROM ledger_head`, 2, "the recorded head is missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, st storeUnderTest) {
				ctx := context.Background()
				for _, id := range []string{"grt_1", "grt_2"} {
					if _, err := st.l.IssueGrant(ctx, testGrant(id), t0); err != nil {
						t.Fatal(err)
					}
				}
				if _, ok, err := st.l.RecordDiscontinuity(ctx, t0, "not needed"); err != nil || ok {
					t.Fatalf("RecordDiscontinuity on an intact ledger = %v, %v; want nothing appended", ok, err)
				}
				if err := st.exec(tc.tamper); err != nil {
					t.Fatal(err)
				}
				if _, _, err := st.l.ExpireGrant(ctx, "grt_1", t0.Add(time.Hour), nil); !errors.Is(err, ErrInconsistent) {
					t.Fatalf("append before the discontinuity: %v, want ErrInconsistent", err)
				}
				ev, ok, err := st.l.RecordDiscontinuity(ctx, t0.Add(time.Hour), "to record a revocation")
				if err != nil || !ok || ev.Seq != 3 || ev.Type != EventLedgerDiscontinuity {
					t.Fatalf("RecordDiscontinuity = %+v, %v, %v; want event 3", ev, ok, err)
				}
				if _, ok, err := st.l.RecordDiscontinuity(ctx, t0.Add(time.Hour), "again"); err != nil || ok {
					t.Fatalf("second RecordDiscontinuity = %v, %v; want nothing appended", ok, err)
				}
				g, appended, err := st.l.ExpireGrant(ctx, "grt_1", t0.Add(time.Hour), nil)
				if err != nil || !appended || g.Seq != 4 || g.Status != StatusExpired {
					t.Fatalf("append after the discontinuity = %+v, %v, %v", g, appended, err)
				}
				r, err := st.l.Verify(ctx)
				if err != nil || r.OK || r.FirstBad != tc.firstBad || !strings.Contains(r.Problem, tc.problem) ||
					!strings.Contains(r.Problem, "event 3 records this discontinuity") {
					t.Fatalf("Verify after the discontinuity = %+v, %v; want %d: %s", r, err, tc.firstBad, tc.problem)
				}
			})
		})
	}
}

func TestStoresTransitionRetriesOnConflict(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, base := context.Background(), st.l
		if _, err := base.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
			t.Fatal(err)
		}
		rs := &racingStore{Store: base.Store(), race: func() {
			if _, _, err := base.RevokeGrant(ctx, "grt_1", t0, ReasonOutOfBand, "incident", nil); err != nil {
				t.Errorf("racing revoke: %v", err)
			}
		}}
		g, _, err := New(rs).ExpireGrant(ctx, "grt_1", t0.Add(time.Hour), nil)
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
					_, _, err := l.RevokeGrant(ctx, "grt_contended", t0.Add(time.Minute), ReasonOutOfBand, fmt.Sprintf("store %d", i), nil)
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
		if err := st.l.Store().Events(ctx, func(e Event) error {
			if e.Type == EventGrantRevoked {
				revocations++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if revocations != 1 {
			t.Fatalf("%d revocations of one grant, want 1", revocations)
		}
	})
}

func TestStoresEventsAreAppendOnly(t *testing.T) {
	t.Parallel()
	// TRUNCATE fires no row triggers: PostgreSQL has a statement trigger for
	// it. SQLite has no TRUNCATE.
	more := map[string][]string{"postgres": {
		// With the tables that refer to events, so that only the trigger stops it.
		`TRUNCATE events, grants, approvals`,
		`TRUNCATE events CASCADE`,
	}}
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
			t.Fatal(err)
		}
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_2"), t0); err != nil {
			t.Fatal(err)
		}
		// With full access to the database (on PostgreSQL, as the superuser):
		// the triggers stop its owner as well.
		for _, stmt := range append([]string{
			`UPDATE events SET data = '{}' WHERE seq = 1`,
			`UPDATE events SET seq = 10 WHERE seq = 2`,
			`DELETE FROM events WHERE seq = 2`,
			`DELETE FROM events`,
		}, more[st.name]...) {
			err := st.exec(stmt)
			if err == nil || !strings.Contains(err.Error(), "ledger events are append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", stmt, err)
			}
		}
		if n, err := st.queryInt(`SELECT count(*) FROM events`); err != nil || n != 2 {
			t.Fatalf("%d events left, %v; want 2", n, err)
		}
		if r := mustVerify(t, st.l); r.Events != 2 {
			t.Fatalf("%d events verified, want 2", r.Events)
		}
	})
}

// TestStoresSchemaVersions: opening a ledger again migrates nothing and keeps
// its data; a schema newer than this build is refused and left alone.
func TestStoresSchemaVersions(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
			t.Fatal(err)
		}
		opens := []func(context.Context, string) (*Ledger, error){Open, OpenExisting}
		for _, open := range opens {
			l, err := open(ctx, st.location)
			if err != nil {
				t.Fatalf("opening again: %v", err)
			}
			g, err := l.Grant(ctx, "grt_1")
			l.Close()
			if err != nil || g.Seq != 1 {
				t.Fatalf("after opening again: %+v, %v", g, err)
			}
		}
		latest := int64(len(st.dialect.migrations))
		if n, err := st.queryInt(`SELECT count(*) FROM schema_migrations`); err != nil || n != latest {
			t.Fatalf("schema_migrations holds %d versions, %v; want %d", n, err, latest)
		}
		if n, err := st.queryInt(`SELECT max(version) FROM schema_migrations`); err != nil || n != latest {
			t.Fatalf("schema version %d, %v; want %d", n, err, latest)
		}

		if err := st.exec(fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, 'later')`, latest+1)); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("its schema is version %d, newer than this build of governed knows (%d): upgrade governed", latest+1, latest)
		for _, open := range opens {
			if l, err := open(ctx, st.location); err == nil || !strings.Contains(err.Error(), want) {
				if err == nil {
					l.Close()
				}
				t.Fatalf("opening a newer schema: %v, want %q", err, want)
			}
		}
		if n, err := st.queryInt(`SELECT count(*) FROM schema_migrations`); err != nil || n != latest+1 {
			t.Fatalf("schema_migrations holds %d versions, %v; want %d", n, err, latest+1)
		}
	})
}

// writeTamperFixture writes ten events to an empty ledger:
//
//	1 grt_1 issued   2 grt_2 issued   3 apr_1 recorded   4 grt_3 issued    5 grt_1 revoked
//	6 grt_4 issued   7 apr_1 withdrawn 8 grt_2 expired   9 grt_5 issued   10 grt_3 retired
func writeTamperFixture(t testing.TB, l *Ledger) {
	t.Helper()
	ctx := context.Background()
	steps := []func() error{
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_1"), t0); return err },
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_2"), t0); return err },
		func() error { _, err := l.RecordApproval(ctx, testApproval("apr_1"), t0); return err },
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_3"), t0); return err },
		func() error {
			_, _, err := l.RevokeGrant(ctx, "grt_1", t0.Add(time.Hour), ReasonOutOfBand, "INC-1", nil)
			return err
		},
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_4"), t0.Add(time.Hour)); return err },
		func() error { _, err := l.WithdrawApproval(ctx, "apr_1", t0.Add(2*time.Hour)); return err },
		func() error { _, _, err := l.ExpireGrant(ctx, "grt_2", t0.Add(8*24*time.Hour), nil); return err },
		func() error { _, err := l.IssueGrant(ctx, testGrant("grt_5"), t0.Add(8*24*time.Hour)); return err },
		func() error { _, _, err := l.RetireGrant(ctx, "grt_3", t0.Add(9*24*time.Hour), nil); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("fixture step %d: %v", i+1, err)
		}
	}
}

// forgedEvent is a correctly hashed event 11 that a tampering case writes
// after the fixture's head, FORGED_PREV and FORGED_HASH standing for its
// links until the head is known.
var forgedEvent = Event{Seq: 11, At: t0, Type: EventGrantIssued, Subject: "grt_forged", Data: []byte(`{"id":"grt_forged"}`)}

// TestStoresVerifyDetectsTampering: on every store, Verify reports what
// someone with full access to the database changed behind the store's back,
// with the first sequence number at fault (0 when the fault is in the schema).
// sqliteGrantsLoosened redefines the SQLite grants table without its
// constraints (not STRICT, no NOT NULL, no reference to events), rows kept.
var sqliteGrantsLoosened = []string{
	`CREATE TABLE saved AS SELECT * FROM grants`,
	`DROP TABLE grants`,
	`CREATE TABLE grants (id TEXT PRIMARY KEY, seq INTEGER, principal TEXT, entitlement TEXT, status TEXT,
	expires_unix INTEGER, revoke_pending INTEGER, approval_id TEXT)`,
	`INSERT INTO grants SELECT * FROM saved`,
	`DROP TABLE saved`,
}

func TestStoresVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// sql tampers with the fixture, the same on every store; dialectSQL
		// replaces it on the stores it names.
		sql        []string
		dialectSQL map[string][]string
		// triggersOff runs sql with the append-only triggers taken away, then
		// puts them back as they were.
		triggersOff bool
		// refused is the error each store refuses sql with, by store name.
		refused map[string]string
		// readErr is what Verify's error holds, by store name, when the
		// ledger cannot be read as its tables define it: never a report
		// that it verified.
		readErr  map[string]string
		firstBad int64
		problem  []string // substrings of the problem
	}{
		{name: "intact"},
		{
			name:        "one event's data changed",
			sql:         []string{`UPDATE events SET data = replace(data, 'svc-payments-api', 'svc-attacker') WHERE seq = 4`},
			triggersOff: true, firstBad: 4, problem: []string{"event 4 was altered"},
		},
		{
			name:        "one event's time changed",
			sql:         []string{`UPDATE events SET at = '2026-03-01T08:59:59Z' WHERE seq = 7`},
			triggersOff: true, firstBad: 7, problem: []string{"event 7 was altered"},
		},
		{
			name:        "field boundary moved",
			sql:         []string{"UPDATE events SET type = type || '\x1f' || subject, subject = '' WHERE seq = 3"},
			triggersOff: true, firstBad: 3, problem: []string{"event 3 was altered"},
		},
		{
			name:        "one event deleted",
			sql:         []string{`DELETE FROM events WHERE seq = 6`},
			triggersOff: true, firstBad: 6, problem: []string{"event 6 is missing"},
		},
		{
			// Through a copy, since SQLite updates row by row; with a mark on the
			// links meanwhile, since PostgreSQL checks that they are unique row
			// by row.
			name: "two events swapped",
			sql: []string{
				`CREATE TEMP TABLE saved AS SELECT * FROM events WHERE seq IN (3, 5)`,
				`UPDATE events SET (at, type, subject, data, prev_hash, hash) =
	(SELECT at, type, subject, data, prev_hash || '-', hash FROM saved WHERE saved.seq = 8 - events.seq)
WHERE seq IN (3, 5)`,
				`UPDATE events SET prev_hash = rtrim(prev_hash, '-') WHERE seq IN (3, 5)`,
			},
			triggersOff: true, firstBad: 3, problem: []string{"event 3 does not link"},
		},
		{
			name:        "events renumbered after a deletion",
			sql:         []string{`DELETE FROM events WHERE seq = 6`, `UPDATE events SET seq = seq - 1 WHERE seq > 6`},
			triggersOff: true, firstBad: 6, problem: []string{"event 6 does not link"},
		},
		{
			name:        "tail cut",
			sql:         []string{`DELETE FROM events WHERE seq > 8`},
			triggersOff: true, firstBad: 9, problem: []string{"the log ends at event 8 but the recorded head is event 10"},
		},
		{
			// With the row of the grant whose only event went, so that one
			// problem is left: which of two problems at one sequence number is
			// reported depends on the order the store reads rows in.
			name: "tail cut and head rewound",
			sql: []string{`DELETE FROM events WHERE seq > 8`,
				`UPDATE ledger_head SET seq = 8, hash = (SELECT hash FROM events WHERE seq = 8)`,
				`DELETE FROM grants WHERE id = 'grt_5'`},
			triggersOff: true, firstBad: 9, problem: []string{"beyond the end of the log"},
		},
		{
			name: "event forged after the head",
			sql: []string{fmt.Sprintf(`INSERT INTO events (seq, at, type, subject, data, prev_hash, hash)
VALUES (11, '%s', '%s', '%s', '%s', 'FORGED_PREV', 'FORGED_HASH')`,
				formatAt(forgedEvent.At), forgedEvent.Type, forgedEvent.Subject, forgedEvent.Data)},
			// Without a recording time, which PostgreSQL's trigger refuses
			// (TestPostgresStampsRecordingTimes): the owner turns it off.
			triggersOff: true, firstBad: 11, problem: []string{"added outside governed"},
		},
		{
			name:     "head hash changed",
			sql:      []string{`UPDATE ledger_head SET hash = 'feed'`},
			firstBad: 10, problem: []string{"recorded head hash"},
		},
		{
			// Plain columns, which the append writes: anyone who can write
			// the table can change them, and Verify compares each with the
			// payload of the event the row names.
			name:     "grant row's entitlement edited",
			sql:      []string{`UPDATE grants SET entitlement = 'other-db-read' WHERE id = 'grt_4'`},
			firstBad: 6, problem: []string{`grant "grt_4"`, "(6)", "its entitlement differs"},
		},
		{
			name:     "grant row's principal edited",
			sql:      []string{`UPDATE grants SET principal = 'svc-other' WHERE id = 'grt_5'`},
			firstBad: 9, problem: []string{`grant "grt_5"`, "its principal differs"},
		},
		{
			// An active grant shown as expired would leave a filter on
			// status active without it.
			name:     "grant row's status edited to hide it",
			sql:      []string{`UPDATE grants SET status = 'expired' WHERE id = 'grt_5'`},
			firstBad: 9, problem: []string{`grant "grt_5"`, "its status differs"},
		},
		{
			name: "grant row's expiry moved to hide it",
			dialectSQL: map[string][]string{
				"sqlite":   {`UPDATE grants SET expires_unix = expires_unix + 86400 WHERE id = 'grt_5'`},
				"postgres": {`UPDATE grants SET expires_at = expires_at + interval '1 day' WHERE id = 'grt_5'`},
			},
			firstBad: 9, problem: []string{`grant "grt_5"`, "its expiry differs"},
		},
		{
			name: "grant row's expiry moved by a second",
			dialectSQL: map[string][]string{
				"sqlite":   {`UPDATE grants SET expires_unix = expires_unix - 1 WHERE id = 'grt_4'`},
				"postgres": {`UPDATE grants SET expires_at = expires_at - interval '1 microsecond' WHERE id = 'grt_4'`},
			},
			firstBad: 6, problem: []string{`grant "grt_4"`, "its expiry differs"},
		},
		{
			name: "grant row's pending revocation hidden",
			dialectSQL: map[string][]string{
				"sqlite":   {`UPDATE grants SET revoke_pending = 1 WHERE id = 'grt_4'`},
				"postgres": {`UPDATE grants SET revoke_pending = true WHERE id = 'grt_4'`},
			},
			firstBad: 6, problem: []string{`grant "grt_4"`, "its revoke_pending differs"},
		},
		{
			// The SQLite store reads a row's text columns joined by the
			// walk's separator: one that holds it is read again on its own.
			name: "grant row's principal given the walk's separator",
			dialectSQL: map[string][]string{
				"sqlite":   {`UPDATE grants SET principal = principal || char(31) || 'x' WHERE id = 'grt_5'`},
				"postgres": {`UPDATE grants SET principal = principal || chr(31) || 'x' WHERE id = 'grt_5'`},
			},
			firstBad: 9, problem: []string{`grant "grt_5"`, "its principal differs"},
		},
		{
			// Only in a table redefined without its constraints: the SQLite
			// store's join of the row leaves the NULLs out, and the row read
			// again on its own cannot be read.
			name: "grant row's text columns made NULL",
			dialectSQL: map[string][]string{
				"sqlite": append(slices.Clone(sqliteGrantsLoosened),
					`UPDATE grants SET principal = NULL, entitlement = NULL, status = NULL, approval_id = NULL WHERE id = 'grt_5'`),
				"postgres": {`ALTER TABLE grants ALTER COLUMN principal DROP NOT NULL`, `UPDATE grants SET principal = NULL WHERE id = 'grt_5'`},
			},
			readErr: map[string]string{"sqlite": "NULL", "postgres": "NULL"},
		},
		{
			// A filter on revoke_pending = 1 would pass over a 2.
			name: "grant row's pending revocation neither 0 nor 1",
			dialectSQL: map[string][]string{
				"sqlite":   {`UPDATE grants SET revoke_pending = 2 WHERE id = 'grt_4'`},
				"postgres": {`UPDATE grants SET revoke_pending = NOT revoke_pending WHERE id = 'grt_4'`},
			},
			firstBad: 6, problem: []string{`grant "grt_4"`, "its revoke_pending differs"},
		},
		{
			name:     "grant row's approval changed",
			sql:      []string{`UPDATE grants SET approval_id = 'apr_1' WHERE id = 'grt_4'`},
			firstBad: 6, problem: []string{`grant "grt_4"`, "its approval_id differs"},
		},
		{
			name:     "grant row put back to an earlier event",
			sql:      []string{`UPDATE grants SET seq = 1 WHERE id = 'grt_1'`},
			firstBad: 5, problem: []string{`grant "grt_1"`, "says event 1 but its last event is 5"},
		},
		{
			name:     "grant row names another grant's event",
			sql:      []string{`UPDATE grants SET seq = 9 WHERE id = 'grt_1'`},
			firstBad: 5, problem: []string{`grant "grt_1"`, "says event 9 but its last event is 5"},
		},
		{
			name:     "grant row deleted",
			sql:      []string{`DELETE FROM grants WHERE id = 'grt_5'`},
			firstBad: 9, problem: []string{`grant "grt_5" has events`, "no current-state row"},
		},
		{
			name: "grant row invented",
			sql: []string{`CREATE TEMP TABLE saved AS SELECT * FROM grants WHERE id = 'grt_5'`,
				`UPDATE saved SET id = 'grt_ghost'`, `INSERT INTO grants SELECT * FROM saved`},
			firstBad: 9, problem: []string{`grant "grt_ghost" has a current-state row`},
		},
		{
			name:     "approval row edited",
			sql:      []string{`UPDATE approvals SET status = 'active' WHERE id = 'apr_1'`},
			firstBad: 7, problem: []string{`approval "apr_1"`, "its status differs"},
		},
		{
			name: "grants table altered",
			dialectSQL: map[string][]string{
				"sqlite":   sqliteGrantsLoosened,
				"postgres": {`ALTER TABLE grants DROP CONSTRAINT grants_seq_fkey`},
			},
			firstBad: 0, problem: []string{"the definition of the grants table was altered"},
		},
		{
			name: "triggers dropped",
			dialectSQL: map[string][]string{
				"sqlite":   {`DROP TRIGGER events_no_update`, `DROP TRIGGER events_no_delete`},
				"postgres": {`DROP TRIGGER events_no_update ON events`},
			},
			firstBad: 0, problem: []string{"append-only triggers are missing"},
		},
		{
			name: "trigger replaced by a harmless one",
			dialectSQL: map[string][]string{
				"sqlite": {`DROP TRIGGER events_no_delete`,
					`CREATE TRIGGER events_no_delete BEFORE DELETE ON events BEGIN SELECT 1; END`},
				"postgres": {`DROP TRIGGER events_no_delete ON events`,
					`CREATE TRIGGER events_no_delete AFTER DELETE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()`},
			},
			firstBad: 0, problem: []string{"append-only triggers were altered"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachStore(t, func(t *testing.T, st storeUnderTest) {
				ctx := context.Background()
				writeTamperFixture(t, st.l)
				head, err := st.l.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				forged := forgedEvent
				forged.PrevHash = head.Hash
				links := strings.NewReplacer("FORGED_PREV", head.Hash, "FORGED_HASH", HashEvent(head.Hash, forged))
				sql := tt.sql
				if d, ok := tt.dialectSQL[st.name]; ok {
					sql = d
				}
				var stmts []string
				if tt.triggersOff {
					stmts = append(stmts, st.triggersOff...)
				}
				for _, s := range sql {
					stmts = append(stmts, links.Replace(s))
				}
				if tt.triggersOff {
					stmts = append(stmts, st.triggersOn...)
				}
				err = st.exec(stmts...)
				if want := tt.refused[st.name]; want != "" {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("tampering: err = %v, want %q", err, want)
					}
				} else if err != nil {
					t.Fatalf("tampering: %v", err)
				}

				r, err := st.l.Verify(ctx)
				if want, ok := tt.readErr[st.name]; ok {
					if err == nil || !strings.Contains(err.Error(), want) {
						t.Fatalf("Verify = %+v, %v; want an error holding %q", r, err, want)
					}
					return
				}
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
				if wantOK {
					if r.Events != 10 || r.Head != head || len(r.Head.Hash) != 64 {
						t.Fatalf("intact report = %+v, want 10 events up to %+v", r, head)
					}
				}
			})
		})
	}
}

// TestStoresReplayMatchesCurrentState rebuilds the current state from the log
// alone and compares it with what the store lists.
func TestStoresReplayMatchesCurrentState(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		writeTamperFixture(t, l)
		grants := map[string]Event{}
		approvals := map[string]Event{}
		var prev string
		if err := l.Store().Events(ctx, func(e Event) error {
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
		}); err != nil {
			t.Fatal(err)
		}
		all, err := l.Grants(ctx, GrantFilter{})
		if err != nil || len(all) != len(grants) {
			t.Fatalf("%d grants in the table, %v; %d in the log", len(all), err, len(grants))
		}
		for _, g := range all {
			e := grants[g.ID]
			var fromLog Grant
			if err := json.Unmarshal(e.Data, &fromLog); err != nil {
				t.Fatal(err)
			}
			fromLog.Seq = e.Seq
			if fmt.Sprintf("%+v", fromLog) != fmt.Sprintf("%+v", g) {
				t.Errorf("grant %s:\nlog   %+v\ntable %+v", g.ID, fromLog, g)
			}
		}
		a, err := l.Approval(ctx, "apr_1")
		if err != nil || a.Seq != approvals["apr_1"].Seq || a.Status != ApprovalWithdrawn {
			t.Errorf("approval = %+v, %v", a, err)
		}
	})
}

// Every ledger has an id of its own, made once: reopening keeps it, another
// ledger of the same kind has another, and the store refuses to change or
// delete it.
func TestStoresID(t *testing.T) {
	t.Parallel()
	for _, kind := range testStores {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, other := kind.open(t), kind.open(t)
			id, err := st.l.ID(ctx)
			if err != nil || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
				t.Fatalf("ID = %q, %v; want 32 lowercase hex digits", id, err)
			}
			if otherID, err := other.l.ID(ctx); err != nil || otherID == id {
				t.Fatalf("another ledger's id = %q, %v; want one of its own", otherID, err)
			}
			again, err := OpenExisting(ctx, st.location)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if got, err := again.ID(ctx); err != nil || got != id {
				t.Fatalf("reopened ledger's id = %q, %v; want %q", got, err, id)
			}
			for _, stmt := range []string{`UPDATE ledger_identity SET ledger_id = 'x'`, `DELETE FROM ledger_identity`} {
				if err := st.exec(stmt); err == nil {
					t.Errorf("%s was allowed", stmt)
				}
			}
		})
	}
}

// EventHash reads one event's hash by its sequence number, as the log holds
// it; a sequence number past the head is not found.
func TestStoresEventHash(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx, l := context.Background(), st.l
		if _, err := l.EventHash(ctx, 1); !errors.Is(err, ErrNotFound) {
			t.Fatalf("EventHash(1) of an empty ledger: err = %v, want ErrNotFound", err)
		}
		at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		for _, id := range []string{"grt_1", "grt_2"} {
			if _, err := l.IssueGrant(ctx, testGrant(id), at); err != nil {
				t.Fatal(err)
			}
		}
		var hashes []string
		if err := l.Store().Events(ctx, func(e Event) error { hashes = append(hashes, e.Hash); return nil }); err != nil {
			t.Fatal(err)
		}
		for i, want := range hashes {
			if got, err := l.EventHash(ctx, int64(i+1)); err != nil || got != want {
				t.Errorf("EventHash(%d) = %q, %v; want %q", i+1, got, err, want)
			}
		}
		if _, err := l.EventHash(ctx, int64(len(hashes)+1)); !errors.Is(err, ErrNotFound) {
			t.Errorf("EventHash past the head: err = %v, want ErrNotFound", err)
		}
	})
}

// A policy document is kept once under its digest, never changed; a document
// altered behind the store's back fails verification.
func TestStoresKeepPolicy(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		doc := []byte("entitlement \"x\" {}\n")
		digest := sha256Hex(doc)
		for range 2 {
			if err := st.l.KeepPolicy(ctx, digest, doc, t0); err != nil {
				t.Fatalf("KeepPolicy: %v", err)
			}
		}
		if err := st.l.KeepPolicy(ctx, sha256Hex([]byte("other")), doc, t0); err == nil {
			t.Fatal("a document was kept under a digest that is not its own")
		}
		kept := map[string]string{}
		if err := st.l.Store().Policies(ctx, func(d string, b []byte) error { kept[d] = string(b); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(kept) != 1 || kept[digest] != string(doc) {
			t.Fatalf("kept = %q", kept)
		}
		for _, stmt := range []string{`UPDATE policies SET document = 'x'`, `DELETE FROM policies`} {
			if err := st.exec(stmt); err == nil {
				t.Errorf("%s was allowed", stmt)
			}
		}
		mustVerify(t, st.l)
		off, alter := `DROP TRIGGER policies_no_update`, `UPDATE policies SET document = CAST('entitlement "y" {}' AS BLOB)`
		if st.dialect.param(1) != "?" {
			off, alter = `ALTER TABLE policies DISABLE TRIGGER policies_kept`, `UPDATE policies SET document = 'entitlement "y" {}'::bytea`
		}
		if err := st.exec(off, alter); err != nil {
			t.Fatal(err)
		}
		r, err := st.l.Verify(ctx)
		if err != nil || r.OK || !strings.Contains(r.Problem, digest) {
			t.Fatalf("Verify after altering a kept policy = %+v, %v", r, err)
		}
	})
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestStoresVerifyRowAheadOfItsEvents: a store may hand verification the
// current-state rows while it walks the events (the SQLite store does), so
// a row can be noted before any event about its subject. The pipeline's role,
// which may update rows and insert events, renames an approval's row and
// then appends a grant.issued under the renamed approval: the approval is
// known by its row alone, which records nothing before the grant, and
// verification reports the ledger rather than crashing.
func TestStoresVerifyRowAheadOfItsEvents(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		for i := range walkBatchSize {
			if _, err := st.l.RecordApproval(ctx, testApproval(fmt.Sprintf("apr_%03d", i)), t0); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 10 {
			if _, err := st.l.IssueGrant(ctx, testGrant(fmt.Sprintf("grt_%d", i)), t0); err != nil {
				t.Fatal(err)
			}
		}
		mustVerify(t, st.l)
		if err := st.exec(`UPDATE approvals SET id = 'apr_ghost' WHERE id = 'apr_000'`); err != nil {
			t.Fatal(err)
		}
		g := testGrant("grt_evil")
		g.ApprovalID, g.Status, g.GrantedAt = "apr_ghost", StatusActive, t0
		data, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := AppendRawGrant(ctx, st.l.Store(), EventGrantIssued, t0, g, data, 0); err != nil {
			t.Fatal(err)
		}
		r, err := st.l.Verify(ctx)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		// The renamed row leaves apr_000 without one and names event 1 for
		// apr_ghost, which has none: two problems at event 1, either of
		// which may be named first, as the store reads its rows.
		if r.OK || r.FirstBad != 1 || (!strings.Contains(r.Problem, `approval "apr_000" has events`) &&
			!strings.Contains(r.Problem, `approval "apr_ghost" has a current-state row (event 1) but no events`)) {
			t.Fatalf("report = %+v, want event 1 named for the renamed row", r)
		}
	})
}

// TestStoresListingReadsWhatVerificationTakes: the pipeline's role appends
// a correctly chained event whose payload spells member names with JSON
// escapes, which Go's decoder and verification read as the names they
// stand for. The ledger verifies, so the listing of grants (governed
// grants, the governed_grants data source) must read it too, as Go's
// decoder does, rather than fail for every grant.
func TestStoresListingReadsWhatVerificationTakes(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		if _, err := st.l.IssueGrant(ctx, testGrant("grt_1"), t0); err != nil {
			t.Fatal(err)
		}
		g, err := st.l.Grant(ctx, "grt_1")
		if err != nil {
			t.Fatal(err)
		}
		g.Status, g.RevokedAt, g.RevocationReason = StatusRevoked, t0.Add(time.Hour), ReasonOutOfBand
		data, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.NewReplacer(`"status"`, `"st\u0061tus"`, `"revocation_reason"`, `"revocation\u005freason"`).Replace(string(data)))
		if _, err := AppendRawGrant(ctx, st.l.Store(), EventGrantRevoked, t0.Add(time.Hour), g, data, g.Seq); err != nil {
			t.Fatal(err)
		}
		mustVerify(t, st.l)
		var decoded Grant
		if err := json.Unmarshal(data, &decoded); err != nil || decoded.Status != StatusRevoked || decoded.RevocationReason != ReasonOutOfBand {
			t.Fatalf("Go's decoder read %+v, %v", decoded, err)
		}
		var listed []Grant
		if err := st.l.EachListedGrant(ctx, GrantFilter{}, func(g *Grant) error { listed = append(listed, *g); return nil }); err != nil {
			t.Fatalf("EachListedGrant: %v", err)
		}
		if len(listed) != 1 || listed[0].Status != StatusRevoked || listed[0].RevocationReason != ReasonOutOfBand {
			t.Fatalf("listed %+v, want grt_1 revoked out of band", listed)
		}
	})
}
