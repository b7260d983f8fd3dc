package lifecycle

import (
	"context"
	"sync"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// view is what one run sees in its targets. As with the clock, a run judges
// every grant against one reading: the members of each governed role are read
// once, by whichever grant asks first, and each target check is made once per
// principal and role. One query per role instead of one per grant is also
// what keeps a plan of many grants fast, and an unreachable target costs one
// timeout, not one per grant.
type view struct {
	mu      sync.Mutex
	members map[roleKey]*once[map[string]bool]
	checks  map[checkKey]*once[[]policy.Violation]
}

type roleKey struct{ target, role string }

type checkKey struct{ target, principal, role string }

// once computes a value at most once; concurrent callers wait for the first.
type once[T any] struct {
	sync.Once
	v   T
	err error
}

func (o *once[T]) get(f func() (T, error)) (T, error) {
	o.Do(func() { o.v, o.err = f() })
	return o.v, o.err
}

func entry[K comparable, T any](mu *sync.Mutex, m *map[K]*once[T], k K) *once[T] {
	mu.Lock()
	defer mu.Unlock()
	if *m == nil {
		*m = map[K]*once[T]{}
	}
	if (*m)[k] == nil {
		(*m)[k] = &once[T]{}
	}
	return (*m)[k]
}

// present reports whether g's access is in force in its target t, from the
// run's reading of the role's members when t can list them.
func (v *view) present(ctx context.Context, t target.Target, g ledger.Grant) (bool, error) {
	lister, ok := t.(target.Lister)
	if !ok {
		return t.Present(ctx, g)
	}
	members, err := entry(&v.mu, &v.members, roleKey{g.Target, g.Role}).get(func() (map[string]bool, error) {
		ms, err := lister.Members(ctx, g.Role)
		if err != nil {
			return nil, err
		}
		// A grant is a direct membership; holding the role through another
		// role is not the grant's access.
		set := make(map[string]bool, len(ms))
		for _, m := range ms {
			set[m.Principal] = set[m.Principal] || m.Via == ""
		}
		return set, nil
	})
	return members[g.Principal], err
}

// check runs the target's own checks of a grant of role to principal, once
// per run.
func (v *view) check(ctx context.Context, c target.Checker, name, principal, role string) ([]policy.Violation, error) {
	return entry(&v.mu, &v.checks, checkKey{name, principal, role}).get(func() ([]policy.Violation, error) {
		return c.Check(ctx, principal, role)
	})
}
