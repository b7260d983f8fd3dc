package lifecycle

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// Due finds, in the ledger alone, every grant whose access must go, and
// Reconcile removes it: a grant past its expiry, active or left pending, one
// under a withdrawn approval, and a revocation its target refused earlier.
// Grants still in force are left alone, and a second pass records nothing.
func TestReconcileWhatIsDue(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	run := w.run(t0)
	principals := map[string]string{}
	issue := func(name string, edit func(*ledger.Grant)) ledger.Grant {
		t.Helper()
		principals[name] = w.target.CreatePrincipal(name)
		g := w.grant("SEC-" + name)
		g.Principal = principals[name]
		if edit != nil {
			edit(&g)
		}
		issued, err := run.Issue(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		return issued
	}
	short := func(g *ledger.Grant) { g.ExpiresAt = t0.Add(time.Hour).Format(time.RFC3339) }
	expired := issue("expired", short)
	withdrawn := issue("withdrawn", func(g *ledger.Grant) { g.ApprovalID = w.approved("apr_withdrawn", "SEC-withdrawn") })
	stuck := issue("stuck", nil)
	kept := issue("kept", nil)
	recordOnly := issue("record", func(g *ledger.Grant) {
		short(g)
		g.Target, g.Role = policy.TargetLedger, ""
	})
	// A grant left pending by a run that stopped before its target granted it.
	principals["pending"] = w.target.CreatePrincipal("pending")
	pendingGrant := w.grant("SEC-pending")
	pendingGrant.Principal = principals["pending"]
	short(&pendingGrant)
	pending, err := w.ledger.RequestGrant(ctx, pendingGrant, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ledger.WithdrawApproval(ctx, "apr_withdrawn", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	down := NewRun(w.ledger, w.targets(w.closedPortURL()), t0.Add(time.Minute))
	if res, err := down.Revoke(ctx, stuck, ledger.ReasonOutOfBand, "INC-1"); err != nil || !res.Grant.RevokePending {
		t.Fatalf("Revoke with the target down = %+v, %v", res, err)
	}

	later := w.run(t0.Add(2 * time.Hour))
	due, err := later.Due(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		expired.ID:    ledger.ReasonExpired,
		withdrawn.ID:  ledger.ReasonApprovalWithdrawn,
		stuck.ID:      "",
		recordOnly.ID: ledger.ReasonExpired,
		pending.ID:    ledger.ReasonExpired,
	}
	if len(due) != len(want) {
		t.Fatalf("Due = %+v, want %v", due, want)
	}
	for i, d := range due {
		if ending, ok := want[d.Grant.ID]; !ok || ending != d.Ending {
			t.Errorf("Due lists %s as %q; want %v", d.Grant.ID, d.Ending, want)
		}
		if i > 0 && due[i-1].Grant.ID >= d.Grant.ID {
			t.Errorf("Due is not sorted by id: %s before %s", due[i-1].Grant.ID, d.Grant.ID)
		}
	}

	// The events say the same as the rows, which nobody edited.
	fromEvents, err := later.DueFromEvents(ctx)
	if err != nil || len(fromEvents) != len(due) {
		t.Fatalf("DueFromEvents = %+v, %v; want %+v", fromEvents, err, due)
	}
	for i, d := range fromEvents {
		if d.Grant.ID != due[i].Grant.ID || d.Ending != due[i].Ending || d.Grant.Target != due[i].Grant.Target ||
			d.Grant.Role != due[i].Grant.Role || d.Grant.Seq != due[i].Grant.Seq {
			t.Errorf("DueFromEvents lists %+v; Due lists %+v", d, due[i])
		}
	}

	results, errs := later.ReconcileAll(ctx, due)
	for i, d := range due {
		if res, err := results[i], errs[i]; err != nil || !res.Appended || res.Grant.RevokePending || res.Grant.ID != d.Grant.ID {
			t.Fatalf("ReconcileAll, %s: %+v, %v", d.Grant.ID, res, err)
		}
		if EndingOf(d.Why()) != d.Ending {
			t.Errorf("EndingOf(%q) = %q, want %q", d.Why(), EndingOf(d.Why()), d.Ending)
		}
	}
	for name, principal := range principals {
		if member := w.target.IsMember(principal, w.target.Role); member != (name == "kept") {
			t.Errorf("after reconciling, %s (%s) member = %v", name, principal, member)
		}
	}
	for id, want := range map[string]string{
		expired.ID:    "grant.requested grant.issued grant.expired grant.revoke_completed",
		withdrawn.ID:  "grant.requested grant.issued grant.revoked grant.revoke_completed",
		stuck.ID:      "grant.requested grant.issued grant.revoked grant.revoke_failed grant.revoke_completed",
		recordOnly.ID: "grant.issued grant.expired",
		pending.ID:    "grant.requested grant.expired grant.revoke_completed",
		kept.ID:       "grant.requested grant.issued",
	} {
		if got := w.events(id); got != want {
			t.Errorf("events of %s = %q, want %q", id, got, want)
		}
	}
	if g := w.stored(withdrawn.ID); g.RevocationReason != ledger.ReasonApprovalWithdrawn {
		t.Errorf("grant under a withdrawn approval revoked as %q", g.RevocationReason)
	}

	again := w.run(t0.Add(3 * time.Hour))
	if due, err := again.Due(ctx); err != nil || len(due) != 0 {
		t.Fatalf("Due after reconciling = %+v, %v; want nothing", due, err)
	}
	for _, d := range due {
		if res, err := again.Reconcile(ctx, d); err != nil || res.Appended {
			t.Fatalf("second Reconcile(%s) = %+v, %v; want nothing recorded", d.Grant.ID, res, err)
		}
	}
}

// A run reads the grants past their expiry once; a grant listed as past its
// expiry by a run whose clock was ahead is not expired early.
func TestOverdueOncePerRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	g := w.grant("SEC-1")
	g.Target, g.Role = policy.TargetLedger, ""
	issued, err := w.run(t0).Issue(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	run := w.run(t0.Add(25 * time.Hour))
	first, err := run.Overdue(ctx)
	if err != nil || len(first) != 1 || first[0].ID != issued.ID {
		t.Fatalf("Overdue = %+v, %v", first, err)
	}
	if _, err := run.Expire(ctx, first[0]); err != nil {
		t.Fatal(err)
	}
	if again, err := run.Overdue(ctx); err != nil || len(again) != 1 {
		t.Fatalf("second Overdue of the run = %+v, %v; want the run's one reading", again, err)
	}

	other := w.grant("SEC-2")
	other.Target, other.Role = policy.TargetLedger, ""
	other2, err := w.run(t0).Issue(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.run(t0.Add(time.Hour)).Reconcile(ctx, Due{Grant: other2, Ending: ledger.ReasonExpired})
	if err != nil || res.Appended || res.Grant.Status != ledger.StatusActive {
		t.Fatalf("Reconcile before the expiry = %+v, %v; want nothing recorded", res, err)
	}
}

// countingTarget is a target that counts the revocations it is asked for.
type countingTarget struct {
	*target.Postgres
	revokes atomic.Int32
}

func (c *countingTarget) Revoke(ctx context.Context, g ledger.Grant, covered func(context.Context) (bool, error)) error {
	c.revokes.Add(1)
	return c.Postgres.Revoke(ctx, g, covered)
}

// Callers of one run that end the same grant at once, as a grant resource and
// a reconciliation in one apply may, record it once and revoke it once.
func TestConcurrentEndsOfOneGrant(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	issued, err := w.run(t0).Issue(ctx, w.grant("SEC-1"))
	if err != nil {
		t.Fatal(err)
	}
	reg := w.targets(w.url)
	pg, ok := reg["postgres.app"].(*target.Postgres)
	if !ok {
		t.Fatalf("postgres.app is a %T", reg["postgres.app"])
	}
	counting := &countingTarget{Postgres: pg}
	reg["postgres.app"] = counting
	run := NewRun(w.ledger, reg, t0.Add(25*time.Hour))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if i%2 == 0 {
				_, err = run.Expire(ctx, issued)
			} else {
				_, err = run.Reconcile(ctx, Due{Grant: issued, Ending: ledger.ReasonExpired})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := counting.revokes.Load(); n != 1 {
		t.Errorf("the target was asked to revoke %d times, want once", n)
	}
	if got := w.events(issued.ID); got != "grant.requested grant.issued grant.expired grant.revoke_completed" {
		t.Errorf("events = %q", got)
	}
	if w.member() {
		t.Error("the access is still in the target")
	}
}

// DueFromEvents lists a grant whose last event the quick reading of its
// members refuses (a member name written with an escape) from the whole
// read of it, and one whose event cannot be read at all as past its expiry,
// so that its access still goes; neither stops the listing.
func TestDueFromEventsUnreadablePayloads(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	db, err := sql.Open("sqlite", w.path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ev := range []struct{ subject, data string }{
		{"grt_escaped", `{"\u0069d":"grt_escaped","principal":"svc-a","target":"ledger","status":"active","expires_at":"2026-11-30T08:00:00Z"}`},
		{"grt_broken", `{"id":"grt_broken","status":tru}`},
		{"grt_future", `{"\u0069d":"grt_future","principal":"svc-b","target":"ledger","status":"active","expires_at":"2099-01-01T00:00:00Z"}`},
	} {
		if _, err := db.Exec(`INSERT INTO events (seq, at, type, subject, data, prev_hash, hash, recorded_at, actor, run_id)
VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM events), '2026-11-30T07:00:00Z', 'grant.issued', ?, ?, '', '', '', '', '')`,
			ev.subject, ev.data); err != nil {
			t.Fatal(err)
		}
	}
	due, err := w.run(t0).DueFromEvents(ctx)
	if err != nil || len(due) != 2 {
		t.Fatalf("DueFromEvents = %+v, %v; want grt_broken and grt_escaped", due, err)
	}
	if d := due[0]; d.Grant.ID != "grt_broken" || d.Ending != ledger.ReasonExpired {
		t.Errorf("unreadable grant listed as %+v", d)
	}
	if d := due[1]; d.Grant.ID != "grt_escaped" || d.Ending != ledger.ReasonExpired || d.Grant.Principal != "svc-a" || d.Grant.Target != "ledger" {
		t.Errorf("grant with an escaped member name listed as %+v", d)
	}
}
