// Package lifecycle carries a grant through its life: issued (recorded only,
// or put in force in a target with the intent recorded first), expired,
// revoked, retired, and revocations retried until the target carries them out.
// It is the one place that decides what is written to the ledger and what is
// asked of a target, and in which order, so that access is never in force
// without a record and a decision to remove access is never forgotten.
// Removing access waits on nothing: not on a ledger whose head no longer
// matches its log (a discontinuity is recorded, and verification keeps
// reporting the damage), not on a ledger that cannot be written (the access
// goes, and the error says it was not recorded), and not on a role or member
// that no longer exists (the revocation is complete). It knows nothing of
// Terraform: the provider's resources and the governed command each read a
// grant, make one call here and report the outcome.
package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// Points at which a fault hook (WithFaultHook) can stop the issue of a grant,
// as a crash there would.
const (
	// FaultAfterRequest: the ledger holds the request; the target was not asked.
	FaultAfterRequest = "after_request"
	// FaultAfterTargetGrant: the target granted; the ledger still says requested.
	FaultAfterTargetGrant = "after_target_grant"
)

// Run is one run's view of a ledger and its targets: one provider instance
// between configure and exit, or one governed command. It judges every grant
// at one instant, reads each governed role's members at most once, and
// resumes each interrupted grant at most once. It is safe for concurrent use.
type Run struct {
	ledger  *ledger.Ledger
	targets target.Registry
	now     time.Time
	fault   func(point string) error
	// unconfigured says why a grant's access cannot be removed from a target
	// this run was not given.
	unconfigured func(name string, lookupErr error) error
	view         view
	// resumed holds the ids of pending grants this run has taken up, so that
	// no two resources resume the same one.
	resumed sync.Map
	// destroyed holds the ids of grants in force that this run revoked
	// because their resource was destroyed: Terraform destroys a grant just
	// before it creates the grant that replaces it, and for that successor
	// the predecessor still counts as in force (InForce).
	destroyed sync.Map
	// ending holds a mutex per grant id, so that two callers of this run
	// ending one grant (its resource and a reconciliation in one apply) take
	// turns: the second finds it ended and asks nothing of the target.
	ending sync.Map
	// overdue is the run's one reading of the grants past their expiry that
	// are still in force in the ledger (Overdue).
	overdue once[[]ledger.Grant]
	// withdrawn is the run's one reading of the grants in force under a
	// withdrawn approval (UnderWithdrawnApproval).
	withdrawn once[[]ledger.Grant]
	// unrecorded holds the ids of grants whose access this run removed
	// although the ledger could not record that they ended: they no longer
	// cover the access they gave (Covering).
	unrecorded sync.Map
	// damaged is set once this run found the ledger's head out of step with
	// its log: nothing is granted by the run from then on.
	damaged atomic.Bool
}

// Option changes how a Run is built.
type Option func(*Run)

// WithFaultHook makes Issue call hook at the Fault points; an error from hook
// stops the issue there, as a crash would. Tests use it to prove that an
// interrupted issue is completed or undone later.
func WithFaultHook(hook func(point string) error) Option {
	return func(r *Run) { r.fault = hook }
}

// WithUnconfiguredTarget sets the error recorded as the target's answer when a
// grant ends whose target this run was not given. By default it is the
// registry's own "not configured" error.
func WithUnconfiguredTarget(explain func(name string) error) Option {
	return func(r *Run) { r.unconfigured = func(name string, _ error) error { return explain(name) } }
}

// NewRun returns a run over l and targets that judges every grant at now.
func NewRun(l *ledger.Ledger, targets target.Registry, now time.Time, opts ...Option) *Run {
	r := &Run{
		ledger:       l,
		targets:      targets,
		now:          now,
		unconfigured: func(_ string, lookupErr error) error { return lookupErr },
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Now is the instant at which the run judges every grant.
func (r *Run) Now() time.Time { return r.now }

// Result is a grant as a transition left it, and whether the transition
// recorded anything in the ledger.
type Result struct {
	Grant    ledger.Grant
	Appended bool
	// Discontinuity is the ledger.discontinuity event the transition had to
	// record first, because the ledger's head did not match its log (see
	// DescribeDiscontinuity); its Seq is 0 when there was none.
	Discontinuity ledger.Event
}

var (
	// ErrRevokedWhileIssuing is returned by Issue when the grant was revoked
	// in the ledger while its target was putting it in force.
	ErrRevokedWhileIssuing = errors.New("was revoked while it was being issued")
	// ErrInterrupted is returned by Issue when the fault hook stopped it.
	ErrInterrupted = errors.New("interrupted")
	// ErrNotNarrowing is returned by Issue when the grant a new grant
	// replaces (ledger.Grant.Replaces) is no longer in force, or the new
	// grant does not narrow it.
	ErrNotNarrowing = errors.New("does not narrow a grant in force")
	// ErrPredecessorInForce is returned, wrapped, by Issue together with the
	// issued grant when the grant it replaces could not be ended: the new
	// grant is in force, and so is the one it replaces until it is revoked.
	ErrPredecessorInForce = errors.New("the grant it replaces is still in force")
	// ErrLedgerDamaged is returned, wrapped, by Issue once the run found the
	// ledger's recorded head out of step with its log: access is still
	// removed on such a ledger, never given.
	ErrLedgerDamaged = errors.New("the ledger's recorded head does not match its log, and nothing is granted on a damaged ledger")
)

// Error is a step of a grant's life that failed: what was attempted, why it
// failed, and what had already taken effect, in the ledger or in a target,
// when it failed.
type Error struct {
	// Step is what was attempted, as "record the grant request".
	Step string
	// Err is the cause.
	Err error
	// Done says, in one or more sentences, what had already taken effect and
	// what happens next; empty when the failed step changed nothing.
	Done string
	// AccessRemoved is set when the step failed to record the end of a grant
	// in the ledger but removed its access from the target all the same.
	AccessRemoved bool
}

func (e *Error) Error() string {
	done := e.Done
	if done == "" {
		done = "Nothing was changed by this step."
	}
	return fmt.Sprintf("unable to %s: %s. %s", e.Step, e.Err, done)
}

func (e *Error) Unwrap() error { return e.Err }

// Issue records a grant that passed policy and puts it in force. g carries
// the grant's arguments, its entitlement's target and role, and its expiry
// (for a ttl, counted from now); Issue gives it its id.
//
// A grant recorded only in the ledger is one grant.issued event. A grant in a
// real target is recorded as requested before the target is asked and as
// issued after, so that access is never in force without a record. A request
// left pending by an interrupted run with the same arguments is resumed under
// its id and approval instead of starting another; one past its expiry is
// closed and whatever its GRANT did is undone.
//
// A grant that replaces another under the same approval or ticket
// (g.Replaces, as the policy decided) must narrow it while it is in force: it
// takes the approval over from it (ledger.HandOverApproval) and, once it is
// issued, the grant it replaces is revoked as superseded, so that one
// approval or ticket authorises one grant in force at a time.
//
// Errors: ledger.ErrApprovalUsed (wrapped) when the approval authorised
// another grant, ErrNotNarrowing, ErrRevokedWhileIssuing, ErrInterrupted, and
// *Error for a ledger or target that failed. ErrPredecessorInForce (wrapped)
// comes with the issued grant: the grant is in force, and only ending the one
// it replaces failed.
func (r *Run) Issue(ctx context.Context, g ledger.Grant) (ledger.Grant, error) {
	if r.damaged.Load() {
		return g, &Error{Step: fmt.Sprintf("grant %q to %q", g.Entitlement, g.Principal), Err: ErrLedgerDamaged}
	}
	tgt, err := r.targets.Lookup(g.Target)
	if err != nil {
		return g, &Error{Step: fmt.Sprintf("grant %q to %q", g.Entitlement, g.Principal), Err: err}
	}
	if err := r.checkReplaces(ctx, g); err != nil {
		return g, err
	}
	if !target.RecordOnly(tgt) {
		issued, err := r.issueInTarget(ctx, tgt, g)
		if err != nil {
			return issued, err
		}
		return issued, r.supersede(ctx, issued)
	}
	g.ID = ledger.NewGrantID()
	if err := r.useApproval(ctx, g); err != nil {
		return g, err
	}
	issued, err := r.ledger.IssueGrant(ctx, g, r.now)
	if err != nil {
		return g, &Error{Step: "record the grant", Err: err, Done: approvalSpent(g)}
	}
	return issued, r.supersede(ctx, issued)
}

// checkReplaces makes sure that the grant g replaces is in force and that g
// narrows it: same principal and entitlement, expiry no later. The policy
// judged this already; the ledger is read again here because another run may
// have ended that grant since.
func (r *Run) checkReplaces(ctx context.Context, g ledger.Grant) error {
	if g.Replaces == "" {
		return nil
	}
	prev, err := r.ledger.Grant(ctx, g.Replaces)
	if err != nil {
		return &Error{Step: "read grant " + g.Replaces + ", which the new grant replaces", Err: err}
	}
	exp, err := g.Expiry()
	prevExp, prevErr := prev.Expiry()
	switch {
	case err != nil || prevErr != nil:
		return fmt.Errorf("the grant of %q to %q %w: its expiry or that of grant %s cannot be read",
			g.Entitlement, g.Principal, ErrNotNarrowing, prev.ID)
	case !r.InForce(prev):
		return fmt.Errorf("the grant of %q to %q %w: grant %s, which it replaces, is %s",
			g.Entitlement, g.Principal, ErrNotNarrowing, prev.ID, prev.StatusAt(r.now))
	case prev.Principal != g.Principal || prev.Entitlement != g.Entitlement || exp.After(prevExp):
		return fmt.Errorf("the grant of %q to %q until %s %w: grant %s, which it replaces, is of %q to %q until %s",
			g.Entitlement, g.Principal, g.ExpiresAt, ErrNotNarrowing, prev.ID, prev.Entitlement, prev.Principal, prev.ExpiresAt)
	}
	return nil
}

// supersede revokes the grant that issued replaces, if it is still active or
// pending, now that issued is in force. In a real target the access stays,
// since issued covers it (revokeAccess).
func (r *Run) supersede(ctx context.Context, issued ledger.Grant) error {
	if issued.Replaces == "" {
		return nil
	}
	prev, err := r.ledger.Grant(ctx, issued.Replaces)
	if err == nil {
		if prev.Status != ledger.StatusActive && prev.Status != ledger.StatusPending {
			return nil // ended already: destroyed to make way for issued
		}
		_, err = r.Revoke(ctx, prev, ledger.ReasonSuperseded, "replaced by grant "+issued.ID)
	}
	if err != nil {
		return fmt.Errorf("grant %s is issued, but recording that it supersedes grant %s failed (%v): %w",
			issued.ID, issued.Replaces, err, ErrPredecessorInForce)
	}
	return nil
}

// issueInTarget is Issue for a grant whose access lives in a real target.
func (r *Run) issueInTarget(ctx context.Context, tgt target.Target, g ledger.Grant) (ledger.Grant, error) {
	pending, resumed, err := r.pendingGrant(ctx, g)
	if err != nil {
		return g, &Error{Step: "look for an interrupted grant", Err: err}
	}
	if resumed {
		g = pending
	} else {
		g.ID = ledger.NewGrantID()
		// The server is recorded with the request, and the target grants only
		// on that server, so that other grants can tell whether they hold the
		// same access (Covering).
		if id, ok := tgt.(target.ServerIdentifier); ok {
			if g.TargetServer, err = id.Server(ctx); err != nil {
				return g, &Error{Step: "identify the server of target " + g.Target, Err: err}
			}
		}
	}
	if err := r.useApproval(ctx, g); err != nil {
		return g, err
	}
	if !resumed {
		requested, err := r.ledger.RequestGrant(ctx, g, r.now)
		if err != nil {
			return g, &Error{Step: "record the grant request", Err: err, Done: approvalSpent(g)}
		}
		g = requested
	}
	if err := r.faultAt(FaultAfterRequest); err != nil {
		return g, err
	}
	// Read the role's members before changing them, so that this run's view
	// of out-of-band changes is what it was before its own GRANTs.
	_, _ = r.view.present(ctx, tgt, g)
	if err := r.grantAccess(ctx, tgt, g); errors.Is(err, errNoLongerWanted) {
		return g, fmt.Errorf("grant %s %w; nothing was granted", g.ID, ErrRevokedWhileIssuing)
	} else if err != nil {
		step := fmt.Sprintf("grant %q to %q in target %s", g.Entitlement, g.Principal, g.Target)
		if r.nothingGranted(ctx, tgt, g, err) {
			// The target refused and holds no such membership: the request is
			// closed as failed, and there is no access to revoke.
			var res Result
			_, _, cerr := r.write(ctx, &res, g.ID, func() (ledger.Grant, bool, error) {
				return r.ledger.RevokeGrant(ctx, g.ID, r.now, ledger.ReasonGrantFailed, err.Error(), nil)
			})
			done := fmt.Sprintf("%s holds no such membership, so nothing is in force; the request is recorded as failed.", g.Target)
			if cerr != nil {
				done = fmt.Sprintf("%s holds no such membership, so nothing is in force; recording the failure in the ledger "+
					"failed too (%v), and the next apply resumes the request.", g.Target, cerr)
			}
			return g, &Error{Step: step, Err: err, Done: done}
		}
		// The request is closed as failed, so that it is never resumed, and the
		// access is revoked in case the GRANT took effect after all (a
		// connection lost after the server committed it).
		closed, cerr := r.end(ctx, g, "record that grant "+g.ID+" failed", func(targetErr error) (ledger.Grant, bool, error) {
			return r.ledger.RevokeGrant(ctx, g.ID, r.now, ledger.ReasonGrantFailed, err.Error(), targetErr)
		})
		done := "The request is recorded as failed; nothing is in force."
		switch {
		case cerr != nil:
			done = fmt.Sprintf("Recording the failure in the ledger failed too (%v); the next apply resumes the request.", cerr)
		case closed.Grant.RevokePending:
			done = DescribePending(closed.Grant) + " The next apply tries again."
		}
		return g, &Error{Step: step, Err: err, Done: done}
	}
	if err := r.faultAt(FaultAfterTargetGrant); err != nil {
		return g, err
	}
	issued, _, err := r.ledger.IssueRequested(ctx, g.ID, r.now)
	if errors.Is(err, ledger.ErrNotPending) {
		// Revoked while the target granted it: the access must go again.
		if rerr := r.revokeAccess(ctx, issued); rerr != nil {
			err = fmt.Errorf("%w; removing the access again failed: %v", err, rerr)
		}
		return g, fmt.Errorf("grant %s %w: %w", g.ID, ErrRevokedWhileIssuing, err)
	}
	if err != nil {
		return g, &Error{Step: "record that grant " + g.ID + " is in force", Err: err, Done: fmt.Sprintf(
			"Grant %s is in force in %s and the ledger holds it as requested; the next apply of this "+
				"configuration completes it under the same id.", g.ID, g.Target)}
	}
	return issued, nil
}

// approvalSpent says what a failed issue leaves behind when the grant's
// approval was already recorded as used.
func approvalSpent(g ledger.Grant) string {
	if g.ApprovalID == "" {
		return ""
	}
	return fmt.Sprintf("Approval %s is recorded as used by grant %s and authorises no other grant; nothing was granted.",
		g.ApprovalID, g.ID)
}

// useApproval claims the grant's approval record before anything is issued:
// if anything fails in between, the approval is spent and nothing is granted,
// never the other way round. A grant that replaces the approval's holder
// takes the approval over from it.
func (r *Run) useApproval(ctx context.Context, g ledger.Grant) error {
	if g.ApprovalID == "" {
		return nil
	}
	var err error
	if a, rerr := r.ledger.Approval(ctx, g.ApprovalID); rerr == nil && g.Replaces != "" && a.GrantID == g.Replaces {
		_, err = r.ledger.HandOverApproval(ctx, g.ApprovalID, g.Replaces, g.ID, r.now)
	} else {
		_, err = r.ledger.UseApproval(ctx, g.ApprovalID, g.ID, r.now)
	}
	if err != nil && !errors.Is(err, ledger.ErrApprovalUsed) {
		return &Error{Step: "record the use of approval " + g.ApprovalID, Err: err}
	}
	return err
}

// pendingGrant finds a grant left pending by an interrupted run with the
// arguments of g, that no other caller of this run has taken up. Pending
// grants of those arguments that are past their expiry are closed on the way.
func (r *Run) pendingGrant(ctx context.Context, g ledger.Grant) (ledger.Grant, bool, error) {
	pending, err := r.ledger.Grants(ctx, ledger.GrantFilter{Principal: g.Principal, Entitlement: g.Entitlement, Status: ledger.StatusPending})
	if err != nil {
		return g, false, err
	}
	for _, p := range pending {
		if !samePendingGrant(p, g) {
			continue
		}
		if p.StatusAt(r.now) == ledger.StatusExpired {
			// Too late to resume: close it, and take away whatever its GRANT did.
			if _, err := r.Expire(ctx, p); err != nil {
				return g, false, err
			}
			continue
		}
		if _, taken := r.resumed.LoadOrStore(p.ID, true); !taken {
			return p, true, nil
		}
	}
	return g, false, nil
}

// samePendingGrant reports whether a pending grant was requested with the
// arguments of g. With a ttl the expiry is counted from each request, so it
// is compared only when it was written as a time.
func samePendingGrant(p, g ledger.Grant) bool {
	return p.Principal == g.Principal && p.Entitlement == g.Entitlement && p.TicketID == g.TicketID &&
		ledger.SameApprovers(p.Approvers, g.Approvers) && p.ApprovalID == g.ApprovalID && p.Requester == g.Requester &&
		p.Justification == g.Justification && p.BreakGlass == g.BreakGlass && p.TTL == g.TTL &&
		p.Target == g.Target && p.Role == g.Role && (g.TTL != "" || p.ExpiresAt == g.ExpiresAt)
}

// Resumable reports whether approval a was spent on a grant that an
// interrupted run left pending and that a request of entitlement to principal
// under ticket would resume: such an approval still authorises that request.
func (r *Run) Resumable(ctx context.Context, a ledger.Approval, principal, entitlement, ticket string) bool {
	if a.GrantID == "" {
		return false
	}
	g, err := r.ledger.Grant(ctx, a.GrantID)
	return err == nil && g.StatusAt(r.now) == ledger.StatusPending && g.Principal == principal &&
		g.Entitlement == entitlement && g.TicketID == ticket && g.ApprovalID == a.ID
}

func (r *Run) faultAt(point string) error {
	if r.fault == nil {
		return nil
	}
	if err := r.fault(point); err != nil {
		return fmt.Errorf("%w at %s: %v", ErrInterrupted, point, err)
	}
	return nil
}

// errNoLongerWanted is returned by grantAccess when the grant was revoked
// before its target put it in force: nothing was granted.
var errNoLongerWanted = errors.New("the grant was revoked before it was put in force")

// grantAccess puts a pending grant in force in its target t, unless the ledger
// no longer holds it as pending when the target's lock is taken: a revocation
// recorded before that point finds nothing to revoke, and one recorded after
// waits for the lock and revokes what this granted.
func (r *Run) grantAccess(ctx context.Context, t target.Target, g ledger.Grant) error {
	wanted := true
	err := t.Grant(ctx, g, func(ctx context.Context) (bool, error) {
		cur, err := r.ledger.Grant(ctx, g.ID)
		if err != nil {
			return false, fmt.Errorf("reading grant %s from the ledger: %w", g.ID, err)
		}
		wanted = cur.Status == ledger.StatusPending
		return wanted, nil
	})
	if err == nil && !wanted {
		return errNoLongerWanted
	}
	return err
}

// Expire records that g ran out and removes its access from its target. A
// grant that is no longer active or pending keeps its status; a revocation of
// it still pending in its target is retried.
func (r *Run) Expire(ctx context.Context, g ledger.Grant) (Result, error) {
	step := "record the expiry of grant " + g.ID
	res, err := r.end(ctx, g, step, func(targetErr error) (ledger.Grant, bool, error) {
		return r.ledger.ExpireGrant(ctx, g.ID, r.now, targetErr)
	})
	return res, stepError(err, step)
}

// Revoke records that g was revoked for reason (one of the ledger's Reason
// values), with an optional note, and removes its access from its target. A
// grant that is no longer active or pending keeps its status; a revocation of
// it still pending in its target is retried.
func (r *Run) Revoke(ctx context.Context, g ledger.Grant, reason, note string) (Result, error) {
	step := "record the revocation of grant " + g.ID
	res, err := r.end(ctx, g, step, func(targetErr error) (ledger.Grant, bool, error) {
		return r.ledger.RevokeGrant(ctx, g.ID, r.now, reason, note, targetErr)
	})
	return res, stepError(err, step)
}

// Settle carries out what a plan showed for a grant: ending is the revocation
// reason the plan showed (ledger.ReasonExpired when it expired,
// ledger.ReasonOutOfBand when its access was found removed in its target,
// ledger.ReasonApprovalWithdrawn when its approval record was withdrawn), or
// "" when the plan showed it unchanged. A revocation still pending in the
// target is retried whatever the plan showed.
func (r *Run) Settle(ctx context.Context, g ledger.Grant, ending string) (Result, error) {
	inForce := g.Status == ledger.StatusActive || g.Status == ledger.StatusPending
	switch {
	case inForce && ending == ledger.ReasonExpired:
		return r.Expire(ctx, g)
	case g.Status == ledger.StatusActive && ending == ledger.ReasonOutOfBand:
		// Revoking again is a no-op in the target unless someone put the
		// access back meanwhile, and then it must go.
		return r.Revoke(ctx, g, ledger.ReasonOutOfBand, "the access was removed in "+g.Target+" outside governed")
	case inForce && ending == ledger.ReasonApprovalWithdrawn:
		return r.Revoke(ctx, g, ledger.ReasonApprovalWithdrawn, "approval "+g.ApprovalID+" was withdrawn")
	case g.RevokePending:
		return r.RetryRevocation(ctx, g)
	}
	return Result{Grant: g}, nil
}

// Retire ends g because its resource was destroyed: an active grant past its
// expiry is recorded as expired, any other active or pending grant as revoked
// (destroyed), its access is removed, a revocation still pending is retried,
// and the grant is marked retired. The evidence stays in the ledger.
func (r *Run) Retire(ctx context.Context, g ledger.Grant) (Result, error) {
	res := Result{Grant: g}
	var err error
	switch {
	case g.Status == ledger.StatusActive && g.StatusAt(r.now) == ledger.StatusExpired:
		res, err = r.Expire(ctx, g)
	case g.Status == ledger.StatusActive || g.Status == ledger.StatusPending:
		step := "record the retirement of grant " + g.ID
		res, err = r.end(ctx, g, step, func(targetErr error) (ledger.Grant, bool, error) {
			return r.ledger.RetireGrant(ctx, g.ID, r.now, targetErr)
		})
		err = stepError(err, step)
		if err == nil && g.Status == ledger.StatusActive && res.Grant.RevocationReason == ledger.ReasonDestroyed {
			r.destroyed.Store(g.ID, true)
		}
	case g.RevokePending:
		res, err = r.RetryRevocation(ctx, g)
	}
	if err != nil {
		return res, err
	}
	retired, appended, err := r.write(ctx, &res, g.ID, func() (ledger.Grant, bool, error) {
		return r.ledger.RetireGrant(ctx, g.ID, r.now, nil)
	})
	if err != nil {
		done := ""
		if res.Appended {
			done = fmt.Sprintf("The ledger records grant %s as %s; only its retirement is missing, and the next apply records it.",
				g.ID, res.Grant.Status)
		}
		return res, &Error{Step: "record the retirement of grant " + g.ID, Err: err, Done: done}
	}
	return Result{Grant: retired, Appended: res.Appended || appended, Discontinuity: res.Discontinuity}, nil
}

// RetryRevocation carries out a revocation the ledger holds as pending and
// records the outcome: completed, or failed again with the target's error.
// The grant is read again first, in case another caller of this run carried
// the revocation out meanwhile. A target that refuses because the role or the
// member no longer exists, or for lack of privilege while it holds no such
// membership, has nothing left to remove: the revocation is recorded as
// completed, with a note that says so. A grant with no revocation pending is
// returned as it is.
func (r *Run) RetryRevocation(ctx context.Context, g ledger.Grant) (Result, error) {
	defer r.lockGrant(g.ID)()
	if cur, err := r.ledger.Grant(ctx, g.ID); err == nil {
		g = cur
	}
	return r.retryRevocation(ctx, g)
}

// lockGrant waits until no other caller of this run is ending grant id and
// returns the function that lets the next one in.
func (r *Run) lockGrant(id string) func() {
	m, _ := r.ending.LoadOrStore(id, &sync.Mutex{})
	mu, _ := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// retryRevocation is RetryRevocation for a caller that holds the grant's lock.
func (r *Run) retryRevocation(ctx context.Context, g ledger.Grant) (Result, error) {
	if !g.RevokePending {
		return Result{Grant: g}, nil
	}
	var res Result
	note := ""
	terr := r.revokeAccess(ctx, g)
	if terr != nil {
		if gone, ok := r.accessGone(ctx, g, terr); ok {
			note, terr = gone, nil
		}
	}
	if terr != nil {
		failed, appended, err := r.write(ctx, &res, g.ID, func() (ledger.Grant, bool, error) {
			return r.ledger.FailRevocation(ctx, g.ID, r.now, terr)
		})
		if err != nil {
			res.Grant = g
			return res, &Error{Step: "record that " + g.Target + " did not remove the access of grant " + g.ID,
				Err: err, Done: fmt.Sprintf("The ledger still holds the revocation as pending (%s); the next apply tries again.", terr)}
		}
		res.Grant, res.Appended = failed, appended
		return res, nil
	}
	done, appended, err := r.write(ctx, &res, g.ID, func() (ledger.Grant, bool, error) {
		return r.ledger.CompleteRevocation(ctx, g.ID, r.now, note)
	})
	if err != nil {
		res.Grant = g
		return res, &Error{Step: "record that the access of grant " + g.ID + " was removed", Err: err, AccessRemoved: true,
			Done: fmt.Sprintf("The access was removed from %s, but the ledger still holds the revocation as pending; "+
				"the next apply records it.", g.Target)}
	}
	res.Grant, res.Appended = done, appended
	return res, nil
}

// accessGone reports whether a revocation that g's target refused with terr
// has nothing left to remove, and says why: the role or the member no longer
// exists (a membership cannot outlive either), or the target refused for lack
// of privilege but holds no membership of the role for the principal.
func (r *Run) accessGone(ctx context.Context, g ledger.Grant, terr error) (string, bool) {
	switch {
	case terr == nil:
		return "", false
	case errors.Is(terr, target.ErrNoSuchRole):
		return fmt.Sprintf("%s; a membership cannot outlive its role or its member, so none is left to revoke", terr), true
	case errors.Is(terr, target.ErrDenied) && r.absent(ctx, g):
		return fmt.Sprintf("%s; %s holds no membership of %s for %s, so none is left to revoke", terr, g.Target, g.Role, g.Principal), true
	}
	return "", false
}

// nothingGranted reports whether a GRANT that target t refused with err left
// nothing in force: the role or the member does not exist, or the provider's
// role lacked the privilege, and the target holds no such membership.
func (r *Run) nothingGranted(ctx context.Context, t target.Target, g ledger.Grant, err error) bool {
	if !errors.Is(err, target.ErrNoSuchRole) && !errors.Is(err, target.ErrDenied) {
		return false
	}
	present, perr := t.Present(ctx, g)
	return perr == nil && !present
}

// absent reports whether g's target, asked now, holds no membership of g's
// role for g's principal; false when it cannot tell.
func (r *Run) absent(ctx context.Context, g ledger.Grant) bool {
	t, err := r.targets.Lookup(g.Target)
	if err != nil {
		return false
	}
	present, err := t.Present(ctx, g)
	return err == nil && !present
}

// write appends one step of a removal of access to the ledger with step. A
// ledger whose recorded head does not match the last event of its log refuses
// every append (ledger.ErrInconsistent); removing access never waits for it
// to be repaired, so write records a discontinuity (ledger.RecordDiscontinuity),
// which keeps the damage visible to verification, notes it in res, and
// appends again. From then on the run grants nothing (Issue).
func (r *Run) write(ctx context.Context, res *Result, id string, step func() (ledger.Grant, bool, error)) (ledger.Grant, bool, error) {
	g, appended, err := step()
	if !errors.Is(err, ledger.ErrInconsistent) {
		return g, appended, err
	}
	r.damaged.Store(true)
	ev, recorded, derr := r.ledger.RecordDiscontinuity(ctx, r.now, "written so that the removal of the access of grant "+id+" could be recorded")
	if derr != nil {
		return g, appended, fmt.Errorf("%w; recording a discontinuity to go on past it failed too: %v", err, derr)
	}
	if recorded {
		res.Discontinuity = ev
	}
	return step()
}

// DescribeDiscontinuity explains, in sentences, a ledger.discontinuity event
// that a transition recorded (Result.Discontinuity).
func DescribeDiscontinuity(ev ledger.Event) string {
	var d ledger.Discontinuity
	found, why := "did not match the last event of its log", ""
	if err := json.Unmarshal(ev.Data, &d); err == nil {
		if d.RecordedHead == nil {
			found = fmt.Sprintf("was missing, with the log ending at event %d", d.LastEvent.Seq)
		} else {
			found = fmt.Sprintf("was event %d while the log ended at event %d", d.RecordedHead.Seq, d.LastEvent.Seq)
		}
		if d.Note != "" {
			why = ", " + d.Note
		}
	}
	return fmt.Sprintf("The ledger's recorded head %s, so the ledger refused every append: it was damaged outside "+
		"governed. Event %d (%s) was chained onto the last event of the log%s. Verification goes on reporting the "+
		"damage (run `governed verify`), and nothing new is granted or approved on this ledger. Keep this copy as "+
		"evidence of what was removed after the damage before restoring the ledger from a trusted backup.",
		found, ev.Seq, ev.Type, why)
}

// end ends g: record writes the decision to the ledger first, with
// ledger.ErrRevocationUnconfirmed as the target's answer when g's access lives
// in a real target; then the target removes the access and the ledger records
// the outcome. A crash in between leaves the revocation pending in the ledger,
// where every later run retries it. A grant whose target this run was not
// given is recorded with the revocation pending and the reason. Callers of
// one run end one grant in turn: the second records nothing and finds the
// access removed. A ledger that refuses the decision never keeps the access
// in place (removeUnrecorded); step names the decision for the error that
// reports it.
func (r *Run) end(ctx context.Context, g ledger.Grant, step string, record func(targetErr error) (ledger.Grant, bool, error)) (Result, error) {
	defer r.lockGrant(g.ID)()
	tgt, err := r.targets.Lookup(g.Target)
	var targetErr error
	switch {
	case err != nil:
		targetErr = r.unconfigured(g.Target, err)
	case !target.RecordOnly(tgt):
		targetErr = ledger.ErrRevocationUnconfirmed
	}
	var res Result
	ended, appended, err := r.write(ctx, &res, g.ID, func() (ledger.Grant, bool, error) { return record(targetErr) })
	if err != nil {
		return r.removeUnrecorded(ctx, g, res, step, err)
	}
	res.Grant, res.Appended = ended, appended
	if !ended.RevokePending || !errors.Is(targetErr, ledger.ErrRevocationUnconfirmed) {
		return res, nil
	}
	retried, err := r.retryRevocation(ctx, ended)
	retried.Appended = retried.Appended || appended
	if retried.Discontinuity.Seq == 0 {
		retried.Discontinuity = res.Discontinuity
	}
	return retried, err
}

// removeUnrecorded removes g's access from its target although the ledger
// refused to record that g ends (err): a ledger that cannot be written never
// keeps access in place. The ledger still holds g as it was, so the next run
// that can write it records the decision (g is past its expiry, or its access
// is found absent). Until then g no longer covers its access for this run.
func (r *Run) removeUnrecorded(ctx context.Context, g ledger.Grant, res Result, step string, err error) (Result, error) {
	res.Grant = g
	if !r.Enforced(g) {
		return res, &Error{Step: step, Err: err} // the ledger's record is the only access there is
	}
	r.unrecorded.Store(g.ID, true)
	terr := r.revokeAccess(ctx, g)
	if _, gone := r.accessGone(ctx, g, terr); gone {
		terr = nil
	}
	if terr != nil {
		return res, &Error{Step: step, Err: err, Done: fmt.Sprintf("Removing the access from %s failed too (%s), so it "+
			"is still in place; the next apply tries both again.", g.Target, terr)}
	}
	return res, &Error{Step: step, Err: err, AccessRemoved: true, Done: fmt.Sprintf("The access was removed from %s "+
		"all the same, since a ledger that cannot record a decision never keeps access in place. The ledger still "+
		"holds grant %s as %s; the next apply that can write to the ledger records the decision.", g.Target, g.ID, g.Status)}
}

// stepError turns a failure to record a decision into an Error; an Error
// from a later step is returned as it is.
func stepError(err error, step string) error {
	var e *Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return &Error{Step: step, Err: err}
}

// revokeAccess removes g's access from its target, unless another grant that
// is active or pending in the ledger covers the same access (Covering): two
// tickets for one membership, or a renewal created before the grant it
// replaces is destroyed, must not take each other's access away. The decision
// that g ended is recorded before this is called (see end), so that of several
// grants of one access ended at the same time, the last to be recorded always
// finds none left and revokes.
func (r *Run) revokeAccess(ctx context.Context, g ledger.Grant) error {
	t, err := r.targets.Lookup(g.Target)
	if err != nil {
		return r.unconfigured(g.Target, err)
	}
	if target.RecordOnly(t) {
		return nil
	}
	return t.Revoke(ctx, g, func(ctx context.Context) (bool, error) {
		covering, err := r.Covering(ctx, g)
		return len(covering) > 0, err
	})
}

// Covering lists the grants other than g that give the same access as g and
// are active at the run's now, or pending (about to be put in force) and not
// yet expired.
//
// The same access is the same role and principal on the same server, since a
// membership belongs to a server: workspaces that share a ledger may give one
// target name to different servers, or different names to one server. The
// server is the one g's target reaches now, where a REVOKE would run (the one
// recorded on g when this run was not given g's target), and a grant counts
// only when the ledger records that it was granted on that server. Removing
// access is never skipped on a guess: a grant recorded without its server
// (before servers were recorded) never counts, nor does any grant when the
// target cannot say which server it reaches. For a target that cannot
// identify servers at all, grants count by target name.
func (r *Run) Covering(ctx context.Context, g ledger.Grant) ([]ledger.Grant, error) {
	server, byName := g.TargetServer, false
	if t, err := r.targets.Lookup(g.Target); err == nil {
		if id, ok := t.(target.ServerIdentifier); !ok {
			byName = true
		} else if server, err = id.Server(ctx); err != nil {
			server = ""
		}
	}
	candidates, err := r.ledger.Grants(ctx, ledger.GrantFilter{Principal: g.Principal})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger for other grants of %s to %s: %w", g.Role, g.Principal, err)
	}
	var out []ledger.Grant
	for _, o := range candidates {
		if o.ID == g.ID || o.Role != g.Role {
			continue
		}
		if byName && o.Target != g.Target || !byName && (server == "" || o.TargetServer != server) {
			continue
		}
		if _, removed := r.unrecorded.Load(o.ID); removed {
			continue
		}
		if st := o.StatusAt(r.now); st != ledger.StatusActive && st != ledger.StatusPending {
			continue
		}
		// A current-state row may name an earlier event of its grant (an
		// edit that verification reports later): a grant that ended must
		// not keep another's access in place, so the one that would is read
		// again from its last event; one that cannot be read covers nothing.
		if cur, err := r.ledger.Grant(ctx, o.ID); err == nil {
			if st := cur.StatusAt(r.now); st == ledger.StatusActive || st == ledger.StatusPending {
				out = append(out, cur)
			}
		}
	}
	return out, nil
}

// InForce reports whether g is in force for this run: active and not past
// its expiry at the run's now, or ended by this run because its resource was
// destroyed while it was in force, as Terraform destroys a grant just before
// it creates the grant that replaces it. A new grant may narrow a grant in
// force under the same approval or ticket and take its place; a grant that
// expired or was revoked in any other way is never followed under them.
func (r *Run) InForce(g ledger.Grant) bool {
	if g.StatusAt(r.now) == ledger.StatusActive {
		return true
	}
	_, destroyed := r.destroyed.Load(g.ID)
	return destroyed && g.Status == ledger.StatusRevoked && g.RevocationReason == ledger.ReasonDestroyed
}

// TicketGrants lists the grants of entitlement to principal that the ledger
// holds as issued under ticket, whatever their status now: what the ticket
// already authorised. Grants only requested, never put in force, do not count.
// The ledger is asked for the principal's grants of the entitlement and the
// ticket is matched here, since the stores do not index tickets.
func (r *Run) TicketGrants(ctx context.Context, principal, entitlement, ticket string) ([]ledger.Grant, error) {
	all, err := r.ledger.Grants(ctx, ledger.GrantFilter{Principal: principal, Entitlement: entitlement})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger for grants of %s to %s: %w", entitlement, principal, err)
	}
	var out []ledger.Grant
	for _, g := range all {
		if g.TicketID == ticket && !g.GrantedAt.IsZero() {
			out = append(out, g)
		}
	}
	return out, nil
}

// Enforced reports whether g's access lives in a target other than the ledger
// itself, or in one this run was not given.
func (r *Run) Enforced(g ledger.Grant) bool {
	t, err := r.targets.Lookup(g.Target)
	return err != nil || !target.RecordOnly(t)
}

// Observe checks, for a grant the ledger holds as active, that its access is
// still in force in its target. When it is not, it returns the grant as it
// now stands, revoked out of band at the run's now, and true. Every grant of
// a run is judged against the same reading of each role's members. The error
// is for a target that could not be asked (target.ErrNotConfigured when this
// run was not given it); the grant is then returned as the ledger holds it.
func (r *Run) Observe(ctx context.Context, g ledger.Grant) (ledger.Grant, bool, error) {
	if g.Status != ledger.StatusActive || g.StatusAt(r.now) != ledger.StatusActive {
		return g, false, nil
	}
	t, err := r.targets.Lookup(g.Target)
	if err != nil {
		return g, false, err
	}
	if target.RecordOnly(t) {
		return g, false, nil
	}
	present, err := r.view.present(ctx, t, g)
	if err != nil || present {
		return g, false, err
	}
	g.Status = ledger.StatusRevoked
	g.RevokedAt = r.now
	g.RevocationReason = ledger.ReasonOutOfBand
	return g, true, nil
}

// CheckTarget runs the checks of the entitlement's target on a grant of it to
// principal (a privileged role, a principal the target does not know), once
// per run. The error is for a target that is not configured
// (target.ErrNotConfigured) or cannot be asked.
func (r *Run) CheckTarget(ctx context.Context, principal string, e *policy.Entitlement) ([]policy.Violation, error) {
	t, err := r.targets.Lookup(e.Target)
	if err != nil {
		return nil, err
	}
	checker, ok := t.(target.Checker)
	if !ok {
		return nil, nil
	}
	return r.view.check(ctx, checker, e.Target, principal, e.Role)
}

// DescribePending explains, in one sentence, a grant whose revocation its
// target has not carried out yet.
func DescribePending(g ledger.Grant) string {
	return fmt.Sprintf("Grant %s of %q to %q (ticket %s) is %s in the ledger, but %s has not removed the access yet: %s.",
		g.ID, g.Entitlement, g.Principal, g.TicketID, g.Status, g.Target, g.RevokeError)
}
