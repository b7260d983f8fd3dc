// Package policy reads the entitlement catalogue (the policy document) and judges
// grant and approval requests against it.
//
// Everything here is pure: no I/O, no clock, no Terraform. Callers pass "now"
// explicitly, so one plan judges every request at the same instant and tests can
// move time freely. A parsed *Policy is never modified afterwards, so it is safe
// to share between goroutines.
package policy
