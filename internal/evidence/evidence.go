// Package evidence answers, for every grant in a ledger, the question the
// provider exists for: was it authorised, time bound and revoked on time?
// It reads the ledger's events grant by grant (streamed, one grant in memory
// at a time), judges each grant's life, and renders the answer as CSV, JSON,
// Markdown or a self-contained HTML report, or as a bundle that an auditor
// can re-verify offline with stock tools. It never imports Terraform.
package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// DefaultMaxLateness is how long after its expiry a grant's access may be
// removed and still count as revoked on time: a day, for a daily scheduled
// apply, and an hour for the run itself.
const DefaultMaxLateness = 25 * time.Hour

// Verdicts. A grant fails when any of its verdicts is VerdictNo.
const (
	// Authorised: signed approvals that verify, approvers only named, or no.
	AuthorisedSigned   = "signed"
	AuthorisedAsserted = "asserted"
	VerdictYes         = "yes"
	VerdictNo          = "no"
	// RevokedNotDue: the access is in force and its expiry (plus the allowed
	// lateness) has not passed yet.
	RevokedNotDue = "not_due"
	// RevokedNotApplicable: the grant never came into force.
	RevokedNotApplicable = "n/a"
)

// Options select and judge the grants.
type Options struct {
	// From and To bound the period: a grant is in it when its life (from
	// its request to the removal of its access, or Now while in force)
	// overlaps [From, To]. Zero leaves that side open.
	From, To time.Time
	// Principal and Entitlement, when set, select grants: the principal
	// compared as the policy compares identities, the entitlement exactly.
	Principal, Entitlement string
	// MaxLateness is how long after its expiry the access may be removed and
	// still count as revoked on time (DefaultMaxLateness when zero).
	MaxLateness time.Duration
	// Now is the instant the grants still in force are judged at.
	Now time.Time
	// Trust is what the auditor holds signed approvals to beyond the
	// ledger: a grant whose approval's keys do not hold against it is not
	// authorised.
	Trust Trust
}

// Row is the evidence of one grant. Its JSON names are the column names of
// every format; times are RFC 3339 in UTC, durations Go durations with d for
// days ("1d2h0m0s"), "" where unknown.
type Row struct {
	// Identity.
	GrantID     string   `json:"grant_id"`
	Principal   string   `json:"principal"`
	Entitlement string   `json:"entitlement"`
	Target      string   `json:"target"`
	Role        string   `json:"role"`
	TicketID    string   `json:"ticket_id"`
	Requesters  []string `json:"requesters"`
	// Authorisation.
	Approvers    []string `json:"approvers"`
	MinApprovals *int     `json:"min_approvals"`
	// Signatures is "k of n": the approvers' signatures that verify over the
	// approval's statement with the key the ledger recorded, of the
	// approvers named; "" where the approval was not signed.
	Signatures      string   `json:"signatures"`
	SignerKeys      []string `json:"signer_keys"`
	ApprovalID      string   `json:"approval_id"`
	StatementDigest string   `json:"statement_digest"`
	PolicyDigest    string   `json:"policy_digest"`
	BreakGlass      bool     `json:"break_glass"`
	Justification   string   `json:"justification"`
	// Time bound.
	GrantedAt string `json:"granted_at"`
	TTL       string `json:"ttl"`
	ExpiresAt string `json:"expires_at"`
	MaxTTL    string `json:"max_ttl"`
	// Revocation.
	Status          string `json:"status"`
	DecidedAt       string `json:"decided_at"`
	AccessRemovedAt string `json:"access_removed_at"`
	Reason          string `json:"reason"`
	// Lateness is access_removed_at − expires_at, or, for access still in
	// force past its expiry, now − expires_at (Overdue); "" when the access
	// was removed before its expiry or is not yet due.
	Lateness        string `json:"lateness"`
	LatenessSeconds int64  `json:"lateness_seconds"`
	Overdue         bool   `json:"overdue"`
	// Who: the actor and run of the event that put the grant in force, and of
	// the one that removed its access.
	IssuedBy  string `json:"issued_by"`
	RemovedBy string `json:"removed_by"`
	// Verdicts, each with the sequence numbers of the events that prove it
	// and, where it is not plain, a sentence saying why.
	Authorised          string  `json:"authorised"`
	AuthorisedEvents    []int64 `json:"authorised_events"`
	AuthorisedNote      string  `json:"authorised_note"`
	TimeBound           string  `json:"time_bound"`
	TimeBoundEvents     []int64 `json:"time_bound_events"`
	TimeBoundNote       string  `json:"time_bound_note"`
	RevokedOnTime       string  `json:"revoked_on_time"`
	RevokedOnTimeEvents []int64 `json:"revoked_on_time_events"`
	RevokedOnTimeNote   string  `json:"revoked_on_time_note"`

	// For the timeline: instants as times (not in the JSON).
	start, expiry, removed, now time.Time
}

// Failed reports whether any verdict of the row is no.
func (r *Row) Failed() bool {
	return r.Authorised == VerdictNo || r.TimeBound == VerdictNo || r.RevokedOnTime == VerdictNo
}

// Summary counts the rows by verdict.
type Summary struct {
	Grants        int            `json:"grants"`
	Failed        int            `json:"failed"`
	Overdue       int            `json:"overdue"`
	Authorised    map[string]int `json:"authorised"`
	TimeBound     map[string]int `json:"time_bound"`
	RevokedOnTime map[string]int `json:"revoked_on_time"`
	BreakGlass    int            `json:"break_glass"`
}

func newSummary() Summary {
	return Summary{Authorised: map[string]int{}, TimeBound: map[string]int{}, RevokedOnTime: map[string]int{}}
}

func (s *Summary) add(r *Row) {
	s.Grants++
	if r.Failed() {
		s.Failed++
	}
	if r.Overdue {
		s.Overdue++
	}
	if r.BreakGlass {
		s.BreakGlass++
	}
	s.Authorised[r.Authorised]++
	s.TimeBound[r.TimeBound]++
	s.RevokedOnTime[r.RevokedOnTime]++
}

// Collect judges every grant of the ledger that opts select, in the order of
// their ids, and calls emit with each row, from one goroutine (not the
// caller's) while it reads on. It reads the ledger grant by grant, with a
// bounded number of grants in flight, so its memory does not grow with the
// ledger; the policy documents the ledger keeps are read once, up front. It does not verify the ledger:
// callers verify it first (Ledger.Verify) and say so in the report.
func Collect(ctx context.Context, l *ledger.Ledger, opts Options, emit func(*Row) error) (Summary, error) {
	if opts.MaxLateness <= 0 {
		opts.MaxLateness = DefaultMaxLateness
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	policies := map[string]*policy.Policy{}
	err := l.Policies(ctx, func(digest string, document []byte) error {
		if p, err := policy.ParseKept(document); err == nil {
			policies[digest] = p
		}
		return nil
	})
	if err != nil {
		return Summary{}, err
	}
	j := judge{l: l, opts: opts, policies: policies}
	sum := newSummary()

	// The store's read runs here, the judging in a goroutine of its own,
	// a grant's events at a time and in order, so that on two cores the two
	// overlap.
	grants := make(chan []ledger.Event, 256)
	judged := make(chan error, 1)
	var stopped atomic.Bool
	go func() {
		var err error
		for events := range grants {
			if err != nil {
				continue // drain
			}
			var r *Row
			var ok bool
			if r, ok, err = j.row(ctx, events); err == nil && ok {
				sum.add(r)
				err = emit(r)
			}
			if err != nil {
				stopped.Store(true)
			}
		}
		judged <- err
	}()
	errStopped := errors.New("stopped")
	var events []ledger.Event
	err = l.SubjectEvents(ctx, "grant", "", func(e ledger.Event) error {
		if stopped.Load() {
			return errStopped
		}
		if len(events) > 0 && events[0].Subject != e.Subject {
			grants <- events
			events = make([]ledger.Event, 0, 4)
		}
		events = append(events, e)
		return nil
	})
	if err == nil && len(events) > 0 {
		grants <- events
	}
	close(grants)
	judgeErr := <-judged
	if judgeErr != nil {
		return Summary{}, judgeErr
	}
	if err != nil {
		return Summary{}, err
	}
	return sum, nil
}

// judge turns one grant's events into its row.
type judge struct {
	l        *ledger.Ledger
	opts     Options
	policies map[string]*policy.Policy
}

// grantStatus is the part of a grant event's payload that says where the
// grant's life is.
type grantStatus struct {
	Status           string    `json:"status"`
	RevokedAt        time.Time `json:"revoked_at"`
	RevocationReason string    `json:"revocation_reason"`
	RevokePending    bool      `json:"revoke_pending"`
}

// state is a grant as one of its events left it.
type state struct {
	ev ledger.Event
	g  ledger.Grant
}

func (j *judge) row(ctx context.Context, events []ledger.Event) (*Row, bool, error) {
	// Every event's status; the whole grant only from the event that issued
	// it (or the first) and the last, which is what a row reads.
	states := make([]state, 0, len(events))
	for i, e := range events {
		var g ledger.Grant
		var err error
		if i == 0 || i == len(events)-1 || e.Type == ledger.EventGrantIssued {
			err = jsonUnmarshal(e.Data, &g)
		} else {
			var st grantStatus
			err = jsonUnmarshal(e.Data, &st)
			g = ledger.Grant{ID: e.Subject, Status: st.Status, RevokedAt: st.RevokedAt, RevocationReason: st.RevocationReason,
				RevokePending: st.RevokePending}
		}
		if err != nil {
			return nil, false, fmt.Errorf("event %d about grant %s cannot be read: %w", e.Seq, e.Subject, err)
		}
		states = append(states, state{ev: e, g: g})
	}
	last := states[len(states)-1].g
	if j.opts.Principal != "" && policy.NormalizeIdentity(last.Principal) != policy.NormalizeIdentity(j.opts.Principal) ||
		j.opts.Entitlement != "" && last.Entitlement != j.opts.Entitlement {
		return nil, false, nil
	}

	// The events that mark the grant's life.
	var requested, issued, decided, removed *state
	for i := range states {
		s := &states[i]
		switch {
		case s.ev.Type == ledger.EventGrantRequested && requested == nil:
			requested = s
		case s.ev.Type == ledger.EventGrantIssued && issued == nil:
			issued = s
		}
		ended := s.g.Status == ledger.StatusExpired || s.g.Status == ledger.StatusRevoked
		if ended && decided == nil {
			decided = s
		}
		if ended && !s.g.RevokePending && removed == nil {
			removed = s
		}
	}
	first := &states[0]
	g := first.g
	if issued != nil {
		g = issued.g
	}
	now := j.opts.Now.UTC()
	r := &Row{
		GrantID: last.ID, Principal: g.Principal, Entitlement: g.Entitlement, Target: g.Target, Role: g.Role,
		TicketID: g.TicketID, Approvers: nonNil(g.Approvers), ApprovalID: g.ApprovalID, PolicyDigest: g.PolicyDigest,
		BreakGlass: g.BreakGlass, Justification: g.Justification, TTL: g.TTL, ExpiresAt: g.ExpiresAt,
		Status: last.StatusAt(now), Reason: last.RevocationReason, Requesters: []string{},
		SignerKeys: []string{}, start: first.ev.At.UTC(), now: now,
	}
	if r.Status == ledger.StatusExpired && last.Status != ledger.StatusExpired {
		r.Status = "past_expiry" // in force by the ledger's account, past its expiry
	}
	if last.RevokePending {
		r.Status += " (removal pending)"
	}
	if g.Requester != "" {
		r.Requesters = append(r.Requesters, g.Requester)
	}
	if issued != nil {
		r.GrantedAt = stamp(issued.g.GrantedAt)
		r.IssuedBy = who(issued.ev)
	}
	expiry, expErr := time.Parse(time.RFC3339, g.ExpiresAt)
	if expErr == nil {
		r.expiry = expiry.UTC()
		r.ExpiresAt = stamp(expiry)
	}
	if decided != nil {
		at := decided.g.RevokedAt
		if at.IsZero() {
			at = decided.ev.At
		}
		r.DecidedAt = stamp(at)
		if r.Reason == "" {
			r.Reason = decided.g.RevocationReason
		}
		if r.Reason == "" && decided.g.Status == ledger.StatusExpired {
			r.Reason = ledger.ReasonExpired
		}
	}
	if removed != nil {
		r.removed = removalTime(j.l, removed.ev)
		r.AccessRemovedAt = stamp(r.removed)
		r.RemovedBy = who(removed.ev)
	}

	var rules *policy.Entitlement
	if p := j.policies[g.PolicyDigest]; p != nil {
		rules = p.Entitlements[g.Entitlement]
	}
	minApprovals, maxTTL := -1, time.Duration(0)
	if rules != nil {
		minApprovals, maxTTL = rules.MinApprovals, rules.MaxTTL
		if g.BreakGlass && rules.BreakGlass != nil {
			minApprovals, maxTTL = rules.BreakGlass.MinApprovals, rules.BreakGlass.MaxTTL
		}
		r.MinApprovals = &minApprovals
		r.MaxTTL = policy.FormatDuration(maxTTL)
	}

	// The period.
	end := now
	if removed != nil {
		end = r.removed
	}
	if !j.opts.To.IsZero() && r.start.After(j.opts.To) || !j.opts.From.IsZero() && end.Before(j.opts.From) {
		return nil, false, nil
	}

	inForce := issued != nil || requested != nil
	neverInForce := issued == nil || last.RevocationReason == ledger.ReasonGrantFailed

	if err := j.authorised(ctx, r, g, issued, requested, minApprovals); err != nil {
		return nil, false, err
	}

	// Time bound.
	proofOfIssue := first.ev.Seq
	if issued != nil {
		proofOfIssue = issued.ev.Seq
	}
	r.TimeBoundEvents = []int64{proofOfIssue}
	switch {
	case expErr != nil:
		r.TimeBound, r.TimeBoundNote = VerdictNo, fmt.Sprintf("the expiry %q cannot be read", g.ExpiresAt)
	case rules != nil && expiry.Sub(r.start) > maxTTL:
		r.TimeBound, r.TimeBoundNote = VerdictNo, fmt.Sprintf("it runs %s from its request, longer than the max_ttl of %s",
			policy.FormatDuration(expiry.Sub(r.start).Round(time.Second)), r.MaxTTL)
	case rules == nil:
		r.TimeBound, r.TimeBoundNote = VerdictYes, "it has an expiry; the policy that judged it is not kept in the ledger, so its max_ttl is unknown"
	default:
		r.TimeBound = VerdictYes
	}

	// Revoked on time.
	lateBy := time.Duration(0)
	switch {
	case neverInForce && removed != nil || !inForce:
		r.RevokedOnTime, r.RevokedOnTimeNote = RevokedNotApplicable, "it never came into force"
		r.RevokedOnTimeEvents = []int64{states[len(states)-1].ev.Seq}
	case removed != nil:
		lateBy = r.removed.Sub(r.expiry)
		r.RevokedOnTimeEvents = uniq(decided.ev.Seq, removed.ev.Seq)
		r.RevokedOnTime = VerdictYes
		if expErr == nil && lateBy > j.opts.MaxLateness {
			r.RevokedOnTime = VerdictNo
			r.RevokedOnTimeNote = fmt.Sprintf("its access was removed %s after its expiry, more than the %s allowed",
				policy.FormatDuration(roundLateness(lateBy)), policy.FormatDuration(j.opts.MaxLateness))
		}
		if decided.ev.Seq != removed.ev.Seq {
			note := fmt.Sprintf("the target refused the removal decided at event %d; event %d records it carried out", decided.ev.Seq, removed.ev.Seq)
			r.RevokedOnTimeNote = joinNotes(r.RevokedOnTimeNote, note)
		}
	case expErr != nil:
		r.RevokedOnTime, r.RevokedOnTimeNote = VerdictNo, "its expiry cannot be read and its access is in force"
		r.RevokedOnTimeEvents = []int64{states[len(states)-1].ev.Seq}
	default:
		r.RevokedOnTimeEvents = []int64{states[len(states)-1].ev.Seq}
		if now.Before(r.expiry) {
			r.RevokedOnTime = RevokedNotDue
			break
		}
		lateBy = now.Sub(r.expiry)
		r.Overdue = true
		if lateBy > j.opts.MaxLateness {
			r.RevokedOnTime = VerdictNo
			r.RevokedOnTimeNote = fmt.Sprintf("overdue: its access is still in force %s after its expiry", policy.FormatDuration(roundLateness(lateBy)))
		} else {
			r.RevokedOnTime = RevokedNotDue
			r.RevokedOnTimeNote = fmt.Sprintf("overdue: its access is still in force %s after its expiry, within the %s allowed",
				policy.FormatDuration(roundLateness(lateBy)), policy.FormatDuration(j.opts.MaxLateness))
		}
		if decided != nil {
			r.RevokedOnTimeEvents = uniq(decided.ev.Seq, states[len(states)-1].ev.Seq)
			r.RevokedOnTimeNote = joinNotes(r.RevokedOnTimeNote, fmt.Sprintf("its removal was decided at event %d and the target has not carried it out", decided.ev.Seq))
		}
	}
	if lateBy > 0 {
		r.Lateness = policy.FormatDuration(roundLateness(lateBy))
		r.LatenessSeconds = int64(lateBy.Round(time.Second) / time.Second)
	}
	return r, true, nil
}

// authorised judges whether the grant was authorised, from its approval
// record where it names one.
func (j *judge) authorised(ctx context.Context, r *Row, g ledger.Grant, issued, requested *state, minApprovals int) error {
	decisive := issued
	if decisive == nil {
		decisive = requested
	}
	if decisive == nil {
		r.Authorised, r.AuthorisedNote = VerdictNo, "the ledger holds no request or issue of it"
		return nil
	}
	r.AuthorisedEvents = []int64{decisive.ev.Seq}
	if requested != nil && requested != decisive {
		r.AuthorisedEvents = []int64{requested.ev.Seq, decisive.ev.Seq}
	}
	approvers := distinct(g.Approvers)
	var problems []string
	var a *ledger.Approval
	if g.ApprovalID != "" {
		var recorded, withdrawn, used *ledger.Event
		var rec ledger.Approval
		err := j.l.SubjectEvents(ctx, "approval", g.ApprovalID, func(e ledger.Event) error {
			switch e.Type {
			case ledger.EventApprovalRecorded:
				if recorded == nil {
					recorded = &e
					return jsonUnmarshal(e.Data, &rec)
				}
			case ledger.EventApprovalWithdrawn:
				if withdrawn == nil {
					withdrawn = &e
				}
			case ledger.EventApprovalUsed, ledger.EventApprovalHandedOver:
				var now struct {
					GrantID string `json:"grant_id"`
				}
				if err := jsonUnmarshal(e.Data, &now); err == nil && now.GrantID == g.ID && used == nil {
					used = &e
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case recorded == nil:
			problems = append(problems, fmt.Sprintf("its approval %s is not in the ledger", g.ApprovalID))
		case recorded.Seq > decisive.ev.Seq:
			problems = append(problems, fmt.Sprintf("its approval %s was recorded (event %d) after it was issued", g.ApprovalID, recorded.Seq))
		}
		if withdrawn != nil && withdrawn.Seq < decisive.ev.Seq {
			problems = append(problems, fmt.Sprintf("its approval %s was withdrawn (event %d) before it was issued", g.ApprovalID, withdrawn.Seq))
		}
		if recorded != nil {
			a = &rec
			r.AuthorisedEvents = append([]int64{recorded.Seq}, r.AuthorisedEvents...)
			if used != nil {
				r.AuthorisedEvents = append(r.AuthorisedEvents, used.Seq)
				slices.Sort(r.AuthorisedEvents)
			}
			r.StatementDigest = rec.Digest
			if rec.Requester != "" && !slices.Contains(r.Requesters, rec.Requester) {
				r.Requesters = append(r.Requesters, rec.Requester)
			}
			if sum := sha256.Sum256([]byte(rec.Statement)); hex.EncodeToString(sum[:]) != rec.Digest {
				problems = append(problems, "its approval's statement does not match the digest recorded with it")
			}
			if d := rec.ApprovedAt.Sub(recorded.At); d < -ledger.MaxClockSkew || d > ledger.MaxClockSkew {
				problems = append(problems, fmt.Sprintf("its approval %s says it was approved at %s, but event %d recorded it as decided at %s",
					g.ApprovalID, rec.ApprovedAt.UTC().Format(time.RFC3339), recorded.Seq, recorded.At.UTC().Format(time.RFC3339)))
			}
			if len(rec.Signatures) == 0 && len(rec.SignerKeys) == 0 {
			} else if why := policy.RecordedStatementMismatch(rec.TicketID, rec.Entitlement, rec.Principal, rec.ExpiresAt, rec.Statement, ""); why != "" {
				problems = append(problems, fmt.Sprintf("its approval %s %s, so its signatures say nothing about it", g.ApprovalID, why))
			}
			if why := outsideScope(g, rec); why != "" {
				problems = append(problems, fmt.Sprintf("it goes beyond its approval %s: %s", g.ApprovalID, why))
			}
			if why := j.untrusted(rec); why != "" {
				problems = append(problems, fmt.Sprintf("its approval %s %s", g.ApprovalID, why))
			}
		}
	}

	if why := j.unpinned(g, a); why != "" {
		problems = append(problems, why)
	}

	signedEvidence := g.Evidence == "signed" || g.Evidence == "" && a != nil && len(a.SignerKeys) > 0
	verified := 0
	if a != nil && len(a.Signatures) > 0 {
		verified, r.SignerKeys = verifySignatures(a)
		if p := j.policies[a.PolicyDigest]; p != nil {
			verified = authorisedSigners(a, p)
		}
		r.Signatures = fmt.Sprintf("%d of %d", verified, len(distinct(a.Approvers)))
	}
	need := minApprovals
	if need < 0 { // the policy that judged it is unknown
		need = 1
	}
	switch {
	case len(problems) > 0:
		r.Authorised = VerdictNo
	case g.Evidence == "none" || len(approvers) == 0:
		r.Authorised = VerdictNo
		problems = append(problems, "a break-glass grant that no approver approved: review it after the fact")
		if g.Justification != "" {
			problems[len(problems)-1] += " (justification: " + g.Justification + ")"
		}
	case signedEvidence && a == nil:
		r.Authorised = VerdictNo
		problems = append(problems, "it was recorded as signed but names no approval record")
	case signedEvidence && verified < need:
		r.Authorised = VerdictNo
		problems = append(problems, fmt.Sprintf("%d approver signature(s) verify with the keys the ledger recorded; %d needed", verified, need))
	case signedEvidence:
		r.Authorised = AuthorisedSigned
	case len(approvers) < need:
		r.Authorised = VerdictNo
		problems = append(problems, fmt.Sprintf("%d approver(s) named; %d needed", len(approvers), need))
	default:
		r.Authorised = AuthorisedAsserted
		problems = append(problems, "the approvers are named, not proven by signatures")
	}
	if minApprovals < 0 && r.Authorised != VerdictNo {
		problems = append(problems, "the policy that judged it is not kept in the ledger, so min_approvals is unknown")
	}
	r.AuthorisedNote = strings.Join(problems, "; ")
	return nil
}

// untrusted says how approval a's signatures fail the auditor's Trust: a
// recorded key that the trusted allowed_signers does not list for its
// approver when it was recorded, or key files that are not pinned; "" when
// they hold, or when there is no Trust.
func (j *judge) untrusted(a ledger.Approval) string {
	t := j.opts.Trust
	if len(a.SignerKeys) == 0 && a.Evidence != policy.EvidenceSigned {
		return ""
	}
	if len(t.SignersPins) > 0 {
		pin := a.AllowedSignersSHA256
		if a.RevokedKeysSHA256 != "" {
			pin += "," + a.RevokedKeysSHA256
		}
		if !slices.Contains(t.SignersPins, pin) {
			return "was not verified against pinned key files (--signers-sha256)"
		}
	}
	if t.Signers != nil && len(a.SignerKeys) > 0 {
		if problem := t.Signers.WithIdentities(j.policies[a.PolicyDigest]).CheckRecorded(a.Approvers, a.SignerKeys,
			[]string{a.Requester}, a.ApprovedAt); problem != "" {
			return "does not hold against the trusted allowed_signers: " + problem
		}
	}
	return ""
}

// verifySignatures verifies each approver's signature over the approval's
// statement, in the approval namespace, with the key it carries, and counts
// it when that key is one the ledger recorded as counting when the approval
// was recorded (the signature map may name an approver by an alias; the
// recorded keys are by normalised approver), each key once. It
// returns the count and "approver fingerprint" for each signature, with
// " (does not verify)" for those that do not count.
func verifySignatures(a *ledger.Approval) (int, []string) {
	verified := 0
	keys := []string{}
	counted := map[string]bool{}
	for _, approver := range slices.Sorted(mapKeys(a.Signatures)) {
		fp, ok := verifyOne(a, approver)
		if ok && !counted[fp] {
			counted[fp] = true
			verified++
			keys = append(keys, approver+" "+fp)
		} else {
			keys = append(keys, approver+" "+fp+" (does not verify)")
		}
	}
	return verified, keys
}

// authorisedSigners counts the approvers for whom a records a key that made
// a signature verifying over its statement (signedWith), and who have authority
// over a's entitlement under p, the policy a names, each once: a signature
// of someone who approves only other entitlements does not count. It is 0
// where p does not define the entitlement.
func authorisedSigners(a *ledger.Approval, p *policy.Policy) int {
	e := p.Entitlements[a.Entitlement]
	if e == nil {
		return 0
	}
	authorised := e.ApproverSet(p)
	counted := map[string]bool{}
	for approver, fp := range a.SignerKeys {
		if c := p.CanonicalIdentity(approver); authorised[c] && signedWith(a.Statement, a.Signatures, fp) {
			counted[c] = true
		}
	}
	return len(counted)
}

func verifyOne(a *ledger.Approval, approver string) (string, bool) {
	sig, err := sshsig.Unarmor([]byte(strings.TrimSpace(a.Signatures[approver])))
	if err != nil {
		return "unreadable", false
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != policy.SignatureNamespace || !recordedKey(a, fp) {
		return fp, false
	}
	if err := sshsig.Verify(strings.NewReader(a.Statement), sig, sig.PublicKey, sig.HashAlgorithm, policy.SignatureNamespace); err != nil {
		return fp, false
	}
	return fp, true
}

// roundLateness rounds a lateness for reading: to the second under an hour,
// to the minute beyond.
func roundLateness(d time.Duration) time.Duration {
	if d < time.Hour {
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// recordedKey reports whether the ledger recorded fp as the key of one of
// the approval's signers.
func recordedKey(a *ledger.Approval, fp string) bool {
	for _, k := range a.SignerKeys {
		if k == fp {
			return true
		}
	}
	return false
}

// outsideScope says how grant g goes beyond the approval record a it names,
// as the policy holds a request to it: the same principal, entitlement and
// ticket, and an expiry no later than the approval's; "" when it does not.
func outsideScope(g ledger.Grant, a ledger.Approval) string {
	switch {
	case g.Principal != a.Principal:
		return fmt.Sprintf("principal %q, where it approves %q", g.Principal, a.Principal)
	case g.Entitlement != a.Entitlement:
		return fmt.Sprintf("entitlement %q, where it approves %q", g.Entitlement, a.Entitlement)
	case g.TicketID != a.TicketID:
		return fmt.Sprintf("ticket %q, where it approves %q", g.TicketID, a.TicketID)
	}
	ge, err1 := time.Parse(time.RFC3339Nano, g.ExpiresAt)
	ae, err2 := time.Parse(time.RFC3339Nano, a.ExpiresAt)
	if err1 == nil && err2 == nil && ge.After(ae) {
		return fmt.Sprintf("it expires at %s, after the approval's expires_at %s", g.ExpiresAt, a.ExpiresAt)
	}
	return ""
}

// removalTime is when the event that records a grant's access removed says
// it was removed, as revoked on time judges it. Where the store stamps its
// own recording times (PostgreSQL: the database's clock, which a role that
// may only append cannot set), it is the recording time: the decision
// instant At is the appender's to choose, and a revocation appended late
// could be dated before the expiry. Elsewhere (SQLite, whose recording times
// come from the appender's clock too, and events recorded before recording
// times were kept) it is At, which verification holds to within
// ledger.MaxRunLength before and ledger.MaxClockSkew after the recording
// time, and a witness's timestamped cosignature anchors.
func removalTime(l *ledger.Ledger, ev ledger.Event) time.Time {
	if l != nil && l.StampsTime() && !ev.RecordedAt.IsZero() {
		return ev.RecordedAt.UTC()
	}
	return ev.At.UTC()
}
