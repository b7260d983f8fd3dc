package policy

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
)

// ApprovalDecision is the outcome of an approval evaluation that passed.
type ApprovalDecision struct {
	Entitlement *Entitlement
	// Approvers are the normalised, sorted, distinct approvers.
	Approvers []string
	// ExpiresAt is the parsed expires_at, in UTC.
	ExpiresAt time.Time
	// Statement is what the approvers sign (Policy.Statement).
	Statement string
	// Signers are the verified signatures, when the policy requires them.
	Signers []VerifiedSignature
	// PolicyDigest is the digest of the policy that judged the request.
	PolicyDigest string
	// Evidence says what shows the approval: EvidenceSigned or EvidenceAsserted.
	Evidence string
}

// The attributes each kind of request is decided on, in the order their
// violations are reported. Unknown values of other attributes do not matter.
var (
	grantAttrs = []string{
		AttrTicketID, AttrEntitlement, AttrPrincipal, AttrApprovers, AttrRequester,
		AttrExpiresAt, AttrTTL, AttrBreakGlass, AttrJustification, AttrApprovalID,
	}
	approvalAttrs = []string{
		AttrTicketID, AttrEntitlement, AttrPrincipal, AttrApprovers, AttrRequester,
		AttrExpiresAt, AttrJustification, AttrSignatures,
	}
)

// EvaluateGrant judges a grant request against the policy at instant now, with
// the approval record it points at (nil when it points at none, or when the
// caller could not find it: the caller reports approval.not_found itself).
//
// It returns every violation found, one per problem, in a stable order. Checks
// that depend on a value that is unknown, or on an entitlement that does not
// exist, are skipped rather than reported again. The decision is filled in as
// far as the request could be resolved even when there are violations, but is
// only to be acted on when there are none.
func (p *Policy) EvaluateGrant(req GrantRequest, approval *Approval, now time.Time) (GrantDecision, []Violation) {
	ev := newEvaluation(p, now, req.Unknown, grantAttrs)
	s := subject{
		ticket: req.TicketID, entitlement: req.Entitlement, principal: req.Principal,
		approvers: req.Approvers, requester: req.Requester, others: req.Requesters,
	}
	ev.checkLimits(s, req.ApprovalID, req.Justification)

	ent := ev.resolveEntitlement(s.entitlement)
	ev.checkTicket(s.ticket, ent)
	ev.checkEntitlement(s.entitlement, ent)
	ev.checkPrincipal(s.principal, ent)

	breakGlassKnown := ev.known(AttrBreakGlass)
	var lim *limits
	if ent != nil {
		switch {
		case ent.BreakGlass == nil || (breakGlassKnown && !req.BreakGlass):
			lim = normalLimits(ent)
		case breakGlassKnown: // requested and available
			lim = breakGlassLimits(ent)
		default: // unknown whether break-glass: hold to the more lenient of the two
			lim = lenientLimits(ent)
		}
	}
	approvers := ev.checkApprovers(s, ent, lim)

	dec := GrantDecision{Entitlement: ent, PolicyDigest: p.Digest}
	expiryAttr := ""
	if ev.known(AttrExpiresAt) && ev.known(AttrTTL) {
		dec.ExpiresAt, expiryAttr = ev.grantExpiry(req.ExpiresAt, req.TTL)
		if expiryAttr != "" {
			ev.checkExpiryBounds(expiryAttr, req.ExpiresAt, req.TTL, dec.ExpiresAt, lim)
		}
	}

	if breakGlassKnown && req.BreakGlass {
		if ent != nil && ent.BreakGlass == nil {
			ev.add(RuleBreakGlassNotAllowed, AttrBreakGlass,
				"entitlement %q has no break_glass rules, so break_glass cannot be true", ent.Name)
		} else if ev.known(AttrJustification) && strings.TrimSpace(req.Justification) == "" {
			ev.add(RuleBreakGlassJustification, AttrJustification, "break_glass is true but justification is empty")
		}
	}

	if p.RequireApprovalRecord && ev.known(AttrApprovalID) && strings.TrimSpace(req.ApprovalID) == "" {
		ev.add(RuleApprovalRequired, AttrApprovalID, "the policy sets require_approval_record, and approval_id is empty")
	}
	if approval != nil {
		dec.Replaces = ev.checkApprovalRecord(req, approval, approvers, dec.ExpiresAt, expiryAttr)
	} else if ev.known(AttrApprovalID) && strings.TrimSpace(req.ApprovalID) == "" {
		dec.Replaces = ev.checkTicketReuse(req, dec.ExpiresAt, expiryAttr)
	}
	if p.Signers != nil {
		ev.checkSignedApproval(req, approval, lim)
	}
	switch {
	case len(req.Approvers) == 0:
		dec.Evidence = EvidenceNone
	case p.Signers != nil && approval != nil:
		dec.Evidence = EvidenceSigned
	default:
		dec.Evidence = EvidenceAsserted
	}
	return dec, ev.violations
}

// EvaluateApproval judges an approval request against the policy at instant now:
// the checks of a normal (not break-glass) grant, plus a justification, and an
// expires_at within the entitlement's max_ttl. Violations and the decision are
// as for EvaluateGrant.
func (p *Policy) EvaluateApproval(req ApprovalRequest, now time.Time) (ApprovalDecision, []Violation) {
	ev := newEvaluation(p, now, req.Unknown, approvalAttrs)
	s := subject{
		ticket: req.TicketID, entitlement: req.Entitlement, principal: req.Principal,
		approvers: req.Approvers, requester: req.Requester, others: req.Requesters,
	}
	ev.checkLimits(s, "", req.Justification)
	ent := ev.resolveEntitlement(s.entitlement)
	ev.checkTicket(s.ticket, ent)
	ev.checkEntitlement(s.entitlement, ent)
	ev.checkPrincipal(s.principal, ent)
	var lim *limits
	if ent != nil {
		lim = normalLimits(ent)
	}
	dec := ApprovalDecision{Entitlement: ent, Approvers: ev.checkApprovers(s, ent, lim), PolicyDigest: p.Digest}

	if ev.known(AttrExpiresAt) {
		if strings.TrimSpace(req.ExpiresAt) == "" {
			ev.add(RuleExpiryMissing, AttrExpiresAt, "expires_at is not set")
		} else if t, err := ParseTimestamp(req.ExpiresAt); err != nil {
			ev.add(RuleExpiryFormat, AttrExpiresAt, "expires_at %q %s", req.ExpiresAt, formatReason(err))
		} else if problem := offsetProblem(req.ExpiresAt); problem != "" {
			ev.add(RuleExpiryFormat, AttrExpiresAt, "expires_at %q %s", req.ExpiresAt, problem)
		} else {
			dec.ExpiresAt = t
			ev.checkExpiryBounds(AttrExpiresAt, req.ExpiresAt, "", t, lim)
		}
	}

	if ev.known(AttrJustification) && strings.TrimSpace(req.Justification) == "" {
		ev.add(RuleJustificationMissing, AttrJustification, "justification is empty")
	}
	dec.Statement = p.Statement(req)
	dec.Evidence = EvidenceAsserted
	if p.Signers != nil && ev.known(AttrSignatures) && ev.known(AttrApprovers) && ev.known(AttrRequester) {
		dec.Signers = ev.checkSignatures(req, dec.Statement)
		dec.Evidence = EvidenceSigned
	}
	return dec, ev.violations
}

// checkSignatures holds every approver of an approval record to a signature
// over its statement that counts (Signers.VerifyApproval): a record is evidence
// that the approvers it names approved, so each of them signs.
func (ev *evaluation) checkSignatures(req ApprovalRequest, statement string) []VerifiedSignature {
	verified, problems := ev.p.Signers.VerifyApproval(statement, req.Approvers, req.Signatures,
		requesterIdentities(req.Requester, req.Requesters), ev.now)
	for _, a := range req.Approvers {
		p, bad := problems[a]
		if !bad {
			continue
		}
		detail := p.Detail
		switch p.Rule {
		case RuleSignatureMissing:
			detail += fmt.Sprintf(". To sign, the approver runs (one line):\n\n  %s\n\nand the signature is added to signatures, e.g. %q = file(%q)",
				SignInstructions(statement, a, signatureFile(req.TicketID, a)), a, signatureFile(req.TicketID, a))
		case RuleSignatureInvalid:
			detail += fmt.Sprintf(". To sign the statement as it is now, the approver runs (one line):\n\n  %s",
				SignInstructions(statement, a, signatureFile(req.TicketID, a)))
		}
		ev.add(p.Rule, AttrSignatures, "%s", detail)
	}
	keys := make([]string, 0, len(req.Signatures))
	for k := range req.Signatures {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byIdentity := map[string]string{}
	for _, k := range keys {
		if !ev.containsIdentity(req.Approvers, k) {
			ev.add(RuleSignatureSigner, AttrSignatures, "signatures has an entry for %q, who is not among the approvers", k)
		}
		id := ev.p.CanonicalIdentity(k)
		if other, dup := byIdentity[id]; dup {
			ev.add(RuleSignatureSigner, AttrSignatures, "signatures has entries for both %q and %q, which are one approver: keep one signature per approver", other, k)
		}
		byIdentity[id] = k
	}
	return verified
}

// SignatureFile is where the guide suggests keeping an approver's signature
// over the statement of an approval under ticket: approvals/TICKET/NAME.sig,
// NAME being the part of the identity before "@", with path separators,
// spaces and control characters replaced by "_". The review of a plan names
// the same file in its signing commands.
func SignatureFile(ticket, approver string) string { return signatureFile(ticket, approver) }

func signatureFile(ticket, approver string) string {
	name, _, _ := strings.Cut(NormalizeIdentity(approver), "@")
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '/' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) {
				return '_'
			}
			return r
		}, s)
	}
	return "approvals/" + clean(ticket) + "/" + clean(name) + ".sig"
}

func (ev *evaluation) containsIdentity(list []string, id string) bool {
	for _, x := range list {
		if ev.p.SameIdentity(x, id) {
			return true
		}
	}
	return false
}

// requesterIdentities lists every requester of a request: its own and those
// named outside it.
func requesterIdentities(own string, others []Requester) []string {
	out := []string{own}
	for _, r := range others {
		out = append(out, r.Identity)
	}
	return out
}

// checkSignedApproval holds a grant to signed approval, where the policy
// requires it: the grant points at a record whose signatures still count (a
// key revoked since counts no more; validity is judged when it was approved),
// and every approver the grant names signed that record.
func (ev *evaluation) checkSignedApproval(req GrantRequest, approval *Approval, lim *limits) {
	if lim != nil && lim.approversOptional && ev.known(AttrBreakGlass) && req.BreakGlass {
		return // a break-glass grant whose rules need no approval
	}
	if approval == nil {
		if ev.known(AttrApprovalID) && strings.TrimSpace(req.ApprovalID) == "" {
			ev.add(RuleSignatureMissing, AttrApprovalID, "the policy requires signed approvals, and approval_id is empty")
		}
		return
	}
	if approval.Withdrawn || !ev.known(AttrApprovers) {
		return
	}
	if problem := statementMismatch(approval, req.LedgerID); problem != "" {
		ev.add(RuleSignatureInvalid, AttrApprovalID, "approval %q %s, so its signatures say nothing about it", approval.ID, problem)
		return
	}
	verified, problems := approval.Signers, map[string]SignatureProblem(nil)
	if verified == nil {
		verified, problems = ev.p.Signers.VerifyApproval(approval.Statement, approval.Approvers, approval.Signatures,
			requesterIdentities(req.Requester, req.Requesters), approval.ApprovedAt)
	}
	signed := map[string]bool{}
	for _, v := range verified {
		signed[ev.p.CanonicalIdentity(v.Approver)] = true
	}
	problemOf := func(a string) (SignatureProblem, bool) {
		for recorded, p := range problems {
			if ev.p.SameIdentity(recorded, a) {
				return p, true
			}
		}
		return SignatureProblem{}, false
	}
	for _, a := range req.Approvers {
		if signed[ev.p.CanonicalIdentity(a)] {
			continue
		}
		if p, ok := problemOf(a); ok {
			ev.add(p.Rule, AttrApprovalID, "approval %q: %s", approval.ID, p.Detail)
			continue
		}
		ev.add(RuleSignatureMissing, AttrApprovers, "approver %q did not sign approval %q", a, approval.ID)
	}
}

// subject is what grants and approvals have in common.
type subject struct {
	ticket, entitlement, principal string
	approvers                      []string
	// requester is the request's own; others are those named outside it.
	requester string
	others    []Requester
}

// limits are the rules a request is held to: the entitlement's, or its
// break-glass ones.
type limits struct {
	maxTTL            time.Duration
	minApprovals      int
	approversOptional bool
	// maxTTLName and requires name the rules in details, e.g.
	// `entitlement "x"'s max_ttl` and `entitlement "x" requires`.
	maxTTLName, requires string
}

func normalLimits(e *Entitlement) *limits {
	return &limits{
		maxTTL:       e.MaxTTL,
		minApprovals: e.MinApprovals,
		maxTTLName:   fmt.Sprintf("entitlement %q's max_ttl", e.Name),
		requires:     fmt.Sprintf("entitlement %q requires", e.Name),
	}
}

func breakGlassLimits(e *Entitlement) *limits {
	return &limits{
		maxTTL:            e.BreakGlass.MaxTTL,
		minApprovals:      e.BreakGlass.MinApprovals,
		approversOptional: e.BreakGlass.MinApprovals == 0,
		maxTTLName:        fmt.Sprintf("entitlement %q's break-glass max_ttl", e.Name),
		requires:          fmt.Sprintf("entitlement %q's break-glass rules require", e.Name),
	}
}

// lenientLimits refuses only what both the normal and the break-glass rules of e
// refuse; used while break_glass is unknown.
func lenientLimits(e *Entitlement) *limits {
	minApprovals := min(e.MinApprovals, e.BreakGlass.MinApprovals)
	return &limits{
		maxTTL:            max(e.MaxTTL, e.BreakGlass.MaxTTL),
		minApprovals:      minApprovals,
		approversOptional: minApprovals == 0,
		maxTTLName:        fmt.Sprintf("entitlement %q's longer max_ttl (normal or break-glass)", e.Name),
		requires:          fmt.Sprintf("even entitlement %q's break-glass rules require", e.Name),
	}
}

// evaluation collects the violations of one request.
type evaluation struct {
	p          *Policy
	now        time.Time
	unknown    map[string]bool
	violations []Violation
}

func newEvaluation(p *Policy, now time.Time, unknown, relevant []string) *evaluation {
	ev := &evaluation{p: p, now: now}
	if len(unknown) == 0 {
		return ev
	}
	ev.unknown = make(map[string]bool, len(unknown))
	for _, a := range unknown {
		ev.unknown[a] = true
	}
	for _, a := range relevant {
		if ev.unknown[a] {
			ev.add(RuleValueUnknown, a, "the value of %s will only be known during apply", a)
		}
	}
	return ev
}

func (ev *evaluation) known(attr string) bool { return !ev.unknown[attr] }

func (ev *evaluation) add(rule Rule, attr, format string, args ...any) {
	ev.violations = append(ev.violations, Violation{Rule: rule, Attribute: attr, Detail: fmt.Sprintf(format, args...)})
}

// resolveEntitlement returns the named entitlement, or nil when the name is
// unknown or not in the policy.
func (ev *evaluation) resolveEntitlement(name string) *Entitlement {
	if !ev.known(AttrEntitlement) {
		return nil
	}
	return ev.p.Entitlements[name]
}

func (ev *evaluation) checkEntitlement(name string, ent *Entitlement) {
	if ent != nil || !ev.known(AttrEntitlement) {
		return
	}
	names := ev.p.EntitlementNames()
	if strings.TrimSpace(name) == "" {
		ev.add(RuleEntitlementUnknown, AttrEntitlement, "entitlement is empty; the policy defines %s", quotedList(names, 5))
		return
	}
	for _, n := range names {
		if strings.EqualFold(strings.TrimSpace(name), n) {
			ev.add(RuleEntitlementUnknown, AttrEntitlement,
				"entitlement %q is not defined in the policy; names are exact, did you mean %q?", name, n)
			return
		}
	}
	ev.add(RuleEntitlementUnknown, AttrEntitlement,
		"entitlement %q is not defined in the policy, which defines %s", name, quotedList(names, 5))
}

func (ev *evaluation) checkTicket(ticket string, ent *Entitlement) {
	if !ev.known(AttrTicketID) {
		return
	}
	if strings.TrimSpace(ticket) == "" {
		ev.add(RuleTicketMissing, AttrTicketID, "ticket_id is empty")
		return
	}
	if ent == nil {
		return // which pattern applies depends on the entitlement
	}
	var re *regexp.Regexp
	whose := fmt.Sprintf("entitlement %q's ticket_pattern", ent.Name)
	switch {
	case ent.TicketPattern != nil:
		re = ent.TicketPattern
	case ev.p.TicketPattern != nil:
		re, whose = ev.p.TicketPattern, "the policy's default ticket_pattern"
	default:
		return
	}
	if !re.MatchString(ticket) {
		ev.add(RuleTicketPattern, AttrTicketID, "ticket_id %q does not match %s %q", ticket, whose, re.String())
	}
}

func (ev *evaluation) checkPrincipal(principal string, ent *Entitlement) {
	if !ev.known(AttrPrincipal) {
		return
	}
	if strings.TrimSpace(principal) == "" {
		ev.add(RulePrincipalMissing, AttrPrincipal, "principal is empty")
		return
	}
	if strings.ContainsAny(principal, "*?") {
		// Patterns belong in the policy; a grant names one identity.
		ev.add(RulePrincipalAllowed, AttrPrincipal, "principal %q contains a wildcard; a grant names exactly one identity", principal)
		return
	}
	if ent != nil && !ent.AllowsPrincipal(principal) {
		ev.add(RulePrincipalAllowed, AttrPrincipal, "principal %q matches none of entitlement %q's principals (%s)",
			principal, ent.Name, quotedList(ent.Principals, 5))
	}
}

// checkApprovers checks the approvers list and returns the distinct approvers,
// sorted, in the form the policy compares identities in (CanonicalIdentity);
// nil when the list is unknown.
func (ev *evaluation) checkApprovers(s subject, ent *Entitlement, lim *limits) []string {
	if ev.known(AttrRequester) && s.requester != "" && strings.TrimSpace(s.requester) == "" {
		ev.add(RuleRequesterBlank, AttrRequester, "requester is blank")
	}
	if !ev.known(AttrApprovers) {
		return nil
	}
	// Group the entries by identity, keeping the order of first appearance.
	var order []string
	spellings := map[string][]string{}
	empty := false
	for _, a := range s.approvers {
		n := ev.p.CanonicalIdentity(a)
		if n == "" {
			empty = true
			continue
		}
		if _, seen := spellings[n]; !seen {
			order = append(order, n)
		}
		spellings[n] = append(spellings[n], a)
	}
	distinct := append([]string(nil), order...)
	sort.Strings(distinct)

	missing := false
	switch {
	case len(distinct) == 0 && (lim == nil || !lim.approversOptional):
		missing = true
		if empty {
			ev.add(RuleApproversMissing, AttrApprovers, "approvers lists only empty names")
		} else {
			ev.add(RuleApproversMissing, AttrApprovers, "no approver is listed")
		}
	case empty:
		ev.add(RuleApproversMissing, AttrApprovers, "approvers lists an empty name")
	}

	// rejected counts the entries refused by a rule of their own (a
	// duplicate, an approver without authority, a requester): replacing each
	// is the fix, so min_approvals is not reported as well unless even that
	// would fall short. One mistake, one error.
	rejected := 0
	for _, n := range order {
		if sp := spellings[n]; len(sp) > 1 {
			rejected += len(sp) - 1
			ev.add(RuleApproversDuplicate, AttrApprovers, "approvers %s are the same approver (%q)", quotedAnd(sp), n)
		}
	}

	refused := map[string]bool{}
	var authorised map[string]bool
	if ent != nil {
		authorised = ent.authorised(ev.p)
		for _, n := range distinct {
			if !authorised[n] {
				refused[n] = true
				ev.add(RuleApproversUnauthorised, AttrApprovers, "approver %q is not one of entitlement %q's approvers, "+
					"who are %s", spellings[n][0], ent.Name, someApprovers(authorised))
			}
		}
	}

	if !ev.known(AttrRequester) {
		return distinct
	}
	// Every requester counts, whoever named it: the request's own first.
	requesters := map[string][]string{} // identity → whose requester it is
	if n := ev.p.CanonicalIdentity(s.requester); n != "" {
		requesters[n] = append(requesters[n], "the resource's")
	}
	for _, r := range s.others {
		if n := ev.p.CanonicalIdentity(r.Identity); n != "" && !slices.Contains(requesters[n], r.Whose) {
			requesters[n] = append(requesters[n], r.Whose)
		}
	}
	for _, n := range distinct {
		if whose := requesters[n]; len(whose) > 0 {
			refused[n] = true
			ev.add(RuleApproversSeparation, AttrApprovers, "approver %q is %s requester", spellings[n][0], whoseList(whose))
		}
	}

	if lim != nil && !missing {
		count := 0
		for _, n := range distinct {
			if authorised[n] && len(requesters[n]) == 0 {
				count++
			}
		}
		if count < lim.minApprovals && count+rejected+len(refused) < lim.minApprovals {
			ev.add(RuleApproversMinimum, AttrApprovers,
				"%s other than the requester, but %s %d",
				plural(count, "distinct authorised approver is listed", "distinct authorised approvers are listed"),
				lim.requires, lim.minApprovals)
		}
	}
	return distinct
}

// grantExpiry resolves a grant's expiry from exactly one of expiresAt and ttl.
// attr names the attribute the expiry came from, or is empty when there is none
// (the problem has been reported).
func (ev *evaluation) grantExpiry(expiresAt, ttl string) (at time.Time, attr string) {
	hasAt, hasTTL := strings.TrimSpace(expiresAt) != "", strings.TrimSpace(ttl) != ""
	switch {
	case !hasAt && !hasTTL:
		ev.add(RuleExpiryMissing, AttrExpiresAt, "neither expires_at nor ttl is set")
	case hasAt && hasTTL:
		ev.add(RuleExpiryMissing, AttrExpiresAt, "both expires_at (%q) and ttl (%q) are set; only one may be", expiresAt, ttl)
	case hasAt:
		t, err := ParseTimestamp(expiresAt)
		if err != nil {
			ev.add(RuleExpiryFormat, AttrExpiresAt, "expires_at %q %s", expiresAt, formatReason(err))
			return time.Time{}, ""
		}
		if problem := offsetProblem(expiresAt); problem != "" {
			ev.add(RuleExpiryFormat, AttrExpiresAt, "expires_at %q %s", expiresAt, problem)
			return time.Time{}, ""
		}
		return t, AttrExpiresAt
	default:
		dur, err := ParseDuration(ttl)
		if err != nil {
			ev.add(RuleExpiryFormat, AttrTTL, "ttl %q %s", ttl, formatReason(err))
			return time.Time{}, ""
		}
		return ev.now.Add(dur).UTC(), AttrTTL
	}
	return time.Time{}, ""
}

// checkExpiryBounds refuses an expiry that is not after now, or later than the
// limits allow.
func (ev *evaluation) checkExpiryBounds(attr, expiresAt, ttl string, at time.Time, lim *limits) {
	what := func(at string) string {
		if attr == AttrTTL {
			return fmt.Sprintf("ttl %q (expiry %s)", ttl, at)
		}
		return fmt.Sprintf("expires_at %q", expiresAt)
	}
	if !at.After(ev.now) {
		ev.add(RuleExpiryPast, attr, "%s is not after now (%s)", what(shown(at)), shown(ev.now))
		return
	}
	if lim == nil {
		return
	}
	if latest := ev.now.Add(lim.maxTTL); at.After(latest) {
		expiry, limit := shownApart(at, latest)
		ev.add(RuleExpiryMaxTTL, attr, "%s is later than %s, the latest allowed by %s of %s",
			what(expiry), limit, lim.maxTTLName, formatDuration(lim.maxTTL))
	}
}

// checkApprovalRecord holds a grant to the approval record it points at. It
// returns the grant the approval authorised when the request narrows it and
// so may take the approval over.
func (ev *evaluation) checkApprovalRecord(req GrantRequest, a *Approval, approvers []string, expiry time.Time, expiryAttr string) string {
	if a.Withdrawn {
		ev.add(RuleApprovalWithdrawn, AttrApprovalID, "approval %q has been withdrawn", a.ID)
		return "" // nothing else about a withdrawn record matters
	}
	replaces := ""
	switch {
	case a.UsedBy == "":
	case a.Holder == nil:
		ev.add(RuleApprovalUsed, AttrApprovalID, "approval %q already authorised grant %q", a.ID, a.UsedBy)
	default:
		if attr, why := ev.narrowing(req, *a.Holder, expiry, expiryAttr); why != "" {
			ev.add(RuleApprovalUsed, attr, "approval %q already authorised grant %q, %s", a.ID, a.Holder.ID, why)
		} else {
			replaces = a.Holder.ID
		}
	}
	if ev.known(AttrTicketID) && req.TicketID != a.TicketID {
		ev.add(RuleApprovalScope, AttrTicketID, "ticket_id %q differs from approval %q's ticket %q", req.TicketID, a.ID, a.TicketID)
	}
	if ev.known(AttrEntitlement) && req.Entitlement != a.Entitlement {
		ev.add(RuleApprovalScope, AttrEntitlement, "entitlement %q differs from approval %q's entitlement %q", req.Entitlement, a.ID, a.Entitlement)
	}
	// Exactly as written: a target receives the principal as written, and
	// "SVC-Api" and "svc-api" are two roles to PostgreSQL.
	if ev.known(AttrPrincipal) && req.Principal != a.Principal {
		ev.add(RuleApprovalScope, AttrPrincipal, "principal %q differs from approval %q's principal %q", req.Principal, a.ID, a.Principal)
	}
	if ev.known(AttrApprovers) {
		onRecord := map[string]bool{}
		for _, x := range a.Approvers {
			onRecord[ev.p.CanonicalIdentity(x)] = true
		}
		var extra []string
		for _, n := range approvers {
			if !onRecord[n] {
				extra = append(extra, n)
			}
		}
		if len(extra) > 0 {
			verb := "approver %s is"
			if len(extra) > 1 {
				verb = "approvers %s are"
			}
			ev.add(RuleApprovalScope, AttrApprovers, verb+" not on approval %q, which lists %s",
				quotedAnd(extra), a.ID, quotedList(normalizedSet(a.Approvers), 10))
		}
	}
	if expiryAttr != "" && expiry.After(a.ExpiresAt) {
		grantAt, approvalAt := shownApart(expiry, a.ExpiresAt)
		ev.add(RuleApprovalScope, expiryAttr, "the grant would expire at %s, after approval %q's expires_at %s",
			grantAt, a.ID, approvalAt)
	}
	if maxAge := ev.p.ApprovalMaxAge; maxAge > 0 {
		if age := ev.now.Sub(a.ApprovedAt); age > maxAge {
			ev.add(RuleApprovalMaxAge, AttrApprovalID, "approval %q was recorded at %s, %s ago; the policy's approval_max_age is %s",
				a.ID, shown(a.ApprovedAt), formatDuration(age.Truncate(time.Second)), formatDuration(maxAge))
		}
	}
	return replaces
}

// checkTicketReuse holds a request that names no approval record to the
// grants its ticket already authorised for the same principal and
// entitlement: it may only narrow one of them that is in force. It returns
// the grant it narrows, which it takes the place of.
func (ev *evaluation) checkTicketReuse(req GrantRequest, expiry time.Time, expiryAttr string) string {
	if len(req.TicketGrants) == 0 || !ev.known(AttrTicketID) || !ev.known(AttrPrincipal) || !ev.known(AttrEntitlement) {
		return ""
	}
	// Report against the grant the request comes closest to narrowing: one in
	// force before one that ended, then the latest expiry.
	var closest *Predecessor
	for i := range req.TicketGrants {
		p := &req.TicketGrants[i]
		if _, why := ev.narrowing(req, *p, expiry, expiryAttr); why == "" {
			return p.ID
		}
		if closest == nil || (p.InForce && !closest.InForce) ||
			(p.InForce == closest.InForce && p.ExpiresAt.After(closest.ExpiresAt)) {
			closest = p
		}
	}
	attr, why := ev.narrowing(req, *closest, expiry, expiryAttr)
	if attr == AttrApprovalID {
		attr = AttrTicketID
	}
	ev.add(RuleTicketUsed, attr, "ticket %q already authorised grant %q of %q to %q, %s",
		req.TicketID, closest.ID, closest.Entitlement, closest.Principal, why)
	return ""
}

// narrowing reports why a request does not narrow predecessor p, or "" when
// it does: p must be in force, for the same principal and entitlement, and
// expire no earlier than the request. attr is the attribute at fault. An
// expiry that could not be worked out (expiryAttr empty) was reported already
// and is not judged again.
func (ev *evaluation) narrowing(req GrantRequest, p Predecessor, expiry time.Time, expiryAttr string) (attr, why string) {
	switch {
	case !p.InForce:
		return AttrApprovalID, fmt.Sprintf("which %s; a grant that expired or was revoked is never issued again under "+
			"the same approval or ticket", p.Ended)
	case ev.known(AttrPrincipal) && !ev.p.Entitlements[p.Entitlement].SamePrincipal(req.Principal, p.Principal):
		return AttrPrincipal, fmt.Sprintf("which is for principal %q; a replacement may only narrow it", p.Principal)
	case ev.known(AttrEntitlement) && req.Entitlement != p.Entitlement:
		return AttrEntitlement, fmt.Sprintf("which is of entitlement %q; a replacement may only narrow it", p.Entitlement)
	case expiryAttr != "" && expiry.After(p.ExpiresAt):
		later, earlier := shownApart(expiry, p.ExpiresAt)
		return expiryAttr, fmt.Sprintf("which expires at %s; a replacement may only narrow it, and this grant would "+
			"expire later, at %s", earlier, later)
	}
	return "", ""
}

// stamp writes an instant as RFC 3339 in UTC, with as many fraction digits as it needs.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// shown is t as messages show it: RFC 3339 in UTC, to the second. The
// clock's fractions of a second say nothing to a reader; statements, which
// signatures cover, keep stamp's exact form.
func shown(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// shownApart is later and earlier as a message comparing them shows them:
// to the second, or exactly where only a fraction of a second tells them
// apart.
func shownApart(later, earlier time.Time) (string, string) {
	if later.Truncate(time.Second).Equal(earlier.Truncate(time.Second)) {
		return stamp(later), stamp(earlier)
	}
	return shown(later), shown(earlier)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// whoseList joins possessives for one noun: "the resource's", "both the
// resource's and the provider's", "the resource's, the provider's and the
// pipeline's".
func whoseList(whose []string) string {
	switch len(whose) {
	case 1:
		return whose[0]
	case 2:
		return "both " + whose[0] + " and " + whose[1]
	}
	return strings.Join(whose[:len(whose)-1], ", ") + " and " + whose[len(whose)-1]
}

// maxNamedApprovers bounds how many approvers a message names.
const maxNamedApprovers = 10

// someApprovers names the identities of an entitlement's approver set
// (groups expanded), sorted, at most maxNamedApprovers of them.
func someApprovers(set map[string]bool) string {
	if len(set) == 0 {
		return "nobody: the entitlement lists no approver"
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > maxNamedApprovers {
		return quotedAnd(append(names[:maxNamedApprovers:maxNamedApprovers], fmt.Sprintf("%d more", len(names)-maxNamedApprovers)))
	}
	return quotedAnd(names)
}

// quotedAnd writes items quoted, as in `"a", "b" and "c"`.
func quotedAnd(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	if len(quoted) < 2 {
		return strings.Join(quoted, "")
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " and " + quoted[len(quoted)-1]
}
