// Package ledgertest holds what test binaries set on the ledger and builds
// that ship must never reach. Only test code imports it; it alone may import
// the testing package among the ledger's packages.
package ledgertest

import (
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/internal/timebounds"
)

// UnboundDecisionTimes lets the test binary that calls it (from TestMain)
// record and verify events decided at any instant: its fake clocks move the
// decision instant by days without moving the clock the store records by.
// Verification with a context from ledger's own tests of the bounds still
// holds them. It panics outside a test binary.
func UnboundDecisionTimes() {
	if !testing.Testing() {
		panic("ledgertest: UnboundDecisionTimes called outside a test binary")
	}
	timebounds.Unbounded.Store(true)
}
