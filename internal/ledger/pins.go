package ledger

import (
	"slices"
	"strings"
)

// PolicyPinner is a Judge that accepts decisions only under some policy
// documents: those an auditor trusts from outside the ledger, such as the
// digests the organisation's pipeline pinned with GOVERNED_POLICY_SHA256 over
// time. Whoever can append events can also keep a policy document of their
// own and name it in their decisions, so that each decision holds against the
// policy it names; pinning the digests shows such a decision for what it is.
// Verification asks a Judge for its pins once, at the start.
type PolicyPinner interface {
	// PinnedPolicies returns the accepted digests, each the SHA-256 of a
	// policy document as its file holds it (policy.DocumentDigest), in
	// lowercase hex; empty accepts every policy the ledger keeps.
	PinnedPolicies() []string
}

// pinnedPolicies returns the digests judge pins, nil when it pins none.
func pinnedPolicies(judge Judge) []string {
	if p, ok := judge.(PolicyPinner); ok {
		if pins := p.PinnedPolicies(); len(pins) > 0 {
			return pins
		}
	}
	return nil
}

// policyPinned checks the policy digest of the decision whose payload was
// read last against the pinned digests, when there are any: it must name
// one of them. It returns false, having recorded the problem, when it does
// not.
func (m *meaning) policyPinned(seq int64, kind string, subject []byte) bool {
	if len(m.pinned) == 0 {
		return true
	}
	digest := string(m.fields[fPolicyDigest])
	switch {
	case digest == "":
		m.fail(seq, "records a decision about %s %q that names no policy digest, so it cannot be held to the pinned policies (%s)",
			kind, subject, strings.Join(m.pinned, " or "))
		return false
	case !slices.Contains(m.pinned, digest):
		m.fail(seq, "records a decision about %s %q under policy digest %s, which is not one of the pinned policies (%s)",
			kind, subject, digest, strings.Join(m.pinned, " or "))
		return false
	}
	return true
}
