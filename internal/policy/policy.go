package policy

import (
	"sort"
	"strings"
)

// EntitlementNames returns the names of the policy's entitlements, sorted.
func (p *Policy) EntitlementNames() []string {
	names := make([]string, 0, len(p.Entitlements))
	for name := range p.Entitlements {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ApproverSet returns the identities with authority over e, in the form
// p.CanonicalIdentity gives them: its approvers with every "group:NAME"
// replaced by the members of p's group NAME.
// The map is the caller's to keep or modify.
func (e *Entitlement) ApproverSet(p *Policy) map[string]bool {
	set := e.authorised(p)
	out := make(map[string]bool, len(set))
	for k := range set {
		out[k] = true
	}
	return out
}

// authorised returns the expanded approver set without copying; callers must not
// modify it.
func (e *Entitlement) authorised(p *Policy) map[string]bool {
	if e.approverSet != nil {
		return e.approverSet
	}
	var groups map[string][]string
	var ids *identityIndex
	if p != nil {
		groups, ids = p.Groups, p.ids
	}
	return expandApprovers(e.Approvers, groups, ids)
}

// exactPrincipals reports whether e's principals are names its target
// receives, a PostgreSQL target's role names, which are matched exactly as
// written (SPEC §3): "SVC-PAYMENTS-ADMIN" is another role than
// "svc-payments-admin". Other targets record identities, compared as the
// policy compares identities (trimmed, NFC, case-folded).
func (e *Entitlement) exactPrincipals() bool {
	return strings.HasPrefix(e.Target, PostgresTargetPrefix)
}

// SamePrincipal reports whether a and b name the same principal of e:
// byte for byte where e's target receives the name, else as identities.
func (e *Entitlement) SamePrincipal(a, b string) bool {
	if e != nil && e.exactPrincipals() {
		return a == b
	}
	return NormalizeIdentity(a) == NormalizeIdentity(b)
}

// AllowsPrincipal reports whether principal matches one of e's principal
// patterns: exactly as written where e's target receives the name, else in
// any form (it is normalised here).
func (e *Entitlement) AllowsPrincipal(principal string) bool {
	if e.exactPrincipals() {
		for _, pattern := range e.Principals {
			if matchGlob(pattern, principal) {
				return true
			}
		}
		return false
	}
	n := NormalizeIdentity(principal)
	if n == "" {
		return false
	}
	for _, pattern := range e.Principals {
		if matchGlob(NormalizeIdentity(pattern), n) {
			return true
		}
	}
	return false
}
