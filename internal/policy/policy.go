package policy

import "sort"

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

// AllowsPrincipal reports whether principal (in any form; it is normalised here)
// matches one of e's principal patterns.
func (e *Entitlement) AllowsPrincipal(principal string) bool {
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
