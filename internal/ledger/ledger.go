package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgurl"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// DefaultLocation is the ledger used when none is configured: a SQLite file in
// the working directory, like Terraform's local state backend.
const DefaultLocation = "governed.db"

// EnvLocation is the environment variable that names the ledger when neither
// the provider configuration nor the command line does.
const EnvLocation = "GOVERNED_LEDGER"

// Resolve returns the ledger location to use: configured when it is not blank,
// else the value of EnvLocation, else DefaultLocation.
func Resolve(configured string) string {
	for _, l := range []string{configured, os.Getenv(EnvLocation)} {
		if strings.TrimSpace(l) != "" {
			return l
		}
	}
	return DefaultLocation
}

// maxAttempts bounds how often a transition re-reads and retries after another
// writer changed the same record.
const maxAttempts = 5

// Ledger holds the transitions of grants and approvals on top of a Store. Every
// transition reads the record, decides, and appends with the sequence number
// it read, so that two writers cannot both act on the same state. It is safe
// for concurrent use.
type Ledger struct {
	s Store
	// judge judges recorded decisions against their policies in Verify;
	// nil judges only what the ledger knows by itself.
	judge Judge
}

// SetJudge makes Verify judge every recorded decision with j too (see
// Judge). Call it before the ledger is shared; nil removes it.
func (l *Ledger) SetJudge(j Judge) { l.judge = j }

// judgedVerifier is a store whose verification can take a Judge: both of
// this package's stores.
type judgedVerifier interface {
	// verify verifies the whole ledger, or from the trusted event from when
	// it is not nil (VerifySince).
	verify(ctx context.Context, judge Judge, from *Head) (Report, error)
}

// New returns a Ledger over s.
func New(s Store) *Ledger { return &Ledger{s: s} }

// Open opens the ledger at location, creating an empty ledger when there is
// none yet (a new SQLite file, or the schema in an empty PostgreSQL database):
//
//	""                            governed.db in the working directory
//	"sqlite:PATH" or "PATH"       the SQLite file at PATH
//	"postgres://…", "postgresql://…"
//	                              the PostgreSQL database at that URL, whose query
//	                              may also set pgxpool's settings (pool_max_conns, …)
func Open(ctx context.Context, location string) (*Ledger, error) {
	return open(ctx, location, true)
}

// OpenExisting is Open for tools that only inspect or amend a ledger: a
// location that does not exist is an error instead of a new, empty ledger.
func OpenExisting(ctx context.Context, location string) (*Ledger, error) {
	return open(ctx, location, false)
}

// unknownScheme matches a location that starts like a URI scheme (two or
// more letters, digits, +, - or . before a colon) other than sqlite: and
// postgres:, which are handled before it; one letter is left to be a
// Windows drive.
var unknownScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]+:`)

// open is the one place that maps a location to a store. The ledger records
// the origin the environment gives (OriginFromEnv) with every event.
func open(ctx context.Context, location string, create bool) (*Ledger, error) {
	return openStore(ctx, location, create, OriginFromEnv(os.Getenv))
}

func openStore(ctx context.Context, location string, create bool, origin Origin) (*Ledger, error) {
	switch {
	case location == "":
		location = DefaultLocation
	case pgurl.Is(location):
		s, err := openPostgres(ctx, location, create, origin)
		if err != nil {
			return nil, err
		}
		return New(s), nil
	case strings.HasPrefix(location, "sqlite:"):
		location = strings.TrimPrefix(location, "sqlite:")
		if location == "" {
			return nil, errors.New(`the ledger location "sqlite:" names no file; write sqlite:PATH`)
		}
	case strings.Contains(location, "://"):
		return nil, fmt.Errorf("unsupported ledger location %q: use a file path, sqlite:PATH or postgres://…", location)
	case unknownScheme.MatchString(location):
		// sqlite3:governed.db would otherwise be a file of that literal name.
		scheme, _, _ := strings.Cut(location, ":")
		return nil, fmt.Errorf("unsupported ledger location %q: %q is not a scheme governed knows; use a file path, "+
			"sqlite:PATH or postgres://… (./%s for a file whose name has a colon)", location, scheme+":", location)
	}
	s, err := openSQLite(ctx, location, create, origin)
	if err != nil {
		return nil, err
	}
	return New(s), nil
}

// Close closes the store.
func (l *Ledger) Close() error { return l.s.Close() }

// Store returns the underlying store.
func (l *Ledger) Store() Store { return l.s }

// Grant returns the current state of a grant (ErrNotFound when unknown).
func (l *Ledger) Grant(ctx context.Context, id string) (Grant, error) { return l.s.Grant(ctx, id) }

// Grants returns the grants that match f, sorted by id.
func (l *Ledger) Grants(ctx context.Context, f GrantFilter) ([]Grant, error) {
	return l.s.Grants(ctx, f)
}

// EachGrant calls fn for every grant that matches f, in order of id, as the
// store reads them (see Store.EachGrant).
func (l *Ledger) EachGrant(ctx context.Context, f GrantFilter, fn func(Grant) error) error {
	return l.s.EachGrant(ctx, f, fn)
}

// EachListedGrant is EachGrant with only the grant's ListedFields filled,
// in one Grant that fn is given again for each grant (see
// Store.EachListedGrant).
func (l *Ledger) EachListedGrant(ctx context.Context, f GrantFilter, fn func(*Grant) error) error {
	return l.s.EachListedGrant(ctx, f, fn)
}

// Approval returns the current state of an approval record (ErrNotFound when unknown).
func (l *Ledger) Approval(ctx context.Context, id string) (Approval, error) {
	return l.s.Approval(ctx, id)
}

// ID returns the ledger's id (see Store.ID).
func (l *Ledger) ID(ctx context.Context) (string, error) { return l.s.ID(ctx) }

// Head returns the last event's sequence number and hash.
func (l *Ledger) Head(ctx context.Context) (Head, error) { return l.s.Head(ctx) }

// EventHash returns the hash of the event at seq (see Store.EventHash).
func (l *Ledger) EventHash(ctx context.Context, seq int64) (string, error) {
	return l.s.EventHash(ctx, seq)
}

// Verify checks the whole ledger; see Report: its chain, its recorded head,
// its current-state tables, its schema, and the meaning of its events (every
// grant's and approval's life, approvals recorded before the grants they
// authorise, every decision naming a policy document the ledger keeps, and,
// with a Judge, each decision meeting that policy). Every kept policy
// document must still hash to the digest it is kept under.
func (l *Ledger) Verify(ctx context.Context) (Report, error) {
	var r Report
	var err error
	if jv, ok := l.s.(judgedVerifier); ok {
		r, err = jv.verify(ctx, l.judge, nil)
	} else {
		r, err = l.s.Verify(ctx)
	}
	if err != nil || !r.OK {
		return r, err
	}
	return l.checkPolicies(ctx, r)
}

// checkPolicies fails r when a kept policy document no longer hashes to
// the digest it is kept under.
func (l *Ledger) checkPolicies(ctx context.Context, r Report) (Report, error) {
	err := l.s.Policies(ctx, func(digest string, document []byte) error {
		if checkPolicy(digest, document) != nil {
			r.OK, r.Problem = false, fmt.Sprintf("the policy document kept under digest %s was altered", digest)
			return errStopPolicies
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopPolicies) {
		return Report{}, err
	}
	return r, nil
}

// errStopPolicies ends the walk of the kept policy documents at the first
// altered one.
var errStopPolicies = errors.New("stop")

// KeepPolicy keeps a policy document in the ledger under its digest, once
// (see Store.KeepPolicy).
func (l *Ledger) KeepPolicy(ctx context.Context, digest string, document []byte, at time.Time) error {
	return l.s.KeepPolicy(ctx, digest, document, at)
}

// IssueGrant records a new, active grant granted at at. An empty g.ID is
// replaced by a new one. It returns ErrExists when the id is taken.
func (l *Ledger) IssueGrant(ctx context.Context, g Grant, at time.Time) (Grant, error) {
	if g.ID == "" {
		g.ID = NewGrantID()
	}
	g.Status = StatusActive
	g.GrantedAt = at.UTC().Round(0)
	g.RevokedAt, g.RevocationReason, g.RevocationNote, g.RetiredAt = time.Time{}, "", "", time.Time{}
	ev, err := l.s.AppendGrant(ctx, EventGrantIssued, at, g, 0)
	if err != nil {
		return Grant{}, err
	}
	g.Seq = ev.Seq
	return g, nil
}

// RequestGrant records a grant that passed policy and is about to be put in
// force in its target (status pending). It is the intent written before the
// target is touched: if the process dies after the target granted, the next
// run finds the pending grant and completes it with IssueRequested, so that
// nothing is in force that the ledger does not know of. An empty g.ID is
// replaced by a new one; a taken id returns ErrExists.
func (l *Ledger) RequestGrant(ctx context.Context, g Grant, at time.Time) (Grant, error) {
	if g.ID == "" {
		g.ID = NewGrantID()
	}
	g.Status = StatusPending
	g.GrantedAt, g.RevokedAt, g.RetiredAt = time.Time{}, time.Time{}, time.Time{}
	g.RevocationReason, g.RevocationNote = "", ""
	g.RevokePending, g.RevokeError = false, ""
	ev, err := l.s.AppendGrant(ctx, EventGrantRequested, at, g, 0)
	if err != nil {
		return Grant{}, err
	}
	g.Seq = ev.Seq
	return g, nil
}

// IssueRequested records that a pending grant is now in force in its target.
// A grant that is no longer pending (revoked meanwhile) is returned as it is,
// with ErrNotPending: the caller must take the access away again.
func (l *Ledger) IssueRequested(ctx context.Context, id string, at time.Time) (Grant, bool, error) {
	g, appended, err := l.transitionGrant(ctx, id, at, func(g *Grant) string {
		if g.Status != StatusPending {
			return ""
		}
		g.Status = StatusActive
		g.GrantedAt = at.UTC().Round(0)
		return EventGrantIssued
	})
	if err == nil && g.Status != StatusActive {
		return g, false, fmt.Errorf("grant %s is %s: %w", id, g.Status, ErrNotPending)
	}
	return g, appended, err
}

// ExpireGrant records that an active (or pending) grant expired and was
// revoked at at. Any other grant is returned as it is, with no event.
// targetErr is what the target said when asked to remove the access, or
// ErrRevocationUnconfirmed when it has not been asked yet: when it is not nil,
// the grant is recorded expired but pending revocation in its target, with the
// error, until CompleteRevocation.
func (l *Ledger) ExpireGrant(ctx context.Context, id string, at time.Time, targetErr error) (Grant, bool, error) {
	return l.transitionGrant(ctx, id, at, func(g *Grant) string {
		if g.Status != StatusActive && g.Status != StatusPending {
			return ""
		}
		g.Status = StatusExpired
		g.RevokedAt = at.UTC().Round(0)
		g.RevocationReason = ReasonExpired
		g.setRevokeOutcome(targetErr)
		return EventGrantExpired
	})
}

// RevokeGrant records that an active or pending grant was revoked at at, for
// reason (one of the Reason constants) with an optional note. Any other grant
// is returned as it is, with no event. targetErr is as for ExpireGrant.
func (l *Ledger) RevokeGrant(ctx context.Context, id string, at time.Time, reason, note string, targetErr error) (Grant, bool, error) {
	if reason == "" {
		return Grant{}, false, errors.New("a revocation needs a reason")
	}
	return l.transitionGrant(ctx, id, at, func(g *Grant) string {
		if g.Status != StatusActive && g.Status != StatusPending {
			return ""
		}
		g.Status = StatusRevoked
		g.RevokedAt = at.UTC().Round(0)
		g.RevocationReason = reason
		g.RevocationNote = note
		g.setRevokeOutcome(targetErr)
		return EventGrantRevoked
	})
}

// RetireGrant records that the grant's resource was destroyed: an active or
// pending grant is revoked (reason "destroyed") and every grant is marked
// retired. A grant already retired is returned as it is, with no event.
// targetErr is as for ExpireGrant.
func (l *Ledger) RetireGrant(ctx context.Context, id string, at time.Time, targetErr error) (Grant, bool, error) {
	return l.transitionGrant(ctx, id, at, func(g *Grant) string {
		if !g.RetiredAt.IsZero() {
			return ""
		}
		if g.Status == StatusActive || g.Status == StatusPending {
			g.Status = StatusRevoked
			g.RevokedAt = at.UTC().Round(0)
			g.RevocationReason = ReasonDestroyed
			g.setRevokeOutcome(targetErr)
		}
		g.RetiredAt = at.UTC().Round(0)
		return EventGrantRetired
	})
}

// CompleteRevocation records that a revocation its target had refused is now
// carried out there; note, when not empty, says how it was settled other than
// by a REVOKE (see Grant.RevokeNote). A grant with no revocation pending is
// returned as it is, with no event.
func (l *Ledger) CompleteRevocation(ctx context.Context, id string, at time.Time, note string) (Grant, bool, error) {
	return l.transitionGrant(ctx, id, at, func(g *Grant) string {
		if !g.RevokePending {
			return ""
		}
		g.RevokePending, g.RevokeError, g.RevokeNote = false, "", note
		return EventGrantRevokeCompleted
	})
}

// RecordDiscontinuity appends a ledger.discontinuity event with note when the
// ledger's recorded head does not match the last event of its log, so that
// what removes access can be recorded after it (see Store.AppendDiscontinuity).
// It reports false, with no event, when the head matches.
func (l *Ledger) RecordDiscontinuity(ctx context.Context, at time.Time, note string) (Event, bool, error) {
	return l.s.AppendDiscontinuity(ctx, at, note)
}

// FailRevocation records that the target refused, or could not be asked, to
// carry out a revocation that is pending; it stays pending. A grant with no
// revocation pending is returned as it is, with no event.
func (l *Ledger) FailRevocation(ctx context.Context, id string, at time.Time, targetErr error) (Grant, bool, error) {
	if targetErr == nil {
		return Grant{}, false, errors.New("a failed revocation needs the target's error")
	}
	return l.transitionGrant(ctx, id, at, func(g *Grant) string {
		if !g.RevokePending {
			return ""
		}
		g.RevokeError = targetErr.Error()
		return EventGrantRevokeFailed
	})
}

// setRevokeOutcome records what the target said when asked to revoke.
func (g *Grant) setRevokeOutcome(targetErr error) {
	g.RevokePending, g.RevokeError = targetErr != nil, ""
	if targetErr != nil {
		g.RevokeError = targetErr.Error()
	}
}

// transitionGrant reads the grant, lets change decide (it returns the event type,
// or "" for no change) and appends; when another writer got there first it
// decides again from the fresh state. It reports whether it appended an event:
// every grant transition returns the grant as it now stands and that report,
// so that a caller never has to compare fields to learn what was recorded.
func (l *Ledger) transitionGrant(ctx context.Context, id string, at time.Time, change func(*Grant) string) (Grant, bool, error) {
	for attempt := 1; ; attempt++ {
		cur, err := l.s.Grant(ctx, id)
		if err != nil {
			return Grant{}, false, err
		}
		next := cur
		eventType := change(&next)
		if eventType == "" {
			return cur, false, nil
		}
		ev, err := l.s.AppendGrant(ctx, eventType, at, next, cur.Seq)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return Grant{}, false, err
		}
		next.Seq = ev.Seq
		return next, true, nil
	}
}

// RecordApproval records an active approval approved at at. An empty a.ID is
// replaced by a new one. An id is recorded once: any approval already in the
// ledger under it, active or withdrawn, makes it return ErrExists, so that a
// withdrawn approval never becomes active again and its approved_at, from
// which approval_max_age counts, never moves.
func (l *Ledger) RecordApproval(ctx context.Context, a Approval, at time.Time) (Approval, error) {
	if a.ID == "" {
		a.ID = NewApprovalID()
	}
	a.Status = ApprovalActive
	a.ApprovedAt = at.UTC().Round(0)
	a.WithdrawnAt = time.Time{}
	a.GrantID, a.PreviousGrantID = "", ""
	cur, err := l.s.Approval(ctx, a.ID)
	switch {
	case err == nil:
		return Approval{}, fmt.Errorf("approval %q (%s since %s): %w", a.ID, cur.Status, cur.ApprovedAt.Format(time.RFC3339), ErrExists)
	case !errors.Is(err, ErrNotFound):
		return Approval{}, err
	}
	// A writer that records the same id meanwhile makes the append fail with
	// ErrExists: the store refuses a new record under a taken id.
	ev, err := l.s.AppendApproval(ctx, EventApprovalRecorded, at, a, 0)
	if err != nil {
		return Approval{}, err
	}
	a.Seq = ev.Seq
	return a, nil
}

// UseApproval marks an active approval as the authority for grantID, before
// the grant is issued: an approval authorises one grant, so a renewal or a
// wider replacement needs a new one (a narrower replacement takes the
// approval over with HandOverApproval). Using it again for the same grant is
// a no-op.
// It fails with ErrApprovalUsed when the approval authorised another grant or
// was withdrawn.
func (l *Ledger) UseApproval(ctx context.Context, id, grantID string, at time.Time) (Approval, error) {
	return l.transitionApproval(ctx, id, at, func(a *Approval) (string, error) {
		switch {
		case a.GrantID == grantID:
			return "", nil
		case a.GrantID != "":
			return "", fmt.Errorf("approval %q authorised grant %q: %w", id, a.GrantID, ErrApprovalUsed)
		case a.Status != ApprovalActive:
			return "", fmt.Errorf("approval %q is %s: %w", id, a.Status, ErrApprovalUsed)
		}
		a.GrantID = grantID
		return EventApprovalUsed, nil
	})
}

// HandOverApproval passes the authority of an active approval from the grant
// it authorises (from) to the grant that narrows and replaces it (to), before
// that grant is issued, so that the approval authorises one grant in force at
// a time. Handing it over again to the same grant is a no-op. It fails with
// ErrApprovalUsed when the approval authorises another grant than from, or was
// withdrawn.
func (l *Ledger) HandOverApproval(ctx context.Context, id, from, to string, at time.Time) (Approval, error) {
	if from == "" || to == "" || from == to {
		return Approval{}, fmt.Errorf("approval %q: a hand-over needs two different grants, not %q and %q", id, from, to)
	}
	return l.transitionApproval(ctx, id, at, func(a *Approval) (string, error) {
		switch {
		case a.GrantID == to:
			return "", nil
		case a.GrantID != from:
			return "", fmt.Errorf("approval %q authorises grant %q, not %q: %w", id, a.GrantID, from, ErrApprovalUsed)
		case a.Status != ApprovalActive:
			return "", fmt.Errorf("approval %q is %s: %w", id, a.Status, ErrApprovalUsed)
		}
		a.GrantID, a.PreviousGrantID = to, from
		return EventApprovalHandedOver, nil
	})
}

// WithdrawApproval records that an active approval was withdrawn at at (its
// resource was destroyed). Any other approval is returned as it is, with no event.
func (l *Ledger) WithdrawApproval(ctx context.Context, id string, at time.Time) (Approval, error) {
	return l.transitionApproval(ctx, id, at, func(a *Approval) (string, error) {
		if a.Status != ApprovalActive {
			return "", nil
		}
		a.Status = ApprovalWithdrawn
		a.WithdrawnAt = at.UTC().Round(0)
		return EventApprovalWithdrawn, nil
	})
}

// transitionApproval is transitionGrant for approvals; change may also refuse
// the transition, and the approval is then returned as read, with the error.
func (l *Ledger) transitionApproval(ctx context.Context, id string, at time.Time, change func(*Approval) (string, error)) (Approval, error) {
	for attempt := 1; ; attempt++ {
		cur, err := l.s.Approval(ctx, id)
		if err != nil {
			return Approval{}, err
		}
		next := cur
		eventType, err := change(&next)
		if err != nil || eventType == "" {
			return cur, err
		}
		ev, err := l.s.AppendApproval(ctx, eventType, at, next, cur.Seq)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			continue
		}
		if err != nil {
			return Approval{}, err
		}
		next.Seq = ev.Seq
		return next, nil
	}
}

// Matches reports whether g passes the filter. Whether g's approval record
// is withdrawn (ApprovalWithdrawn) is the store's to judge: Matches only
// checks that g is active or pending and names an approval.
func (f GrantFilter) Matches(g Grant) bool {
	inForce := g.Status == StatusActive || g.Status == StatusPending
	if f.Principal != "" && g.Principal != f.Principal {
		return false
	}
	if f.Entitlement != "" && g.Entitlement != f.Entitlement {
		return false
	}
	if f.Status != "" && g.Status != f.Status {
		return false
	}
	if !f.ExpiringBefore.IsZero() {
		exp, err := time.Parse(time.RFC3339, g.ExpiresAt)
		if g.Status != StatusActive || err != nil || !exp.Before(f.ExpiringBefore) {
			return false
		}
	}
	if !f.Overdue.IsZero() {
		// An expiry that cannot be read counts as passed, as in StatusAt.
		exp, err := time.Parse(time.RFC3339, g.ExpiresAt)
		if !inForce || (err == nil && exp.After(f.Overdue)) {
			return false
		}
	}
	if f.ApprovalWithdrawn && (!inForce || g.ApprovalID == "") {
		return false
	}
	if f.RevokePending && !g.RevokePending {
		return false
	}
	if f.Identity != "" && policy.NormalizeIdentity(g.Principal) != policy.NormalizeIdentity(f.Identity) {
		return false
	}
	if f.StatusAt != "" && g.StatusAt(f.At) != f.StatusAt {
		return false
	}
	return true
}

// NewGrantID returns a new random grant id: "grt_" and 20 lowercase hex digits.
func NewGrantID() string { return "grt_" + randomHex(10) }

// NewApprovalID returns a new random approval id: "apr_" and 20 lowercase hex digits.
func NewApprovalID() string { return "apr_" + randomHex(10) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: crypto/rand aborts the program instead
	return hex.EncodeToString(b)
}
