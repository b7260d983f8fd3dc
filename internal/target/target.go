// Package target enforces grants in the systems they govern. The built-in
// "ledger" target records the grant and enforces nothing else; PostgreSQL
// targets grant role memberships. Both implement Target.
package target

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Target makes grants real in one system.
type Target interface {
	// Grant gives g.Principal the entitlement's role, if wanted still reports
	// that the grant is to be put in force (it was not revoked meanwhile).
	// Targets that serialise changes to one access ask wanted under the same
	// lock as Revoke asks covered. It must be idempotent.
	Grant(ctx context.Context, g ledger.Grant, wanted func(context.Context) (bool, error)) error
	// Revoke takes the access away, unless covered reports that another grant
	// still gives the same access. Targets that can serialise changes to one
	// access ask covered while holding a lock that Grant takes too, so that
	// issuing one grant and revoking another of the same access cannot
	// interleave. It must be idempotent.
	Revoke(ctx context.Context, g ledger.Grant, covered func(context.Context) (bool, error)) error
	// Present reports whether the access is still in force in the target; false
	// means it was removed outside governed.
	Present(ctx context.Context, g ledger.Grant) (bool, error)
}

// Checker is implemented by targets that refuse some grants at plan time,
// such as a role that would hand over administrative powers. The error is
// for a target that cannot be asked.
type Checker interface {
	Check(ctx context.Context, principal, role string) ([]policy.Violation, error)
}

// Membership is one holder of a role in a target.
type Membership struct {
	Target      string
	Role        string
	Principal   string
	AdminOption bool
}

// Lister is implemented by targets that can list who holds a role, so that
// access granted outside governed can be found.
type Lister interface {
	Members(ctx context.Context, role string) ([]Membership, error)
}

// Ledger is the record-only target: the ledger entry is the grant.
type Ledger struct{}

func (Ledger) Grant(context.Context, ledger.Grant, func(context.Context) (bool, error)) error {
	return nil
}
func (Ledger) Revoke(context.Context, ledger.Grant, func(context.Context) (bool, error)) error {
	return nil
}
func (Ledger) Present(context.Context, ledger.Grant) (bool, error) { return true, nil }

// RecordOnly reports whether t enforces nothing outside the ledger.
func RecordOnly(t Target) bool {
	_, ok := t.(Ledger)
	return ok
}

// Registry maps target names, as entitlements spell them, to targets.
type Registry map[string]Target

// NewRegistry returns a registry holding the built-in ledger target.
func NewRegistry() Registry {
	return Registry{policy.TargetLedger: Ledger{}}
}

// Lookup returns the named target or an error listing the configured ones.
func (r Registry) Lookup(name string) (Target, error) {
	if t, ok := r[name]; ok {
		return t, nil
	}
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	sort.Strings(names)
	return nil, fmt.Errorf("target %q is not configured in this provider (configured: %s)", name, strings.Join(names, ", "))
}

// RevokeAccess removes g's access from its target, unless another grant that
// is active or pending in the ledger at now covers the same access (same
// target, role and principal): two tickets for one membership, or a renewal
// created before the grant it replaces is destroyed, must not take each
// other's access away. Callers record in the ledger that g has ended before
// calling it (see End), so that of several grants of one access ended at the
// same time, the last to be recorded always finds none left and revokes.
func (r Registry) RevokeAccess(ctx context.Context, l *ledger.Ledger, g ledger.Grant, now time.Time) error {
	t, err := r.Lookup(g.Target)
	if err != nil {
		return err
	}
	if RecordOnly(t) {
		return nil
	}
	return t.Revoke(ctx, g, func(ctx context.Context) (bool, error) {
		covering, err := CoveringGrants(ctx, l, g, now)
		return len(covering) > 0, err
	})
}

// ErrNoLongerWanted is returned by GrantAccess when the grant was revoked
// before its target put it in force: nothing was granted.
var ErrNoLongerWanted = errors.New("the grant was revoked before it was put in force")

// GrantAccess puts a pending grant in force in its target, unless the ledger
// no longer holds it as pending when the target's lock is taken: a
// revocation recorded before that point finds nothing to revoke, and one
// recorded after waits for the lock and revokes what this granted.
func (r Registry) GrantAccess(ctx context.Context, l *ledger.Ledger, g ledger.Grant) error {
	t, err := r.Lookup(g.Target)
	if err != nil {
		return err
	}
	wanted := true
	err = t.Grant(ctx, g, func(ctx context.Context) (bool, error) {
		cur, err := l.Grant(ctx, g.ID)
		if err != nil {
			return false, fmt.Errorf("reading grant %s from the ledger: %w", g.ID, err)
		}
		wanted = cur.Status == ledger.StatusPending
		return wanted, nil
	})
	if err == nil && !wanted {
		return ErrNoLongerWanted
	}
	return err
}

// End ends g: record writes the decision to the ledger first (with
// ErrRevocationUnconfirmed as the target's answer when g's access lives in a
// real target), then the target removes the access and the ledger records the
// outcome. A crash in between leaves the revocation pending in the ledger,
// where every later apply retries it.
func (r Registry) End(ctx context.Context, l *ledger.Ledger, g ledger.Grant, now time.Time, record func(targetErr error) (ledger.Grant, error)) (ledger.Grant, error) {
	if t, err := r.Lookup(g.Target); err == nil && RecordOnly(t) {
		return record(nil)
	}
	ended, err := record(ledger.ErrRevocationUnconfirmed)
	if err != nil || !ended.RevokePending {
		return ended, err
	}
	return r.Retry(ctx, l, ended, now)
}

// Retry carries out a revocation the ledger holds as pending and records the
// outcome: completed, or failed again with the target's error.
func (r Registry) Retry(ctx context.Context, l *ledger.Ledger, g ledger.Grant, now time.Time) (ledger.Grant, error) {
	if err := r.RevokeAccess(ctx, l, g, now); err != nil {
		return l.FailRevocation(ctx, g.ID, now, err)
	}
	return l.CompleteRevocation(ctx, g.ID, now)
}

// CoveringGrants lists the grants other than g that give the same access as g
// and are active at now, or pending (about to be put in force) and not yet
// expired.
func CoveringGrants(ctx context.Context, l *ledger.Ledger, g ledger.Grant, now time.Time) ([]ledger.Grant, error) {
	candidates, err := l.Grants(ctx, ledger.GrantFilter{Principal: g.Principal})
	if err != nil {
		return nil, fmt.Errorf("reading the ledger for other grants of %s to %s: %w", g.Role, g.Principal, err)
	}
	var out []ledger.Grant
	for _, o := range candidates {
		if o.ID == g.ID || o.Target != g.Target || o.Role != g.Role {
			continue
		}
		if st := o.StatusAt(now); st == ledger.StatusActive || st == ledger.StatusPending {
			out = append(out, o)
		}
	}
	return out, nil
}
