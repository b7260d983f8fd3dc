// Package target holds the adapters of the systems grants are enforced in. The
// built-in "ledger" target records the grant and enforces nothing else;
// PostgreSQL targets grant role memberships. Both implement Target. What is
// recorded in the ledger, and when a target is asked, is decided by package
// lifecycle; a target only carries out GRANT and REVOKE, reads memberships and
// runs the checks that must hold under its own lock.
package target

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

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

// ServerIdentifier is implemented by targets that can name the server they
// reach. Access belongs to a server, not to a target's name: two workspaces
// that share a ledger may give one name to different servers, or different
// names to one server, so grants are compared by the server they were
// granted on.
type ServerIdentifier interface {
	// Server returns the identity of the server the target reaches now,
	// stable for the server's life and never shared with another server.
	Server(ctx context.Context) (string, error)
}

// What Grant and Revoke return, wrapped, when the target refused the change
// for a reason the lifecycle acts on. Either way the statement changed nothing.
var (
	// ErrNoSuchRole: the role or the principal does not exist in the target.
	// A membership cannot outlive its role or its member, so nothing of the
	// access is left there: a revocation is complete, and a grant put nothing
	// in force.
	ErrNoSuchRole = errors.New("the role or the member does not exist in the target")
	// ErrDenied: the provider's own role lacks the privilege the change needs.
	ErrDenied = errors.New("the provider's role lacks the privilege")
)

// ErrUnreachable marks an error of a target that could not be connected to:
// the server did not answer, or refused the login (which also matches
// pgurl.ErrLoginFailed). What is wrong is the target's URL or its server,
// not the grant.
var ErrUnreachable = errors.New("the target could not be connected to")

// Membership is one holder of a role in a target.
type Membership struct {
	Target    string
	Role      string
	Principal string
	// AdminOption says whether the membership carries the admin option (for
	// a membership held through another role, whether that role's does).
	AdminOption bool
	// Via is the role through which Principal holds Role when it is not a
	// direct member but a member of a role that holds it, directly or not;
	// empty for a direct member. No grant gives such a membership.
	Via string
	// Inherit says whether Principal uses Role's privileges without SET ROLE.
	Inherit bool
	// Provider marks the memberships of the role the provider connects as,
	// which holds governed roles in order to grant them.
	Provider bool
}

// Lister is implemented by targets that can list who holds a role, so that
// access granted outside governed can be found. Members lists every holder:
// direct members, the members of roles that hold it (Via), and the provider's
// own role (Provider).
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

// ErrNotConfigured is returned by Lookup for a target name the registry does
// not hold.
var ErrNotConfigured = errors.New("not configured in this provider")

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
	return nil, fmt.Errorf("target %q is %w (configured: %s)", name, ErrNotConfigured, strings.Join(names, ", "))
}
