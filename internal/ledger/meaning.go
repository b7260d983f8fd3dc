package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"
	"time"
)

// Judge judges what the ledger cannot know by itself: whether a decision it
// records met the policy that decision names (SPEC §6). Verification calls it
// once for each decision, in sequence order, with the policy document the
// ledger keeps under the decision's digest (nil when the decision names
// none). Each method returns what is wrong, in one sentence without a
// trailing period, or "" when nothing is. A Judge must be safe for use by
// one verification at a time; the policy package's rules live behind it, so
// that the ledger stays free of them.
type Judge interface {
	// Approval judges an approval record as its approval.recorded event
	// holds it: its digest is the statement's, and its signatures verify
	// over the statement with the keys it records. signers holds the key
	// documents the record names (AllowedSignersSHA256, RevokedKeysSHA256)
	// as the ledger keeps them, nil where it names none. It returns the
	// number of approvers whose signatures verified.
	Approval(a Approval, policy []byte, signers SignersDocuments) (verified int, problem string)
	// Grant judges a grant as its first event (grant.requested, or
	// grant.issued) holds it, recorded at at, under the approval record it
	// names: signers is what Approval returned for that record, -1 when the
	// grant names none.
	Grant(g Grant, at time.Time, signers int, policy []byte) string
}

// Grant statuses and approval states as verification of meaning tracks them.
const (
	lifeNone uint8 = iota
	lifePending
	lifeActive
	lifeExpired
	lifeRevoked
	lifeWithdrawn
)

var lifeNames = [...]string{lifeNone: "", lifePending: StatusPending, lifeActive: StatusActive,
	lifeExpired: StatusExpired, lifeRevoked: StatusRevoked, lifeWithdrawn: ApprovalWithdrawn}

func lifeStatus(b []byte) uint8 {
	switch string(b) {
	case StatusPending:
		return lifePending
	case StatusActive:
		return lifeActive
	case StatusExpired:
		return lifeExpired
	case StatusRevoked:
		return lifeRevoked
	case ApprovalWithdrawn:
		return lifeWithdrawn
	}
	return lifeNone
}

// grantLife is what verification of meaning remembers of one grant.
type grantLife struct {
	status        uint8
	retired       bool
	revokePending bool
	// fixed is a keyed digest of the members that never change in a
	// grant's life (its principal, entitlement, expiry, approval, …).
	fixed uint64
}

// approvalLife is what verification of meaning remembers of one approval.
type approvalLife struct {
	status  uint8
	grantID string
	fixed   uint64
	// signers is the number of approvers whose signatures the judge found
	// verified when it was recorded; 0 without a judge.
	signers int
	// scope is what it approves: the principal, entitlement and ticket, and
	// the latest expiry, that a grant under it must keep to.
	scope *approvalScope
}

// approvalScope is what an approval approves, as its events record it.
type approvalScope struct {
	principal, entitlement, ticket, expiresAt string
}

// newApprovalScope reads the scope of the approval whose payload was read
// last.
func (m *meaning) newApprovalScope() *approvalScope {
	f := &m.fields
	return &approvalScope{principal: string(f[fPrincipal]), entitlement: string(f[fEntitlement]),
		ticket: string(f[fTicketID]), expiresAt: string(f[fExpiresAt])}
}

// scopeProblem says how the grant whose payload was read last goes beyond
// approval aid's scope, as the policy holds a request to the approval record
// it names: the same principal (exactly as written), entitlement and ticket,
// and an expiry no later than the approval's. "" when it does not.
func (m *meaning) scopeProblem(aid []byte, s *approvalScope) string {
	f := &m.fields
	switch {
	case string(f[fPrincipal]) != s.principal:
		return fmt.Sprintf("principal %q differs from approval %q's principal %q", f[fPrincipal], aid, s.principal)
	case string(f[fEntitlement]) != s.entitlement:
		return fmt.Sprintf("entitlement %q differs from approval %q's entitlement %q", f[fEntitlement], aid, s.entitlement)
	case string(f[fTicketID]) != s.ticket:
		return fmt.Sprintf("ticket %q differs from approval %q's ticket %q", f[fTicketID], aid, s.ticket)
	}
	if s.expiresAt == "" {
		return ""
	}
	grantExp, err1 := time.Parse(time.RFC3339Nano, string(f[fExpiresAt]))
	approvalExp, err2 := time.Parse(time.RFC3339Nano, s.expiresAt)
	if err1 == nil && err2 == nil && grantExp.After(approvalExp) {
		return fmt.Sprintf("it expires at %s, after approval %q's expires_at %s", f[fExpiresAt], aid, s.expiresAt)
	}
	return ""
}

// meaning checks, in one pass over the log, that every grant's and every
// approval's events form a valid life, that a grant's approval was recorded
// (and claimed for it) before it, and that every decision names a policy
// document the ledger keeps; with a Judge, that each decision met that
// policy. It keeps the first problem.
type meaning struct {
	judge Judge
	// ledgerID is the id the ledger keeps, "" when it keeps none: a signed
	// approval's statement that names another ledger was signed there.
	ledgerID string
	policies map[string][]byte
	// sawDigest is the first decision that named a policy digest; 0 before
	// one, -1 when verifying from a trusted point of a ledger that keeps
	// policy documents.
	sawDigest int64
	grants    []grantLife
	approvals []approvalLife
	hash      maphash.Hash
	fields    payloadFields
	firstBad  int64
	problem   string

	// sawSigners is the first approval that named the key documents its
	// signatures were verified against; 0 before one (approvalSigners).
	sawSigners int64
	// pinned are the policy digests the judge accepts (PolicyPinner); nil
	// accepts every kept one.
	pinned []string
	// signersBefore, when verifying from a trusted point, finds the last
	// approval before it that named its key documents (0 for none); it is
	// called once, by the first signed approval after the point that names
	// none, and lookupErr keeps its error.
	signersBefore func() (int64, error)
	lookupErr     error
}

func newMeaning(seed maphash.Seed, judge Judge, policies map[string][]byte) *meaning {
	m := &meaning{judge: judge, policies: policies, pinned: pinnedPolicies(judge)}
	m.hash.SetSeed(seed)
	return m
}

func (m *meaning) fail(seq int64, format string, args ...any) {
	if m.firstBad == 0 {
		m.firstBad, m.problem = seq, fmt.Sprintf("event %d ", seq)+fmt.Sprintf(format, args...)
	}
}

// fixedDigest is the keyed digest of the members at idx.
func (m *meaning) fixedDigest(idx ...int) uint64 {
	m.hash.Reset()
	var n [8]byte
	for _, i := range idx {
		v := m.fields[i]
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		m.hash.Write(n[:])
		m.hash.Write(v)
		if v == nil {
			m.hash.WriteByte(0xff)
		} else {
			m.hash.WriteByte(0xfe)
		}
	}
	return m.hash.Sum64()
}

// event checks one grant or approval event. i is the subject's index in its
// subjectIndex, isNew whether this is its first event, prevSeq its event
// before (0 for a first). m.fields holds data's members as readPayload read
// them, and problem is what readPayload found.
func (m *meaning) event(v *verification, kind, i int, isNew bool, prevSeq, seq int64, at, typ, subject, data []byte, problem string) {
	if m.firstBad != 0 {
		return
	}
	if problem != "" {
		m.fail(seq, "about %s %q cannot be read: %s", kindNames[kind], subject, problem)
		return
	}
	if !bytes.Equal(m.fields[fID], subject) {
		m.fail(seq, "is about %s %q but its payload is about %q", kindNames[kind], subject, m.fields[fID])
		return
	}
	if kind == kindGrant {
		m.grantSlot(i)
		m.grant(v, &m.grants[i], isNew, prevSeq, seq, at, typ, subject, data)
		return
	}
	m.approvalSlot(i)
	m.approval(&m.approvals[i], isNew, prevSeq, seq, at, typ, subject, data)
}

// grantSlot makes room for the grant at index i.
func (m *meaning) grantSlot(i int) {
	for len(m.grants) <= i {
		m.grants = append(m.grants, grantLife{})
	}
}

// approvalSlot makes room for the approval at index i.
func (m *meaning) approvalSlot(i int) {
	for len(m.approvals) <= i {
		m.approvals = append(m.approvals, approvalLife{})
	}
}

var grantFixed = []int{fPrincipal, fEntitlement, fTicketID, fExpiresAt, fBreakGlass, fApprovalID, fPolicyDigest, fReplaces}

func (m *meaning) grant(v *verification, g *grantLife, isNew bool, prevSeq, seq int64, at, typ, subject, data []byte) {
	f := &m.fields
	status := lifeStatus(f[fStatus])
	retired := len(f[fRetiredAt]) > 0
	revokePending := string(f[fRevokePending]) == "true"
	fixed := m.fixedDigest(grantFixed...)
	t := string(typ) // compared only, so not copied: the messages take typ
	if isNew {
		switch {
		case t == EventGrantRequested && status == lifePending, t == EventGrantIssued && status == lifeActive:
		case t == EventGrantRequested || t == EventGrantIssued:
			m.fail(seq, "records %s for grant %q with status %q", typ, subject, f[fStatus])
			return
		default:
			m.fail(seq, "records %s for grant %q, which was never requested or issued", typ, subject)
			return
		}
		if retired || revokePending {
			m.fail(seq, "records %s for grant %q as already retired or revoked", typ, subject)
			return
		}
		*g = grantLife{status: status, fixed: fixed}
		m.grantDecision(v, seq, at, subject, data)
		return
	}
	was := lifeNames[g.status]
	if fixed != g.fixed {
		m.fail(seq, "records %s for grant %q with another principal, entitlement, ticket, expiry, approval or policy than its earlier events", typ, subject)
		return
	}
	if g.retired && !retired {
		m.fail(seq, "records %s for grant %q, which event %d retired, as not retired", typ, subject, prevSeq)
		return
	}
	inForce := g.status == lifePending || g.status == lifeActive
	var ok bool
	switch t {
	case EventGrantIssued:
		ok = g.status == lifePending && status == lifeActive && !retired && !revokePending
	case EventGrantExpired:
		ok = inForce && !g.retired && status == lifeExpired && !retired
	case EventGrantRevoked:
		ok = inForce && !g.retired && status == lifeRevoked && !retired
	case EventGrantRetired:
		want := g.status
		if inForce {
			want = lifeRevoked
		}
		ok = !g.retired && retired && status == want && (inForce || revokePending == g.revokePending)
	case EventGrantRevokeCompleted:
		ok = g.revokePending && !revokePending && status == g.status
	case EventGrantRevokeFailed:
		ok = g.revokePending && revokePending && status == g.status
	case EventGrantRequested:
		m.fail(seq, "records grant.requested for grant %q, which event %d already recorded", subject, prevSeq)
		return
	default:
		m.fail(seq, "has the type %q, which no grant's life has", typ)
		return
	}
	if !ok {
		pending := ""
		if g.revokePending {
			pending = " with its revocation pending"
		}
		m.fail(seq, "records %s for grant %q, %s%s after event %d, as %s: a grant's life does not go that way",
			typ, subject, was, pending, prevSeq, describeGrantState(f))
		return
	}
	g.status, g.retired, g.revokePending = status, retired, revokePending
}

// describeGrantState says what an event's payload records of a grant's state.
func describeGrantState(f *payloadFields) string {
	s := fmt.Sprintf("%q", f[fStatus])
	if len(f[fRetiredAt]) > 0 {
		s += ", retired"
	}
	if string(f[fRevokePending]) == "true" {
		s += ", its revocation pending"
	}
	return s
}

// grantDecision checks the decision a grant's first event records: its
// approval record came first and was claimed for it, the policy it names is
// kept, and, with a judge, that the policy allowed it.
func (m *meaning) grantDecision(v *verification, seq int64, at, subject, data []byte) {
	f := &m.fields
	signers := -1
	if aid := f[fApprovalID]; len(aid) > 0 {
		// An approval known by its current-state row alone (a store may
		// hand rows to the walk before their subjects' events) records
		// nothing before the grant.
		j, ok := v.subjects[kindApproval].find(aid)
		if !ok || v.subjects[kindApproval].last[j].seq == 0 {
			m.fail(seq, "issues grant %q under approval %q, which the ledger does not record before it", subject, aid)
			return
		}
		a := &m.approvals[j]
		switch {
		case a.status == lifeWithdrawn:
			m.fail(seq, "issues grant %q under approval %q, which event %d withdrew", subject, aid, v.subjects[kindApproval].last[j].seq)
			return
		case a.grantID != string(subject):
			m.fail(seq, "issues grant %q under approval %q, which was not claimed for it first (approval.used or approval.handed_over)", subject, aid)
			return
		}
		if a.scope != nil {
			if problem := m.scopeProblem(aid, a.scope); problem != "" {
				m.fail(seq, "issues grant %q beyond the scope of the approval it names: %s", subject, problem)
				return
			}
		}
		signers = a.signers
	}
	policy, ok := m.decisionPolicy(seq, "grant", subject)
	if !ok || m.judge == nil || policy == nil {
		return
	}
	var g Grant
	if err := json.Unmarshal(data, &g); err != nil {
		m.fail(seq, "about grant %q cannot be read: %v", subject, err)
		return
	}
	when, err := time.Parse(time.RFC3339Nano, string(at))
	if err != nil {
		m.fail(seq, "has a time that cannot be read: %q", at)
		return
	}
	if problem := m.judge.Grant(g, when, signers, policy); problem != "" {
		m.fail(seq, "issues grant %q against the policy it names (%.12s…): %s", subject, g.PolicyDigest, problem)
	}
}

// decisionPolicy checks the policy digest of the decision that the current
// event records: one of the judge's pinned digests where it pins some
// (PolicyPinner), a digest the ledger keeps, and one at all once an earlier
// decision named one. It returns the kept document (nil for a decision that
// names none), and false when there is a problem.
func (m *meaning) decisionPolicy(seq int64, kind string, subject []byte) ([]byte, bool) {
	if !m.policyPinned(seq, kind, subject) {
		return nil, false
	}
	digest := m.fields[fPolicyDigest]
	if len(digest) == 0 {
		switch {
		case m.sawDigest > 0:
			m.fail(seq, "records a decision about %s %q that names no policy digest, where decisions since event %d name the policy that judged them",
				kind, subject, m.sawDigest)
			return nil, false
		case m.sawDigest < 0:
			m.fail(seq, "records a decision about %s %q that names no policy digest, where the ledger keeps the policies that judge its decisions",
				kind, subject)
			return nil, false
		}
		return nil, true
	}
	if m.sawDigest == 0 {
		m.sawDigest = seq
	}

	doc, ok := m.policies[string(digest)]
	if !ok {
		m.fail(seq, "records a decision about %s %q under policy digest %s, which the ledger does not keep", kind, subject, digest)
		return nil, false
	}
	return doc, true
}

var approvalFixed = []int{fPrincipal, fEntitlement, fTicketID, fExpiresAt, fDigest, fPolicyDigest, fAllowedSigners, fRevokedKeys}

func (m *meaning) approval(a *approvalLife, isNew bool, prevSeq, seq int64, at, typ, subject, data []byte) {
	f := &m.fields
	status := lifeStatus(f[fStatus])
	grantID := f[fGrantID]
	fixed := m.fixedDigest(approvalFixed...)
	t := string(typ)
	if isNew {
		if t != EventApprovalRecorded {
			m.fail(seq, "records %s for approval %q, which was never recorded", typ, subject)
			return
		}
		if status != lifeActive || len(grantID) > 0 || len(f[fPreviousGrantID]) > 0 {
			m.fail(seq, "records approval %q as %q, claimed by %q: a new approval is active and authorises no grant yet", subject, f[fStatus], grantID)
			return
		}
		*a = approvalLife{status: lifeActive, fixed: fixed, scope: m.newApprovalScope()}
		policy, ok := m.decisionPolicy(seq, "approval", subject)
		if !ok {
			return
		}
		keys, ok := m.approvalSigners(seq, subject)
		if !ok || m.judge == nil {
			return
		}
		var rec Approval
		if err := json.Unmarshal(data, &rec); err != nil {
			m.fail(seq, "about approval %q cannot be read: %v", subject, err)
			return
		}
		// Keys are judged valid (valid-after, valid-before) at approved_at,
		// which RecordApproval sets to the event's decision instant; the
		// store's recording time bounds that instant, not a time written
		// in the payload.
		if when, err := time.Parse(time.RFC3339Nano, string(at)); err == nil &&
			(rec.ApprovedAt.Before(when.Add(-MaxClockSkew)) || rec.ApprovedAt.After(when.Add(MaxClockSkew))) {
			m.fail(seq, "records approval %q as approved at %s, but the event was decided at %s: "+
				"its keys would be judged valid at a time the ledger does not bound", subject,
				rec.ApprovedAt.UTC().Format(time.RFC3339Nano), at)
			return
		}
		if problem := m.statementLedger(&rec); problem != "" {
			m.fail(seq, "records approval %q, whose evidence does not hold: %s", subject, problem)
			return
		}
		signers, problem := m.judge.Approval(rec, policy, keys)
		if problem != "" {
			m.fail(seq, "records approval %q, whose evidence does not hold: %s", subject, problem)
			return
		}
		a.signers = signers
		return
	}
	if fixed != a.fixed {
		m.fail(seq, "records %s for approval %q with another scope, statement or policy than event %d", typ, subject, prevSeq)
		return
	}
	var ok bool
	switch t {
	case EventApprovalUsed:
		ok = a.status == lifeActive && a.grantID == "" && status == lifeActive && len(grantID) > 0
	case EventApprovalHandedOver:
		ok = a.status == lifeActive && a.grantID != "" && status == lifeActive && len(grantID) > 0 &&
			string(grantID) != a.grantID && string(f[fPreviousGrantID]) == a.grantID
	case EventApprovalWithdrawn:
		ok = a.status == lifeActive && status == lifeWithdrawn && string(grantID) == a.grantID
	case EventApprovalRecorded:
		m.fail(seq, "records approval %q again, which event %d recorded: an approval id is recorded once", subject, prevSeq)
		return
	default:
		m.fail(seq, "has the type %q, which no approval's life has", typ)
		return
	}
	if !ok {
		claimed := "authorising no grant"
		if a.grantID != "" {
			claimed = fmt.Sprintf("authorising grant %q", a.grantID)
		}
		m.fail(seq, "records %s for approval %q, %s and %s after event %d, as %q for grant %q: an approval's life does not go that way",
			typ, subject, lifeNames[a.status], claimed, prevSeq, f[fStatus], grantID)
		return
	}
	a.status = status
	if string(grantID) != a.grantID {
		a.grantID = string(grantID)
	}
}

// statementLedger says how a signed approval's statement names another
// ledger than this one (m.ledgerID), or "": a record copied with its
// signatures from another ledger (staging, another team's) whose approvers
// signed for it there. A statement that names no ledger (version 1, or made
// before the ledger had an id) says nothing either way.
func (m *meaning) statementLedger(a *Approval) string {
	if m.ledgerID == "" || (len(a.Signatures) == 0 && len(a.SignerKeys) == 0) {
		return ""
	}
	for _, line := range strings.Split(a.Statement, "\n") {
		if id, ok := strings.CutPrefix(line, "ledger: "); ok && id != "" && id != m.ledgerID {
			return fmt.Sprintf("its statement was signed for ledger %q, not this one (%s)", id, m.ledgerID)
		}
	}
	return ""
}
