// Package target enforces grants in the systems they govern. The built-in
// "ledger" target records the grant and enforces nothing else; real targets
// (databases, clouds) implement the same interface.
package target

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// Target makes grants real in one system.
type Target interface {
	// Grant gives g.Principal the entitlement's role. It must be idempotent.
	Grant(ctx context.Context, g ledger.Grant) error
	// Revoke takes the access away. It must be idempotent and must not remove
	// access that another active grant still covers.
	Revoke(ctx context.Context, g ledger.Grant) error
	// Present reports whether the access is still in force in the target; false
	// means it was removed outside Terraform.
	Present(ctx context.Context, g ledger.Grant) (bool, error)
}

// Ledger is the record-only target: the ledger entry is the grant.
type Ledger struct{}

func (Ledger) Grant(context.Context, ledger.Grant) error           { return nil }
func (Ledger) Revoke(context.Context, ledger.Grant) error          { return nil }
func (Ledger) Present(context.Context, ledger.Grant) (bool, error) { return true, nil }

// Registry maps target names, as entitlements spell them, to targets.
type Registry map[string]Target

// NewRegistry returns a registry holding the built-in ledger target.
func NewRegistry() Registry {
	return Registry{"ledger": Ledger{}}
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
