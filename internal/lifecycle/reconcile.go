package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// A grant's access must go when it is past its expiry, when its approval was
// withdrawn, or when its revocation is still pending in its target, whether
// or not any Terraform configuration still manages it. A reconciliation finds
// such grants in the ledger alone, with indexed queries, and settles each one
// the way a grant resource settles its own: for grants whose configuration
// was removed, whose state was dropped or whose workspace was deleted, it is
// the only way their access ever goes.

// Due is a grant whose access the ledger says must go, and why.
type Due struct {
	Grant ledger.Grant
	// Ending is ledger.ReasonExpired for a grant past its expiry that the
	// ledger still holds as active or pending, ledger.ReasonApprovalWithdrawn
	// for one made under an approval record that was withdrawn since, and ""
	// for a grant that already ended but whose revocation its target has not
	// carried out yet. It is what Settle takes as the planned ending.
	Ending string
}

// PendingRevocation is how Why names a Due whose Ending is "": a revocation
// its target has not carried out yet.
const PendingRevocation = "revocation_pending"

// Why names what makes d due, in one word as the ledger's reasons are written:
// ledger.ReasonExpired, ledger.ReasonApprovalWithdrawn or PendingRevocation.
func (d Due) Why() string {
	if d.Ending == "" {
		return PendingRevocation
	}
	return d.Ending
}

// EndingOf is the Ending of a Due whose Why is why.
func EndingOf(why string) string {
	if why == PendingRevocation {
		return ""
	}
	return why
}

// reconcileWorkers is how many grants ReconcileAll settles at once. Each
// holds a connection to its target for a moment; the ledger orders the
// appends.
const reconcileWorkers = 4

// ReconcileAll reconciles every grant of due, a few at a time, and returns
// each one's result and error in the order of due.
func (r *Run) ReconcileAll(ctx context.Context, due []Due) ([]Result, []error) {
	results, errs := make([]Result, len(due)), make([]error, len(due))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(reconcileWorkers, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = r.Reconcile(ctx, due[i])
			}
		}()
	}
	for i := range due {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errs
}

// Overdue lists the grants that the ledger still holds as active or pending
// although their expiry has passed at the run's now, sorted by id. It is one
// indexed query, made once per run: every later call returns the same
// reading.
func (r *Run) Overdue(ctx context.Context) ([]ledger.Grant, error) {
	return r.overdue.get(func() ([]ledger.Grant, error) {
		gs, err := r.ledger.Grants(ctx, ledger.GrantFilter{Overdue: r.now})
		if err != nil {
			return nil, fmt.Errorf("reading the ledger for grants past their expiry: %w", err)
		}
		return gs, nil
	})
}

// UnderWithdrawnApproval lists the grants that the ledger holds as active or
// pending and that were made under an approval record it holds as withdrawn.
// Like Overdue it is one indexed query, made once per run, so that a plan of
// many grants reads it once instead of each grant's approval.
func (r *Run) UnderWithdrawnApproval(ctx context.Context) ([]ledger.Grant, error) {
	return r.withdrawn.get(func() ([]ledger.Grant, error) {
		gs, err := r.ledger.Grants(ctx, ledger.GrantFilter{ApprovalWithdrawn: true})
		if err != nil {
			return nil, fmt.Errorf("reading the ledger for grants under withdrawn approvals: %w", err)
		}
		return gs, nil
	})
}

// Due lists, sorted by grant id, every grant whose access the ledger says
// must go at the run's now, in any target: past its expiry but still active
// or pending, made under a withdrawn approval, or with a revocation pending.
// A grant that is several of these is listed once, with the first of them as
// its Ending, as a grant resource's plan would show it. Each kind is one
// indexed query; none reads every grant.
func (r *Run) Due(ctx context.Context) ([]Due, error) {
	overdue, err := r.Overdue(ctx)
	if err != nil {
		return nil, err
	}
	withdrawn, err := r.UnderWithdrawnApproval(ctx)
	if err != nil {
		return nil, err
	}
	pending, err := r.ledger.Grants(ctx, ledger.GrantFilter{RevokePending: true})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger for pending revocations: %w", err)
	}
	var due []Due
	seen := map[string]bool{}
	for _, kind := range []struct {
		grants []ledger.Grant
		ending string
	}{{overdue, ledger.ReasonExpired}, {withdrawn, ledger.ReasonApprovalWithdrawn}, {pending, ""}} {
		for _, g := range kind.grants {
			if !seen[g.ID] {
				seen[g.ID] = true
				due = append(due, Due{Grant: g, Ending: kind.ending})
			}
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Grant.ID < due[j].Grant.ID })
	return due, nil
}

// Reconcile carries out what d says must happen to its grant, as Settle
// carries out a plan: the grant is read from the ledger again, since another
// run or a grant resource may have ended it since d was listed, and a grant
// that needs nothing any more is returned with nothing recorded.
func (r *Run) Reconcile(ctx context.Context, d Due) (Result, error) {
	g, err := r.ledger.Grant(ctx, d.Grant.ID)
	if err != nil {
		return Result{Grant: d.Grant}, &Error{Step: "read grant " + d.Grant.ID, Err: err}
	}
	if d.Ending == ledger.ReasonExpired && g.StatusAt(r.now) != ledger.StatusExpired {
		// Listed by a run whose clock was ahead of this one's: the ledger
		// never records an expiry before it has passed.
		return Result{Grant: g}, nil
	}
	return r.Settle(ctx, g, d.Ending)
}

// DueFromEvents lists what Due lists, judged from the ledger's events alone:
// each grant's and approval's last event (ledger.EachLastGrant,
// ledger.EachLastApproval), never the current-state rows. The rows are an
// index that the pipeline's own database role may write; a row edited
// behind governed's back (a status or an expiry that lies, a row deleted, a
// row naming another record's event) can hide a grant from Due's indexed
// queries, or make them fail, until governed verify reads every row. A
// removal must not wait on that: governed reconcile and the provider's
// governed_reconciliation, which remove the access of grants no
// configuration manages any more, list their work this way. It reads the
// last event of every grant and approval the ledger ever recorded, so its
// cost grows with them (see BenchmarkDueListing). A grant event whose
// payload cannot be read is listed as past its expiry under the subject's
// id, so that its access is still removed.
func (r *Run) DueFromEvents(ctx context.Context) ([]Due, error) {
	withdrawn := map[string]bool{}
	err := r.ledger.EachLastApproval(ctx, func(a ledger.Approval, readErr error) error {
		// An approval whose event cannot be read withdraws nothing here
		// (verification reports it); the listing of the grants goes on.
		if readErr == nil && a.Status == ledger.ApprovalWithdrawn {
			withdrawn[a.ID] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger's approval events: %w", err)
	}

	// judge says whether g is due, and why, as Due's queries would.
	judge := func(g ledger.Grant) (Due, bool) {
		switch {
		case (ledger.GrantFilter{Overdue: r.now}).Matches(g):
			return Due{Grant: g, Ending: ledger.ReasonExpired}, true
		case (ledger.GrantFilter{ApprovalWithdrawn: true}).Matches(g) && withdrawn[g.ApprovalID]:
			return Due{Grant: g, Ending: ledger.ReasonApprovalWithdrawn}, true
		case g.RevokePending:
			return Due{Grant: g}, true
		}
		return Due{}, false
	}
	var due []Due
	var unread []ledger.Grant
	err = r.ledger.EachLastGrant(ctx, func(g *ledger.Grant, readErr error) error {
		if readErr != nil {
			unread = append(unread, *g)
		} else if d, ok := judge(*g); ok {
			due = append(due, d)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger's grant events: %w", err)
	}
	// The walk reads a few fields of every grant; the few that are due are
	// read whole, from their last event, for their target and role.
	for i, d := range due {
		if full, err := r.ledger.Grant(ctx, d.Grant.ID); err == nil {
			due[i].Grant = full
		}
	}
	// A payload the walk could not read is read whole, as Grant reads it;
	// one that cannot be read at all is listed as past its expiry, so that
	// its access goes all the same, with what the grant's read gives Settle
	// (only verification says what is wrong with it).
	for _, g := range unread {
		full, err := r.ledger.Grant(ctx, g.ID)
		if err != nil || full.ID != g.ID {
			due = append(due, Due{Grant: g, Ending: ledger.ReasonExpired})
		} else if d, ok := judge(full); ok {
			due = append(due, d)
		}
	}
	sort.Slice(due, func(i, j int) bool { return due[i].Grant.ID < due[j].Grant.ID })
	return due, nil
}
