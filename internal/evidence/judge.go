// Package evidence judges the decisions a ledger records against the policy
// documents the ledger keeps (ledger.Judge): that a grant stayed within the
// rules of the policy it names, and that an approval record's signatures
// verify over its statement with the keys it records. It joins the policy
// and the ledger, which know nothing of each other.
package evidence

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Judge is a ledger.Judge over the policy package's rules. It parses each
// kept policy document, and each pair of kept key documents, once. The zero
// value is not usable; call NewJudge or NewTrustingJudge.
type Judge struct {
	mu       sync.Mutex
	policies map[string]parsed
	signers  map[string]parsedSigners
	trust    Trust
}

type parsed struct {
	p   *policy.Policy
	err error
}

type parsedSigners struct {
	s   *policy.Signers
	err error
}

// Trust is what an auditor brings to verification from outside the ledger,
// so that a key an insider recorded does not vouch for itself.
type Trust struct {
	// Signers is the organisation's allowed_signers file (and, optionally,
	// its revoked keys), read from a place the auditor trusts
	// (policy.ParseSigners): every key an approval record says counted must
	// be listed there for that approver (through the identity aliases of the
	// policy the record names), valid when the approval was recorded, in
	// namespace governed-approval, not revoked and not a requester's. Nil
	// checks nothing more.
	Signers *policy.Signers
	// SignersPins are the key documents accepted, each as
	// GOVERNED_SIGNERS_SHA256 writes them (policy.Signers.Pin): the SHA-256
	// of the allowed_signers file, then, where there is a revoked keys list,
	// a comma and its SHA-256, lowercase hex. A signed approval must name
	// kept key documents whose digests are exactly one of them. Empty checks
	// nothing more.
	SignersPins []string
	// PolicyPins are the policy documents accepted, each the SHA-256 of the
	// document as its file holds it, lowercase hex: what
	// GOVERNED_POLICY_SHA256 pinned (policy.DocumentDigest). Every decision
	// (approval record and grant) must name one of them; one that names
	// another, or none, is the first bad event of verification, and its
	// grant is not authorised. Empty checks nothing more.
	PolicyPins []string
}

var (
	_ ledger.Judge        = (*Judge)(nil)
	_ ledger.PolicyPinner = (*Judge)(nil)
)

// NewJudge returns a Judge that trusts nothing beyond the ledger.
func NewJudge() *Judge { return NewTrustingJudge(Trust{}) }

// NewTrustingJudge returns a Judge that also holds every signed approval to
// t.
func NewTrustingJudge(t Trust) *Judge {
	return &Judge{policies: map[string]parsed{}, signers: map[string]parsedSigners{}, trust: t}
}

// PinnedPolicies implements ledger.PolicyPinner: the Trust's PolicyPins.
func (j *Judge) PinnedPolicies() []string { return j.trust.PolicyPins }

// policy parses a kept policy document, once per digest.
func (j *Judge) policy(doc []byte) (*policy.Policy, string) {
	digest := policy.DocumentDigest(doc)
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.policies[digest]
	if !ok {
		r.p, r.err = policy.ParseKept(doc)
		j.policies[digest] = r
	}
	if r.err != nil {
		return nil, fmt.Sprintf("the policy document kept under digest %s cannot be read: %v", digest, r.err)
	}
	return r.p, ""
}

// keptSigners parses the key documents an approval record names, once per
// pair of digests.
func (j *Judge) keptSigners(a ledger.Approval, docs ledger.SignersDocuments) (*policy.Signers, string) {
	key := a.AllowedSignersSHA256 + "," + a.RevokedKeysSHA256
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.signers[key]
	if !ok {
		revokedName := ""
		if docs.RevokedKeys != nil {
			revokedName = "the revoked keys kept under digest " + shortDigest(a.RevokedKeysSHA256)
		}
		r.s, r.err = policy.ParseSigners("the allowed_signers kept under digest "+shortDigest(a.AllowedSignersSHA256),
			docs.AllowedSigners, revokedName, docs.RevokedKeys)
		j.signers[key] = r
	}
	if r.err != nil {
		return nil, fmt.Sprintf("its key documents cannot be read: %v", r.err)
	}
	return r.s, ""
}

func shortDigest(d string) string { return d[:min(len(d), 16)] + "…" }

// Approval implements ledger.Judge: the record's digest must be the SHA-256
// of its statement, and the statement must name the record's ticket,
// entitlement, principal and expiry (policy.RecordedStatementMismatch); every key it records for an approver must have made one
// of its signatures, in namespace governed-approval, verifying over the
// statement; where it names the allowed_signers (and revoked keys) it was
// verified against, the ledger keeps them and they list each key for its
// approver as they did when it was recorded; under a policy that required
// signed approvals, it must carry as many verified signatures of approvers
// with authority over the entitlement as its min_approvals (the count
// returned is of those); and it must hold against the Judge's Trust.
//
// A record made before the ledger kept the key documents is checked against
// the fingerprints it records alone, unless a Trust says more.
func (j *Judge) Approval(a ledger.Approval, doc []byte, docs ledger.SignersDocuments) (int, string) {
	if policy.Digest(a.Statement) != a.Digest {
		return 0, "its digest is not the SHA-256 of its statement"
	}
	// Signatures over a statement about another access say nothing about
	// this record: a copy of a legitimate record's statement and signatures
	// under another principal, ticket, entitlement or a later expiry.
	// (An asserted record's statement carries no signature, and proves
	// nothing either way.)
	if len(a.Signatures) == 0 && len(a.SignerKeys) == 0 {
	} else if problem := policy.RecordedStatementMismatch(a.TicketID, a.Entitlement, a.Principal, a.ExpiresAt, a.Statement, ""); problem != "" {
		return 0, "it " + problem + ", so its signatures say nothing about it"
	}
	approvers := map[string]bool{}
	for _, ap := range a.Approvers {
		approvers[policy.NormalizeIdentity(ap)] = true
	}
	keys := map[string]string{} // fingerprint → approver
	for _, approver := range slices.Sorted(maps.Keys(a.SignerKeys)) {
		fp := a.SignerKeys[approver]
		if !approvers[approver] {
			return 0, fmt.Sprintf("it records key %s for %q, who is not one of its approvers", fp, approver)
		}
		if other, ok := keys[fp]; ok {
			return 0, fmt.Sprintf("it records key %s for both %q and %q: one key counts for one approver", fp, other, approver)
		}
		keys[fp] = approver
		if !signedWith(a.Statement, a.Signatures, fp) {
			return 0, fmt.Sprintf("none of its signatures made with key %s, which it records for %q, verifies over its statement", fp, approver)
		}
	}
	signers := len(a.SignerKeys)
	var p *policy.Policy
	if doc != nil {
		var problem string
		if p, problem = j.policy(doc); problem != "" {
			return 0, problem
		}
	}
	if problem := j.keys(a, p, docs); problem != "" {
		return 0, problem
	}
	if p == nil {
		return signers, ""
	}
	e := p.Entitlements[a.Entitlement]
	if e == nil {
		return 0, fmt.Sprintf("it approves entitlement %q, which the policy it names does not define", a.Entitlement)
	}
	// Only a signature of an approver with authority over the entitlement
	// counts: a key the organisation lists for someone who approves other
	// entitlements says nothing about this one, whoever the grant under the
	// record names as its approvers.
	authorised := e.ApproverSet(p)
	counted := map[string]bool{}
	for approver := range a.SignerKeys {
		if c := p.CanonicalIdentity(approver); authorised[c] {
			counted[c] = true
		}
	}
	signers = len(counted)
	if p.Signers != nil && (a.Evidence != policy.EvidenceSigned || signers < e.MinApprovals) {
		return 0, fmt.Sprintf("the policy it names requires signed approvals, %d for %q, and it carries %d verified signature(s) "+
			"of approvers with authority over it", e.MinApprovals, a.Entitlement, signers)
	}
	return signers, ""
}

// keys holds the keys an approval record says counted to the key documents
// it names, kept in the ledger, and to the Judge's Trust. p is the policy
// the record names, nil when it names none; its identity aliases match
// approvers to the principals of allowed_signers, as when it was recorded.
func (j *Judge) keys(a ledger.Approval, p *policy.Policy, docs ledger.SignersDocuments) string {
	signed := len(a.SignerKeys) > 0 || a.Evidence == policy.EvidenceSigned
	requesters := []string{a.Requester}
	if docs.AllowedSigners != nil && len(a.SignerKeys) > 0 {
		s, problem := j.keptSigners(a, docs)
		if problem != "" {
			return problem
		}
		if problem := s.WithIdentities(p).CheckRecorded(a.Approvers, a.SignerKeys, requesters, a.ApprovedAt); problem != "" {
			return "a key it records does not hold against the key documents it names: " + problem
		}
	}
	if len(j.trust.SignersPins) > 0 && signed {
		pin := a.AllowedSignersSHA256
		if a.RevokedKeysSHA256 != "" {
			pin += "," + a.RevokedKeysSHA256
		}
		switch {
		case pin == "":
			return "it is signed but names no allowed_signers it was verified against, so it cannot be held to the pinned signers (--signers-sha256)"
		case !slices.Contains(j.trust.SignersPins, pin):
			return fmt.Sprintf("its signatures were verified against key documents %s, which is not a pinned one (%s)",
				pin, strings.Join(j.trust.SignersPins, " or "))
		}
	}
	if j.trust.Signers != nil && len(a.SignerKeys) > 0 {
		if problem := j.trust.Signers.WithIdentities(p).CheckRecorded(a.Approvers, a.SignerKeys, requesters, a.ApprovedAt); problem != "" {
			return "a key it records does not hold against the trusted allowed_signers: " + problem
		}
	}
	return ""
}

// signedWith reports whether one of sigs, armored SSH signatures, was made
// with the key whose SHA256 fingerprint is fp in namespace
// governed-approval and verifies over statement.
func signedWith(statement string, sigs map[string]string, fp string) bool {
	for _, armored := range sigs {
		sig, err := sshsig.Unarmor([]byte(strings.TrimSpace(armored)))
		if err != nil || ssh.FingerprintSHA256(sig.PublicKey) != fp || sig.Namespace != policy.SignatureNamespace {
			continue
		}
		if sshsig.Verify(strings.NewReader(statement), sig, sig.PublicKey, sig.HashAlgorithm, policy.SignatureNamespace) == nil {
			return true
		}
	}
	return false
}

// Grant implements ledger.Judge: under the policy it names, the grant's
// entitlement exists and allows its principal; its expiry is within the
// max_ttl (break-glass: the break-glass max_ttl) of when it was recorded; it
// names as many authorised approvers as min_approvals; it names an approval
// record where the policy requires one; and, where the policy requires
// signed approvals and its rules need an approver, its approval record
// carries that many verified signatures.
func (j *Judge) Grant(g ledger.Grant, at time.Time, signers int, doc []byte) string {
	p, problem := j.policy(doc)
	if problem != "" {
		return problem
	}
	e := p.Entitlements[g.Entitlement]
	if e == nil {
		return fmt.Sprintf("entitlement %q is not defined there", g.Entitlement)
	}
	if !e.AllowsPrincipal(g.Principal) {
		return fmt.Sprintf("entitlement %q does not allow principal %q", g.Entitlement, g.Principal)
	}
	maxTTL, minApprovals, kind := e.MaxTTL, e.MinApprovals, "max_ttl"
	if g.BreakGlass {
		if e.BreakGlass == nil {
			return fmt.Sprintf("it is break-glass, and entitlement %q has no break_glass rules", g.Entitlement)
		}
		maxTTL, minApprovals, kind = e.BreakGlass.MaxTTL, e.BreakGlass.MinApprovals, "break-glass max_ttl"
	}
	exp, err := g.Expiry()
	if err != nil {
		return fmt.Sprintf("its expiry %q cannot be read", g.ExpiresAt)
	}
	if maxTTL > 0 && exp.After(at.Add(maxTTL)) {
		return fmt.Sprintf("it expires at %s, later than its %s (%s) after it was recorded at %s",
			g.ExpiresAt, kind, maxTTL, at.UTC().Format(time.RFC3339))
	}
	authorised := e.ApproverSet(p)
	counted := map[string]bool{}
	for _, a := range g.Approvers {
		if c := p.CanonicalIdentity(a); authorised[c] {
			counted[c] = true
		}
	}
	if len(counted) < minApprovals {
		return fmt.Sprintf("it names %d approver(s) with authority over %q, fewer than its min_approvals %d",
			len(counted), g.Entitlement, minApprovals)
	}
	if p.RequireApprovalRecord && g.ApprovalID == "" {
		return "it names no approval record, and the policy sets require_approval_record"
	}
	if p.Signers != nil && minApprovals > 0 {
		if g.ApprovalID == "" {
			return "it names no approval record, and the policy requires signed approvals"
		}
		if signers < minApprovals {
			return fmt.Sprintf("its approval record %s carries %d verified signature(s), and the policy requires %d", g.ApprovalID, max(signers, 0), minApprovals)
		}
	}
	return ""
}
