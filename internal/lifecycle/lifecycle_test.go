package lifecycle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if dueFixtures.dir != "" {
		os.RemoveAll(dueFixtures.dir)
	}
	os.Exit(code)
}

// world is one test's ledger (SQLite, in a temporary directory) and
// PostgreSQL target "postgres.app" (pgtest.Target): a governed role, a login
// role for governed that holds it WITH ADMIN OPTION, and one principal.
type world struct {
	t      *testing.T
	ledger *ledger.Ledger
	path   string // the ledger's file
	target *pgtest.Target
	url    string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	path := filepath.Join(t.TempDir(), "governed.db")
	l, err := ledger.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	x := pgtest.Shared(t).NewTarget(t, pgtest.TargetOptions{Principals: []string{"api"}})
	return &world{t: t, ledger: l, path: path, target: x, url: x.URL()}
}

func (w *world) principal() string { return w.target.Principal("api") }

// member reports whether the world's principal is a direct member of its role.
func (w *world) member() bool { return w.target.IsMember(w.principal(), w.target.Role) }

// targets is a registry holding postgres.app at url.
func (w *world) targets(url string) target.Registry {
	w.t.Helper()
	reg := target.NewRegistry()
	p, err := target.NewPostgres("app", url, target.PostgresOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(p.Close)
	reg[p.Name()] = p
	return reg
}

// run is a run at now against the world's target.
func (w *world) run(now time.Time, opts ...Option) *Run {
	return NewRun(w.ledger, w.targets(w.url), now, opts...)
}

// grant is a grant of the world's role, in its target, until t0+24h.
func (w *world) grant(ticket string) ledger.Grant {
	return ledger.Grant{Principal: w.principal(), Entitlement: "app-read", TicketID: ticket,
		Approvers: []string{"alice@example.com"}, Target: "postgres.app", Role: w.target.Role,
		ExpiresAt: t0.Add(24 * time.Hour).Format(time.RFC3339)}
}

// events lists the types of the events about subject, in order.
func (w *world) events(subject string) string {
	w.t.Helper()
	var types []string
	err := w.ledger.Store().Events(context.Background(), func(e ledger.Event) error {
		if e.Subject == subject {
			types = append(types, e.Type)
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.Join(types, " ")
}

func (w *world) stored(id string) ledger.Grant {
	w.t.Helper()
	g, err := w.ledger.Grant(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// tamper runs statements on the ledger's file directly, as someone with write
// access to it could, bypassing the ledger's code.
func (w *world) tamper(stmts ...string) {
	w.t.Helper()
	db, err := sql.Open("sqlite", w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			w.t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// closedPortURL is a URL of the world's database on a port nothing listens on.
func (w *world) closedPortURL() string {
	return fmt.Sprintf("postgres://nobody@127.0.0.1:1/%s?connect_timeout=2", w.target.DB)
}

func TestIssueRecordOnly(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.Target, g.Role = policy.TargetLedger, ""
	issued, err := w.run(t0).Issue(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if issued.Status != ledger.StatusActive || !issued.GrantedAt.Equal(t0) || issued.ID == "" {
		t.Fatalf("issued = %+v", issued)
	}
	if got := w.events(issued.ID); got != "grant.issued" {
		t.Fatalf("events = %q, want one grant.issued", got)
	}
	res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, issued)
	if err != nil || !res.Appended || res.Grant.Status != ledger.StatusExpired || res.Grant.RevokePending {
		t.Fatalf("Expire = %+v, %v", res, err)
	}
	again, err := w.run(t0.Add(26*time.Hour)).Expire(ctx, res.Grant)
	if err != nil || again.Appended || again.Grant.Status != ledger.StatusExpired {
		t.Fatalf("second Expire = %+v, %v: want no event", again, err)
	}
}

func TestIssueInTargetAndExpire(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !w.member() || issued.Status != ledger.StatusActive {
		t.Fatalf("after Issue: member %v, grant %+v", w.member(), issued)
	}
	if got := w.events(issued.ID); got != "grant.requested grant.issued" {
		t.Fatalf("events = %q", got)
	}
	res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, issued)
	if err != nil || !res.Appended || res.Grant.RevokePending || w.member() {
		t.Fatalf("Expire = %+v, %v; member %v", res, err, w.member())
	}
	if got := w.events(issued.ID); got != "grant.requested grant.issued grant.expired grant.revoke_completed" {
		t.Fatalf("events = %q", got)
	}
}

// crashAt stops an issue at point, as a crash there would.
func crashAt(point string) Option {
	return WithFaultHook(func(p string) error {
		if p == point {
			return errors.New("killed")
		}
		return nil
	})
}

// Each crash point of an issue leaves a pending grant that the next run with
// the same arguments completes under the same id, granting once.
func TestIssueResumesAfterEachCrashPoint(t *testing.T) {
	for _, point := range []string{FaultAfterRequest, FaultAfterTargetGrant} {
		t.Run(point, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			crash := crashAt(point)
			_, err := w.run(t0, crash).Issue(ctx, w.grant("SEC-1"))
			if !errors.Is(err, ErrInterrupted) {
				t.Fatalf("Issue with a crash at %s: %v, want ErrInterrupted", point, err)
			}
			pending, err := w.ledger.Grants(ctx, ledger.GrantFilter{Status: ledger.StatusPending})
			if err != nil || len(pending) != 1 {
				t.Fatalf("pending grants = %v, %v", pending, err)
			}
			if want := point == FaultAfterTargetGrant; w.member() != want {
				t.Fatalf("member after the crash = %v, want %v", w.member(), want)
			}
			issued, err := w.run(t0.Add(time.Minute)).Issue(ctx, w.grant("SEC-1"))
			if err != nil {
				t.Fatal(err)
			}
			if issued.ID != pending[0].ID || issued.Status != ledger.StatusActive || !w.member() {
				t.Fatalf("resumed %+v, want %s active and in force", issued, pending[0].ID)
			}
			if got := w.events(issued.ID); got != "grant.requested grant.issued" {
				t.Fatalf("events = %q", got)
			}
		})
	}
}

// Two resources of one run with the same arguments resume one pending grant
// and issue one new grant, never the same one twice.
func TestIssueResumesOncePerRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	crash := WithFaultHook(func(string) error { return errors.New("killed") })
	first, _ := w.run(t0, crash).Issue(ctx, w.grant("SEC-1"))
	run := w.run(t0.Add(time.Minute))
	a, err := run.Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := run.Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != first.ID || b.ID == first.ID {
		t.Fatalf("resumed %s and %s, want %s once", a.ID, b.ID, first.ID)
	}
}

// A pending grant found past its expiry is closed and its access taken away,
// not resumed.
func TestIssueClosesExpiredPendingGrant(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.TTL, g.ExpiresAt = "1h", t0.Add(time.Hour).Format(time.RFC3339)
	crash := crashAt(FaultAfterTargetGrant)
	stale, _ := w.run(t0, crash).Issue(ctx, g)
	later := t0.Add(2 * time.Hour)
	g.ExpiresAt = later.Add(time.Hour).Format(time.RFC3339)
	issued, err := w.run(later).Issue(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	if issued.ID == stale.ID || !w.member() {
		t.Fatalf("issued %s (stale %s), member %v: want a new grant in force", issued.ID, stale.ID, w.member())
	}
	if closed := w.stored(stale.ID); closed.Status != ledger.StatusExpired || closed.RevokePending {
		t.Fatalf("stale pending grant = %+v, want expired", closed)
	}
}

// A grant revoked in the ledger while it was being issued is not put in force,
// whichever side of the GRANT the revocation lands.
func TestIssueRevokedWhilePending(t *testing.T) {
	for _, point := range []string{FaultAfterRequest, FaultAfterTargetGrant} {
		t.Run(point, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			revoke := WithFaultHook(func(p string) error {
				if p != point {
					return nil
				}
				pending, err := w.ledger.Grants(ctx, ledger.GrantFilter{Status: ledger.StatusPending})
				if err != nil || len(pending) != 1 {
					return fmt.Errorf("pending grants %v: %v", pending, err)
				}
				_, _, err = w.ledger.RevokeGrant(ctx, pending[0].ID, t0, ledger.ReasonOutOfBand, "INC-1", nil)
				return err
			})
			g, err := w.run(t0, revoke).Issue(ctx, w.grant("SEC-1"))
			if !errors.Is(err, ErrRevokedWhileIssuing) {
				t.Fatalf("Issue = %v, want ErrRevokedWhileIssuing", err)
			}
			if w.member() {
				t.Fatal("the access is in force after a revocation recorded while it was issued")
			}
			if st := w.stored(g.ID); st.Status != ledger.StatusRevoked {
				t.Fatalf("grant = %+v, want revoked", st)
			}
		})
	}
}

// A GRANT the target refuses closes the request as failed, so that it is
// never resumed.
func TestIssueTargetRefusesGrant(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.Role = "no_such_role"
	_, err := w.run(t0).Issue(ctx, g)
	var le *Error
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "no_such_role") || strings.Contains(err.Error(), "Nothing was changed") {
		t.Fatalf("Issue = %v, want an Error naming the role that says what was recorded", err)
	}
	all, _ := w.ledger.Grants(ctx, ledger.GrantFilter{})
	if len(all) != 1 || all[0].Status != ledger.StatusRevoked || all[0].RevocationReason != ledger.ReasonGrantFailed {
		t.Fatalf("grants = %+v, want one revoked (grant_failed)", all)
	}
}

// A target that cannot be reached leaves the revocation pending; a later run
// completes it.
func TestRevocationPendingThenRetried(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	down := NewRun(w.ledger, w.targets(w.closedPortURL()), t0.Add(time.Hour))
	res, err := down.Revoke(ctx, issued, ledger.ReasonOutOfBand, "INC-2")
	if err != nil || !res.Appended || !res.Grant.RevokePending || res.Grant.Status != ledger.StatusRevoked || !w.member() {
		t.Fatalf("Revoke with the target down = %+v, %v (member %v)", res, err, w.member())
	}
	// While the target stays down, every retry records that it failed again.
	again, err := down.Settle(ctx, res.Grant, "")
	if err != nil || !again.Appended || !again.Grant.RevokePending || !w.member() {
		t.Fatalf("Settle with the target down = %+v, %v", again, err)
	}
	done, err := w.run(t0.Add(3*time.Hour)).Settle(ctx, again.Grant, "")
	if err != nil || !done.Appended || done.Grant.RevokePending || w.member() {
		t.Fatalf("Settle of a pending revocation = %+v, %v (member %v)", done, err, w.member())
	}
	if got := w.events(issued.ID); got != "grant.requested grant.issued grant.revoked grant.revoke_failed grant.revoke_failed grant.revoke_completed" {
		t.Fatalf("events = %q", got)
	}
}

// Two grants of one membership: ending one keeps the access; ending the last
// removes it.
func TestOverlappingGrants(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	run := w.run(t0)
	a, err := run.Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := run.Issue(ctx, w.grant("SEC-2"))
	if err != nil {
		t.Fatal(err)
	}
	covering, err := run.Covering(ctx, a)
	if err != nil || len(covering) != 1 || covering[0].ID != b.ID {
		t.Fatalf("Covering(a) = %v, %v; want b", covering, err)
	}
	if _, err := w.run(t0.Add(time.Hour)).Retire(ctx, a); err != nil || !w.member() {
		t.Fatalf("Retire(a) = %v; member %v, want the access kept by b", err, w.member())
	}
	res, err := w.run(t0.Add(2*time.Hour)).Retire(ctx, b)
	if err != nil || !res.Appended || w.member() || res.Grant.RetiredAt.IsZero() || res.Grant.RevocationReason != ledger.ReasonDestroyed {
		t.Fatalf("Retire(b) = %+v, %v; member %v", res, err, w.member())
	}
}

// Access removed in the target is observed; settling it records the
// revocation and makes sure the access stays removed.
func TestObserveAndSettleOutOfBand(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	w.target.Revoke(w.target.Role, w.principal())
	run := w.run(t0.Add(time.Hour))
	seen, outOfBand, err := run.Observe(ctx, issued)
	if err != nil || !outOfBand || seen.Status != ledger.StatusRevoked || seen.RevocationReason != ledger.ReasonOutOfBand {
		t.Fatalf("Observe = %+v, %v, %v", seen, outOfBand, err)
	}
	w.target.Grant(w.target.Role, w.principal()) // put back by hand meanwhile
	res, err := run.Settle(ctx, issued, seen.RevocationReason)
	if err != nil || !res.Appended || res.Grant.Status != ledger.StatusRevoked || w.member() {
		t.Fatalf("Settle = %+v, %v; member %v", res, err, w.member())
	}
}

// A run that was not given the grant's target records the revocation as
// pending, with the reason the run gives, in one event.
func TestRevokeWithoutTheTarget(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	run := NewRun(w.ledger, target.NewRegistry(), t0.Add(time.Hour), WithUnconfiguredTarget(func(name string) error {
		return fmt.Errorf("not given %s", name)
	}))
	if run.Enforced(issued) != true {
		t.Fatal("a grant in a target the run lacks must count as enforced there")
	}
	res, err := run.Revoke(ctx, issued, ledger.ReasonOutOfBand, "INC-1")
	if err != nil || !res.Appended || !res.Grant.RevokePending || res.Grant.RevokeError != "not given postgres.app" || !w.member() {
		t.Fatalf("Revoke = %+v, %v", res, err)
	}
	if got := w.events(issued.ID); got != "grant.requested grant.issued grant.revoked" {
		t.Fatalf("events = %q", got)
	}
}

// Settle and Retire of grants that need nothing record nothing.
func TestNoOpTransitions(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.run(t0.Add(time.Hour)).Settle(ctx, issued, "")
	if err != nil || res.Appended || res.Grant.Seq != issued.Seq {
		t.Fatalf("Settle with nothing planned = %+v, %v", res, err)
	}
	retired, err := w.run(t0.Add(time.Hour)).Retire(ctx, issued)
	if err != nil || !retired.Appended {
		t.Fatalf("Retire = %+v, %v", retired, err)
	}
	again, err := w.run(t0.Add(2*time.Hour)).Retire(ctx, retired.Grant)
	if err != nil || again.Appended {
		t.Fatalf("second Retire = %+v, %v: want no event", again, err)
	}
}

// approved records an approval of the world's grants under ticket, usable
// until t0+24h, and returns its id.
func (w *world) approved(id, ticket string) string {
	w.t.Helper()
	_, err := w.ledger.RecordApproval(context.Background(), ledger.Approval{
		ID: id, TicketID: ticket, Entitlement: "app-read", Principal: w.principal(),
		Approvers: []string{"alice@example.com"}, Justification: "nightly job",
		ExpiresAt: t0.Add(24 * time.Hour).Format(time.RFC3339), Statement: "statement", Digest: "digest",
	}, t0)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

// A grant whose approval record was withdrawn is revoked when the plan's
// ending is approval_withdrawn, and its access leaves the target.
func TestSettleApprovalWithdrawn(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.ApprovalID = w.approved("apr_1", "SEC-1")
	issued, err := w.run(t0).Issue(ctx, g)
	if err != nil || !w.member() {
		t.Fatalf("Issue = %+v, %v; member %v", issued, err, w.member())
	}
	if _, err := w.ledger.WithdrawApproval(ctx, "apr_1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res, err := w.run(t0.Add(2*time.Hour)).Settle(ctx, issued, ledger.ReasonApprovalWithdrawn)
	if err != nil || !res.Appended || res.Grant.Status != ledger.StatusRevoked ||
		res.Grant.RevocationReason != ledger.ReasonApprovalWithdrawn || res.Grant.RevocationNote != "approval apr_1 was withdrawn" {
		t.Fatalf("Settle = %+v, %v", res, err)
	}
	if w.member() {
		t.Fatal("the access of a grant whose approval was withdrawn is still in the target")
	}
}

// A narrower grant takes the approval over from the grant it replaces, which
// is revoked as superseded while the access it shares with its successor
// stays. The successor's successor may narrow it again; a grant that is no
// longer in force, or a wider grant, is not followed.
func TestIssueHandOver(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	run := w.run(t0)
	first := w.grant("SEC-1")
	first.ApprovalID = w.approved("apr_1", "SEC-1")
	first, err := run.Issue(ctx, first)
	if err != nil {
		t.Fatal(err)
	}

	later := w.run(t0.Add(time.Hour))
	narrower := w.grant("SEC-1")
	narrower.ApprovalID, narrower.Replaces = "apr_1", first.ID
	narrower.ExpiresAt = t0.Add(12 * time.Hour).Format(time.RFC3339)
	second, err := later.Issue(ctx, narrower)
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.ledger.Approval(ctx, "apr_1")
	if err != nil || a.GrantID != second.ID || a.PreviousGrantID != first.ID {
		t.Fatalf("approval after the hand-over = %+v, %v", a, err)
	}
	if got := w.events("apr_1"); got != "approval.recorded approval.used approval.handed_over" {
		t.Fatalf("approval events = %q", got)
	}
	old := w.stored(first.ID)
	if old.Status != ledger.StatusRevoked || old.RevocationReason != ledger.ReasonSuperseded || old.RevocationNote != "replaced by grant "+second.ID {
		t.Fatalf("the grant replaced = %+v", old)
	}
	if !w.member() || second.Status != ledger.StatusActive || second.Replaces != first.ID {
		t.Fatalf("member %v, successor %+v", w.member(), second)
	}

	for name, g := range map[string]ledger.Grant{
		"the superseded grant again": {Replaces: first.ID, ExpiresAt: t0.Add(2 * time.Hour).Format(time.RFC3339)},
		"wider than the successor":   {Replaces: second.ID, ExpiresAt: t0.Add(13 * time.Hour).Format(time.RFC3339)},
	} {
		next := w.grant("SEC-1")
		next.ApprovalID, next.Replaces, next.ExpiresAt = "apr_1", g.Replaces, g.ExpiresAt
		if _, err := later.Issue(ctx, next); !errors.Is(err, ErrNotNarrowing) {
			t.Errorf("%s: Issue = %v, want ErrNotNarrowing", name, err)
		}
	}
	if a, _ := w.ledger.Approval(ctx, "apr_1"); a.GrantID != second.ID {
		t.Fatalf("a refused successor moved the approval to %s", a.GrantID)
	}
}

// Terraform destroys a grant just before it creates its replacement: a grant
// this run destroyed while in force still counts as in force for it, and a
// narrower successor takes the approval over; for any other run it is over.
func TestInForceAfterDestroyInTheSameRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.Target, g.Role = policy.TargetLedger, ""
	g.ApprovalID = w.approved("apr_1", "SEC-1")
	issued, err := w.run(t0).Issue(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	run := w.run(t0.Add(time.Hour))
	destroyed, err := run.Retire(ctx, issued)
	if err != nil || destroyed.Grant.RevocationReason != ledger.ReasonDestroyed {
		t.Fatalf("Retire = %+v, %v", destroyed, err)
	}
	if !run.InForce(destroyed.Grant) || w.run(t0.Add(time.Hour)).InForce(destroyed.Grant) {
		t.Fatal("a grant destroyed by a run counts as in force for that run only")
	}
	next := g
	next.Replaces, next.ExpiresAt = issued.ID, t0.Add(20*time.Hour).Format(time.RFC3339)
	if _, err := w.run(t0.Add(time.Hour)).Issue(ctx, next); !errors.Is(err, ErrNotNarrowing) {
		t.Fatalf("another run followed a destroyed grant: %v", err)
	}
	successor, err := run.Issue(ctx, next)
	if err != nil || successor.Replaces != issued.ID {
		t.Fatalf("Issue = %+v, %v", successor, err)
	}
	if old := w.stored(issued.ID); old.RevocationReason != ledger.ReasonDestroyed {
		t.Fatalf("the destroyed grant was changed again: %+v", old)
	}
	if a, _ := w.ledger.Approval(ctx, "apr_1"); a.GrantID != successor.ID {
		t.Fatalf("the approval authorises %s, want the successor %s", a.GrantID, successor.ID)
	}
}

// What a ticket already authorised: the grants of the entitlement to the
// principal issued under it, and no others.
func TestTicketGrants(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	run := w.run(t0)
	one, err := run.Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Issue(ctx, w.grant("SEC-2")); err != nil {
		t.Fatal(err)
	}
	requested := w.grant("SEC-1")
	requested.ID = "grt_requested"
	if _, err := w.ledger.RequestGrant(ctx, requested, t0); err != nil {
		t.Fatal(err)
	}
	got, err := run.TicketGrants(ctx, w.principal(), "app-read", "SEC-1")
	if err != nil || len(got) != 1 || got[0].ID != one.ID {
		t.Fatalf("TicketGrants = %+v, %v; want only %s", got, err, one.ID)
	}
	if got, err := run.TicketGrants(ctx, w.principal(), "app-write", "SEC-1"); err != nil || len(got) != 0 {
		t.Fatalf("TicketGrants of another entitlement = %+v, %v", got, err)
	}
}

// A ledger whose recorded head was moved refuses appends; an expiry still
// removes the access and is recorded after a discontinuity, verification
// still reports the damage where it was, and the run grants nothing more.
func TestExpireOnLedgerWithInconsistentHead(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	w.tamper(`UPDATE ledger_head SET seq = seq + 1`)
	before, err := w.ledger.Verify(ctx)
	if err != nil || before.OK {
		t.Fatalf("Verify after the tampering = %+v, %v", before, err)
	}

	run := w.run(t0.Add(25 * time.Hour))
	res, err := run.Expire(ctx, issued)
	if err != nil || !res.Appended || res.Grant.Status != ledger.StatusExpired || res.Grant.RevokePending {
		t.Fatalf("Expire on a damaged ledger = %+v, %v", res, err)
	}
	if w.member() {
		t.Fatal("the access outlived its expiry on a damaged ledger")
	}
	if res.Discontinuity.Seq != before.FirstBad || !strings.Contains(DescribeDiscontinuity(res.Discontinuity), "recorded head was event 3 while the log ended at event 2") {
		t.Fatalf("discontinuity = %+v: %s", res.Discontinuity, DescribeDiscontinuity(res.Discontinuity))
	}
	if got := w.events(issued.ID); got != "grant.requested grant.issued grant.expired grant.revoke_completed" {
		t.Fatalf("events = %q", got)
	}
	after, err := w.ledger.Verify(ctx)
	if err != nil || after.OK || after.FirstBad != before.FirstBad || !strings.HasPrefix(after.Problem, before.Problem) {
		t.Fatalf("Verify after the expiry = %+v, %v; want the damage reported as before (%+v)", after, err, before)
	}
	if _, err := run.Issue(ctx, w.grant("SEC-2")); !errors.Is(err, ErrLedgerDamaged) {
		t.Fatalf("Issue after the discontinuity = %v, want ErrLedgerDamaged", err)
	}
}

// A ledger that refuses every write never keeps access in place: the access
// goes, the error says so, and a later run records the expiry once the
// ledger can be written again.
func TestExpireOnUnwritableLedger(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	w.tamper(`CREATE TRIGGER events_refused BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END`)
	res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, issued)
	var le *Error
	if !errors.As(err, &le) || !le.AccessRemoved || !strings.Contains(err.Error(), "disk quota exceeded") {
		t.Fatalf("Expire on an unwritable ledger = %+v, %v; want an Error that says the access was removed", res, err)
	}
	if w.member() {
		t.Fatal("an unwritable ledger kept the access in place")
	}
	if g := w.stored(issued.ID); g.Status != ledger.StatusActive {
		t.Fatalf("the ledger changed although it refused writes: %+v", g)
	}

	w.tamper(`DROP TRIGGER events_refused`)
	later, err := w.run(t0.Add(26*time.Hour)).Expire(ctx, w.stored(issued.ID))
	if err != nil || later.Grant.Status != ledger.StatusExpired || later.Grant.RevokePending {
		t.Fatalf("Expire once the ledger can be written = %+v, %v", later, err)
	}
}

// Two grants of one membership ended in one run on an unwritable ledger: the
// first that removes its access unrecorded no longer covers the other's, so
// the membership goes.
func TestOverlappingGrantsOnUnwritableLedger(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	run := w.run(t0)
	a, err := run.Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := run.Issue(ctx, w.grant("SEC-2"))
	if err != nil {
		t.Fatal(err)
	}
	w.tamper(`CREATE TRIGGER events_refused BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'read-only'); END`)
	later := w.run(t0.Add(25 * time.Hour))
	_, errA := later.Expire(ctx, a)
	_, errB := later.Expire(ctx, b)
	if errA == nil || errB == nil {
		t.Fatalf("Expire on an unwritable ledger: %v, %v; want errors", errA, errB)
	}
	if w.member() {
		t.Fatal("two grants ended unrecorded kept each other's access in place")
	}
}

// A membership cannot outlive its member or its role: a revocation whose
// REVOKE finds either gone is complete, with a note that says so.
func TestRevocationOfDroppedRoleIsComplete(t *testing.T) {
	for _, dropped := range []string{"member", "role"} {
		t.Run(dropped, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t)
			issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
			if err != nil {
				t.Fatal(err)
			}
			name := w.principal()
			if dropped == "role" {
				name = w.target.Role
			}
			w.target.Exec("DROP ROLE " + pgtest.QuoteIdent(name))
			res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, issued)
			if err != nil || res.Grant.Status != ledger.StatusExpired || res.Grant.RevokePending ||
				!strings.Contains(res.Grant.RevokeNote, "does not exist") || !strings.Contains(res.Grant.RevokeNote, "cannot outlive") {
				t.Fatalf("Expire after the %s was dropped = %+v, %v", dropped, res, err)
			}
			if got := w.events(issued.ID); got != "grant.requested grant.issued grant.expired grant.revoke_completed" {
				t.Fatalf("events = %q", got)
			}
		})
	}
}

// A GRANT the target refuses for lack of privilege put nothing in force: the
// request is closed as failed with no revocation pending.
func TestIssueDeniedLeavesNothingPending(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	lose := WithFaultHook(func(p string) error {
		if p == FaultAfterRequest {
			w.target.Exec(fmt.Sprintf("REVOKE ADMIN OPTION FOR %s FROM %s", w.target.Role, w.target.Governor))
		}
		return nil
	})
	g, err := w.run(t0, lose).Issue(ctx, w.grant("SEC-1"))
	var le *Error
	if !errors.As(err, &le) || !errors.Is(err, target.ErrDenied) || !strings.Contains(le.Done, "nothing is in force") {
		t.Fatalf("Issue without the admin option = %v", err)
	}
	closed := w.stored(g.ID)
	if closed.Status != ledger.StatusRevoked || closed.RevocationReason != ledger.ReasonGrantFailed || closed.RevokePending {
		t.Fatalf("grant = %+v, want revoked (grant_failed) with nothing pending", closed)
	}
	if got := w.events(g.ID); got != "grant.requested grant.revoked" {
		t.Fatalf("events = %q", got)
	}
}

// A pending revocation the target refuses for lack of privilege is complete
// when the membership is gone all the same; while it is there, it stays
// pending.
func TestRetryRevocationDeniedButAbsent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	w.target.Exec(fmt.Sprintf("REVOKE ADMIN OPTION FOR %s FROM %s", w.target.Role, w.target.Governor))
	res, err := w.run(t0.Add(25*time.Hour)).Expire(ctx, issued)
	if err != nil || !res.Grant.RevokePending || !w.member() {
		t.Fatalf("Expire without the admin option = %+v, %v; member %v", res, err, w.member())
	}
	w.target.Revoke(w.target.Role, w.principal())
	done, err := w.run(t0.Add(26*time.Hour)).RetryRevocation(ctx, res.Grant)
	if err != nil || done.Grant.RevokePending || !strings.Contains(done.Grant.RevokeNote, "holds no membership") {
		t.Fatalf("RetryRevocation once the membership is gone = %+v, %v", done, err)
	}
}
