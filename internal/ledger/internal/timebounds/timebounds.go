// Package timebounds holds the switch that turns off the ledger's bounds on
// decision instants (ledger.MaxClockSkew after, ledger.MaxRunLength before
// an event's recording time) in test binaries whose fake clocks decide days
// away from the clock the store records by. Go's rule for internal packages
// lets only the ledger and the packages under it import this one: the
// ledger reads the switch, and ledgertest, which only test code imports,
// sets it. No build of the provider or the command can reach it.
package timebounds

import "sync/atomic"

// Unbounded is true once a test binary turned the bounds off
// (ledgertest.UnboundDecisionTimes). The order of recording times is still
// checked.
var Unbounded atomic.Bool
