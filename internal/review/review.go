// Package review turns a Terraform plan of governed grants into what a
// pull-request reviewer needs: every grant and approval record classified
// (new, renewal, narrowing, ending in this apply, removed, expiring soon),
// with its principal, entitlement, target and role, ticket, approvers and
// signatures, requesters, expiry and the verdict of each rule; the resources
// destroyed because a grant ends; the statements still to sign; and the
// refusals of a plan that Terraform refused.
//
// It reads only the JSON of a saved plan (`terraform show -json`) and the
// log of `terraform plan -json`: no ledger, no policy, no network. What the
// provider judged at plan it takes from the plan (a plan exists only when
// every rule passed) and from the log's diagnostics, which name their rule.
package review

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Resource types the review reads.
const (
	TypeGrant    = "governed_grant"
	TypeApproval = "governed_approval_record"
)

// Classes of change. A class names what the apply does to access.
const (
	ClassNew               = "new"                 // access that did not exist
	ClassRenewal           = "renewal"             // the same access again, later or otherwise changed
	ClassNarrowing         = "narrowing"           // the same access, no later, under the same evidence
	ClassExpired           = "expired"             // ends in this apply: past its expiry
	ClassRevokedOutOfBand  = "revoked_out_of_band" // ends in this apply: revoked outside Terraform
	ClassApprovalWithdrawn = "approval_withdrawn"  // ends in this apply: its approval was withdrawn
	ClassRemoved           = "removed"             // destroyed: revoked (if active) and retired
	ClassForgotten         = "forgotten"           // left by the configuration; revoked at expiry by reconcile
	ClassExpiringSoon      = "expiring_soon"       // unchanged, but expires within --expiring-within
	ClassWithdrawn         = "withdrawn"           // an approval record destroyed: it authorises nothing more
)

// Verdicts of a rule for one item.
const (
	VerdictPass    = "pass"    // the provider judged it at plan and the plan was made
	VerdictRefused = "refused" // the plan log names this rule for this resource
	VerdictFail    = "fail"    // the review's own check of the planned values fails
	VerdictUnknown = "unknown" // not judged: the plan was not made
)

// Options shape a review.
type Options struct {
	// ExpiringWithin lists unchanged active grants that expire within it of
	// the plan's time as expiring soon; zero lists none.
	ExpiringWithin time.Duration
	// Now is used when the plan carries no timestamp (a log alone, or an
	// older Terraform); the plan's own timestamp wins otherwise.
	Now time.Time
}

// Report is a review. Its JSON form is `governed review --format json`.
type Report struct {
	// PlanTime is the plan's timestamp (RFC 3339), from which ttl expiries
	// are estimated and expiring-soon is measured.
	PlanTime string `json:"plan_time,omitempty"`
	// Planned is false when only a log was given (the plan was refused).
	Planned bool `json:"planned"`
	// Blocking says why the change must not merge; empty when nothing blocks.
	Blocking []string `json:"blocking"`
	// AddsAccess is true when a grant is new or renewed (exit 3 with
	// --detailed-exitcode).
	AddsAccess bool           `json:"adds_access"`
	Counts     map[string]int `json:"counts"`
	Items      []Item         `json:"items"`
	// Destroys are resources destroyed because a grant ends (resources
	// gated on its active attribute).
	Destroys []Destroy `json:"gated_destroys"`
	// ToSign are statements that approvers still have to sign.
	ToSign []Signing `json:"to_sign"`
	// Refusals are the plan log's errors; Warnings its warnings.
	Refusals []Finding `json:"refusals"`
	Warnings []Finding `json:"warnings"`
}

// Item is one grant or approval record in the plan.
type Item struct {
	Address     string   `json:"address"`
	Type        string   `json:"type"`
	Class       string   `json:"class"`
	Actions     []string `json:"actions"`
	ID          string   `json:"id,omitempty"`
	Principal   string   `json:"principal"`
	Entitlement string   `json:"entitlement"`
	Target      string   `json:"target,omitempty"`
	Role        string   `json:"role,omitempty"`
	Ticket      string   `json:"ticket"`
	Approvers   []string `json:"approvers"`
	// Signed are the approvers whose signature the record carries; for a
	// grant, those of its approval record.
	Signed     []string `json:"signed"`
	ApprovalID string   `json:"approval_id,omitempty"`
	Requesters []string `json:"requesters"`
	TTL        string   `json:"ttl,omitempty"`
	ExpiresAt  string   `json:"expires_at,omitempty"`
	// ExpiryEstimated is true when ExpiresAt is the plan's time plus ttl:
	// the real expiry counts from when the apply issues the grant.
	ExpiryEstimated bool     `json:"expiry_estimated,omitempty"`
	BreakGlass      bool     `json:"break_glass,omitempty"`
	Changes         []Change `json:"changes,omitempty"`
	// AccessGap is true when a replacement destroys the grant in force
	// before its successor is issued (no create_before_destroy).
	AccessGap bool `json:"access_gap,omitempty"`
	// Unknown lists governed arguments whose value is unknown at plan.
	Unknown []string  `json:"unknown,omitempty"`
	Rules   []Verdict `json:"rules,omitempty"`
	// Statement is an approval record's canonical text, what approvers sign.
	Statement string `json:"statement,omitempty"`
}

// Change is one argument a replacement changes.
type Change struct {
	Attribute string `json:"attribute"`
	Before    string `json:"before"`
	After     string `json:"after"`
}

// Verdict is one rule's outcome for one item.
type Verdict struct {
	Rule    string `json:"rule"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
}

// Destroy is a resource the apply destroys because grants end.
type Destroy struct {
	Address string   `json:"address"`
	Because []string `json:"because"`
}

// Signing is a statement an approver still has to sign, with the one-line
// command that signs it (policy.SignInstructions) and the file it writes.
type Signing struct {
	Address  string `json:"address"`
	Ticket   string `json:"ticket,omitempty"`
	Approver string `json:"approver"`
	File     string `json:"file"`
	Command  string `json:"command"`
	// Config and Line are where the record is configured, when the plan
	// log's refusal says so.
	Config string `json:"config_file,omitempty"`
	Line   int    `json:"config_line,omitempty"`
}

// Finding is one diagnostic of the plan log.
type Finding struct {
	Address string `json:"address,omitempty"`
	Rule    string `json:"rule,omitempty"`
	Summary string `json:"summary"`
	Detail  string `json:"detail"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
}

// IsBlocking reports whether anything blocks the change.
func (r *Report) IsBlocking() bool { return len(r.Blocking) > 0 }

// Review builds the report of in.
func Review(in Input, opts Options) *Report {
	r := &Report{Counts: map[string]int{}, Blocking: []string{}, Items: []Item{}, Destroys: []Destroy{},
		ToSign: []Signing{}, Refusals: []Finding{}, Warnings: []Finding{}}
	now := opts.Now.UTC()
	if in.Plan != nil {
		r.Planned = true
		if t, err := time.Parse(time.RFC3339, in.Plan.Timestamp); err == nil {
			now = t.UTC()
		}
	}
	if !now.IsZero() {
		r.PlanTime = now.Format(time.RFC3339)
	}
	refused := map[string]map[string]string{} // address → rule → detail
	if in.Log != nil {
		for _, d := range in.Log.Diagnostics {
			f := Finding{Address: d.Address, Rule: d.rule(), Summary: d.Summary, Detail: d.Detail}
			if d.Range != nil {
				f.File, f.Line, f.Column = d.Range.Filename, d.Range.Start.Line, d.Range.Start.Column
			}
			if d.Severity != "error" {
				r.Warnings = append(r.Warnings, f)
				continue
			}
			r.Refusals = append(r.Refusals, f)
			if refused[f.Address] == nil {
				refused[f.Address] = map[string]string{}
			}
			if f.Rule != "" {
				refused[f.Address][f.Rule] = f.Detail
			}
			if s, ok := signingFromRefusal(f); ok {
				r.ToSign = append(r.ToSign, s)
			}
		}
		sortFindings(r.Refusals)
		sortFindings(r.Warnings)
		if len(r.Refusals) > 0 {
			r.block("the plan was refused: %d error(s) in the plan log", len(r.Refusals))
		} else if !in.Log.Summarised && in.Plan == nil {
			r.block("the plan log ends before the plan's summary: the plan did not finish")
		}
	}
	if in.Plan != nil {
		logged := len(r.Refusals) > 0 // an errored plan's errors are in its log
		if in.Errored && !logged {
			r.block("the plan errored: Terraform saved an incomplete plan; its errors are in the log of terraform plan -json (--plan-log)")
		}
		if !in.Errored && in.Plan.Complete != nil && !*in.Plan.Complete {
			r.block("the plan is incomplete: some changes were deferred to a later plan")
		}
		r.reviewPlan(in.Plan, in.Reasons, now, opts, refused)
	}
	slices.SortStableFunc(r.ToSign, func(a, b Signing) int {
		return strings.Compare(a.Address+"\x00"+a.Approver, b.Address+"\x00"+b.Approver)
	})
	for _, it := range r.Items {
		r.Counts[it.Class]++
		if it.Type == TypeGrant && (it.Class == ClassNew || it.Class == ClassRenewal) {
			r.AddsAccess = true
		}
	}
	return r
}

// sortFindings orders diagnostics by resource, rule and text: Terraform
// plans resources in parallel, so its log's order differs from run to run.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		for _, c := range [][2]string{{a.Address, b.Address}, {a.Rule, b.Rule}, {a.Summary, b.Summary}, {a.Detail, b.Detail}} {
			if d := strings.Compare(c[0], c[1]); d != 0 {
				return d
			}
		}
		return 0
	})
}

func (r *Report) block(format string, a ...any) {
	r.Blocking = append(r.Blocking, fmt.Sprintf(format, a...))
}

// values is a resource's attributes as the plan's JSON holds them.
type values map[string]any

func asValues(v any) values {
	m, _ := v.(map[string]any)
	return m
}

func (v values) str(k string) string {
	s, _ := v[k].(string)
	return s
}

func (v values) list(k string) []string {
	l, _ := v[k].([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (v values) keys(k string) []string {
	m, _ := v[k].(map[string]any)
	out := make([]string, 0, len(m))
	for x := range m {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

func (v values) boolean(k string) bool {
	b, _ := v[k].(bool)
	return b
}

// display renders an attribute's value for a change line.
func (v values) display(k string) string {
	switch x := v[k].(type) {
	case nil:
		return "(none)"
	case string:
		return x
	case bool:
		return fmt.Sprint(x)
	case []any:
		return strings.Join(v.list(k), ", ")
	}
	b, _ := json.Marshal(v[k])
	return string(b)
}

// governedArguments are a grant's arguments, in the order a change lists them.
var grantArguments = []string{"principal", "entitlement", "ticket_id", "approvers", "expires_at", "ttl", "approval_id",
	"requester", "break_glass", "justification"}

// unknownWatch are, per type, the values a decision depends on: unknown at
// plan, they block (rule value.unknown). A grant's expires_at is unknown by
// design when it has a ttl.
var unknownWatch = map[string][]string{
	TypeGrant:    {"principal", "entitlement", "ticket_id", "approvers", "expires_at", "ttl", "approval_id", "requester", "break_glass", "target", "role"},
	TypeApproval: {"ticket_id", "entitlement", "principal", "approvers", "expires_at", "requester", "justification", "statement", "signatures", "id"},
}

func (r *Report) reviewPlan(p *tfjson.Plan, reasons map[string]string, now time.Time, opts Options, refused map[string]map[string]string) {
	records := map[string]values{} // approval id → record
	for _, rc := range p.ResourceChanges {
		if rc.Type != TypeApproval || rc.Change == nil {
			continue
		}
		for _, v := range []values{asValues(rc.Change.Before), asValues(rc.Change.After)} {
			if id := v.str("id"); id != "" {
				records[id] = v
			}
		}
	}
	// A refresh that found a grant revoked or expired leaves its change a
	// no-op and shows the status change as drift: the apply still records it,
	// and removes what is gated on it.
	drifted := map[string]string{} // address → status before the refresh
	for _, rc := range p.ResourceDrift {
		if rc.Type == TypeGrant && rc.Change != nil {
			drifted[rc.Address] = asValues(rc.Change.Before).str("status")
		}
	}
	providerRequester := configuredRequester(p)
	ending := map[string]bool{} // grant addresses (without instance keys) that end in this apply
	for _, rc := range p.ResourceChanges {
		if rc.Mode != tfjson.ManagedResourceMode || rc.Change == nil || (rc.Type != TypeGrant && rc.Type != TypeApproval) {
			continue
		}
		it, ok := r.classify(rc, drifted[rc.Address], now, opts)
		if !ok {
			continue
		}
		if rc.Type == TypeGrant {
			r.describeGrant(&it, rc, records, providerRequester)
			switch it.Class {
			case ClassExpired, ClassRevokedOutOfBand, ClassApprovalWithdrawn, ClassRemoved:
				ending[resourceAddress(rc)] = true
				ending[rc.Address] = true
			}
		} else {
			r.describeRecord(&it, rc, providerRequester)
		}
		r.judge(&it, refused[rc.Address])
		r.Items = append(r.Items, it)
	}
	slices.SortStableFunc(r.Items, func(a, b Item) int {
		if c := classOrder(a.Class) - classOrder(b.Class); c != 0 {
			return c
		}
		return strings.Compare(a.Address, b.Address)
	})
	r.gatedDestroys(p, reasons, ending)
}

func classOrder(c string) int {
	return slices.Index([]string{ClassNew, ClassRenewal, ClassNarrowing, ClassExpired, ClassRevokedOutOfBand,
		ClassApprovalWithdrawn, ClassRemoved, ClassWithdrawn, ClassForgotten, ClassExpiringSoon}, c)
}

// classify decides an item's class from its actions and values; ok is false
// for a change the review does not list (an unchanged grant, a state
// refresh).
func (r *Report) classify(rc *tfjson.ResourceChange, driftedFrom string, now time.Time, opts Options) (Item, bool) {
	before, after := asValues(rc.Change.Before), asValues(rc.Change.After)
	wasActive := before.str("status") == "active" || driftedFrom == "active"
	it := Item{Address: rc.Address, Type: rc.Type, Actions: actionNames(rc.Change.Actions)}
	a := rc.Change.Actions
	switch {
	case a.Create():
		it.Class = ClassNew
	case a.Replace():
		it.Class = ClassNew
		if rc.Type == TypeGrant && before.str("principal") == after.str("principal") && before.str("entitlement") == after.str("entitlement") {
			it.Class = ClassRenewal
			if narrower(before, after, now) {
				it.Class = ClassNarrowing
			}
		}
		for _, k := range changedArguments(rc.Type, before, after) {
			it.Changes = append(it.Changes, Change{Attribute: k, Before: before.display(k), After: after.display(k)})
		}
		if rc.Type == TypeGrant {
			it.AccessGap = a.DestroyBeforeCreate() && before.boolean("active")
		}
	case (a.Update() || a.NoOp()) && rc.Type == TypeGrant && wasActive && after.str("status") != "active":
		switch {
		case after.str("status") == "expired":
			it.Class = ClassExpired
		case after.str("revocation_reason") == "out_of_band":
			it.Class = ClassRevokedOutOfBand
		case after.str("revocation_reason") == "approval_withdrawn":
			it.Class = ClassApprovalWithdrawn
		default:
			return it, false
		}
	case a.Delete() && rc.Type == TypeGrant:
		it.Class = ClassRemoved
	case a.Delete():
		it.Class = ClassWithdrawn
	case a.Forget() && rc.Type == TypeGrant:
		it.Class = ClassForgotten
	case (a.NoOp() || a.Read() || a.Update()) && rc.Type == TypeGrant && opts.ExpiringWithin > 0 && after.boolean("active"):
		exp, err := policy.ParseTimestamp(after.str("expires_at"))
		if err != nil || exp.After(now.Add(opts.ExpiringWithin)) {
			return it, false
		}
		it.Class = ClassExpiringSoon
	default:
		return it, false
	}
	return it, true
}

// narrower reports whether after is a narrowing of before: the same
// principal and entitlement (checked by the caller), an expiry no later, and
// no approver or break-glass use that before did not have.
func narrower(before, after values, now time.Time) bool {
	b, errB := policy.ParseTimestamp(before.str("expires_at"))
	a, errA := expiry(after, now)
	if errA != nil || errB != nil || a.After(b) {
		return false
	}
	if after.boolean("break_glass") && !before.boolean("break_glass") {
		return false
	}
	return true
}

// expiry is a planned grant's expiry: expires_at, or, with ttl, an estimate:
// the plan's time plus ttl.
func expiry(v values, now time.Time) (time.Time, error) {
	if s := v.str("expires_at"); s != "" {
		return policy.ParseTimestamp(s)
	}
	d, err := policy.ParseDuration(v.str("ttl"))
	if err != nil {
		return time.Time{}, err
	}
	if now.IsZero() {
		return time.Time{}, fmt.Errorf("no plan time to count the ttl from")
	}
	return now.Add(d), nil
}

func changedArguments(typ string, before, after values) []string {
	args := grantArguments
	if typ == TypeApproval {
		args = []string{"ticket_id", "entitlement", "principal", "approvers", "expires_at", "requester", "justification", "signatures"}
	}
	var out []string
	for _, k := range args {
		if typ == TypeGrant && k == "expires_at" && after.str("ttl") != "" {
			continue // computed from ttl; the ttl line says what changed
		}
		bj, _ := json.Marshal(before[k])
		aj, _ := json.Marshal(after[k])
		if string(bj) != string(aj) {
			out = append(out, k)
		}
	}
	return out
}

func actionNames(a tfjson.Actions) []string {
	out := make([]string, len(a))
	for i, x := range a {
		out[i] = string(x)
	}
	return out
}

// current is the values that describe an item: after, or before for a
// change that destroys it.
func current(rc *tfjson.ResourceChange) values {
	if v := asValues(rc.Change.After); v != nil {
		return v
	}
	return asValues(rc.Change.Before)
}

func (r *Report) describeGrant(it *Item, rc *tfjson.ResourceChange, records map[string]values, providerRequester string) {
	v := current(rc)
	it.ID = v.str("id")
	it.Principal, it.Entitlement, it.Ticket = v.str("principal"), v.str("entitlement"), v.str("ticket_id")
	it.Target, it.Role = v.str("target"), v.str("role")
	it.Approvers = v.list("approvers")
	it.ApprovalID = v.str("approval_id")
	it.TTL = v.str("ttl")
	it.BreakGlass = v.boolean("break_glass")
	it.ExpiresAt = v.str("expires_at")
	if it.ExpiresAt == "" && it.TTL != "" {
		if t, err := expiry(v, timeOf(r.PlanTime)); err == nil {
			it.ExpiresAt, it.ExpiryEstimated = t.Format(time.RFC3339), true
		}
	}
	it.Requesters = identities(v.str("requester"), providerRequester)
	it.Signed = []string{}
	if rec, ok := records[it.ApprovalID]; ok {
		it.Signed = signedApprovers(rec)
		it.Requesters = identities(append(it.Requesters, rec.str("requester"))...)
	}
	it.Unknown = unknownArguments(rc, TypeGrant)
}

func (r *Report) describeRecord(it *Item, rc *tfjson.ResourceChange, providerRequester string) {
	v := current(rc)
	it.ID = v.str("id")
	it.Principal, it.Entitlement, it.Ticket = v.str("principal"), v.str("entitlement"), v.str("ticket_id")
	it.Approvers = v.list("approvers")
	it.ExpiresAt = v.str("expires_at")
	it.Statement = v.str("statement")
	it.Target, it.Role = statementField(it.Statement, "target"), statementField(it.Statement, "role")
	it.Requesters = identities(v.str("requester"), providerRequester)
	it.Signed = signedApprovers(v)
	it.Unknown = unknownArguments(rc, TypeApproval)
	if it.Class != ClassNew || len(it.Signed) == 0 || it.Statement == "" {
		return // an unsigned record under a policy without approval_signatures is only asserted
	}
	// A record that carries some signatures is meant to be signed by every
	// approver: each missing one blocks, with the command that signs it.
	for _, a := range it.Approvers {
		if containsIdentity(it.Signed, a) {
			continue
		}
		file := policy.SignatureFile(it.Ticket, a)
		r.ToSign = append(r.ToSign, Signing{Address: it.Address, Ticket: it.Ticket, Approver: a, File: file,
			Command: policy.SignInstructions(it.Statement, a, file)})
		r.block("%s: approver %s has not signed the approval's statement", it.Address, a)
	}
}

// statementField reads one "name: value" line of an approval statement.
func statementField(statement, name string) string {
	for line := range strings.SplitSeq(statement, "\n") {
		if v, ok := strings.CutPrefix(line, name+": "); ok {
			return v
		}
	}
	return ""
}

func timeOf(s string) time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

// signedApprovers lists the record's approvers that have an entry in its
// signatures (the provider verified them at plan where the policy requires
// signatures).
func signedApprovers(rec values) []string {
	out := []string{}
	for _, a := range rec.list("approvers") {
		if containsIdentity(rec.keys("signatures"), a) {
			out = append(out, a)
		}
	}
	return out
}

func containsIdentity(list []string, id string) bool {
	n := policy.NormalizeIdentity(id)
	for _, x := range list {
		if policy.NormalizeIdentity(x) == n {
			return true
		}
	}
	return false
}

// identities lists the non-blank identities given, each once.
func identities(ids ...string) []string {
	out := []string{}
	for _, id := range ids {
		if strings.TrimSpace(id) != "" && !containsIdentity(out, id) {
			out = append(out, strings.TrimSpace(id))
		}
	}
	return out
}

// configuredRequester is the root provider block's requester when it is a
// constant; the pipeline's GOVERNED_REQUESTER is not in the plan.
func configuredRequester(p *tfjson.Plan) string {
	if p.Config == nil {
		return ""
	}
	pc, ok := p.Config.ProviderConfigs["governed"]
	if !ok || pc.Expressions == nil {
		return ""
	}
	e, ok := pc.Expressions["requester"]
	if !ok || e == nil || e.ExpressionData == nil {
		return ""
	}
	s, _ := e.ConstantValue.(string)
	return s
}

func unknownArguments(rc *tfjson.ResourceChange, typ string) []string {
	after, unknown := asValues(rc.Change.After), asValues(rc.Change.AfterUnknown)
	if after == nil || unknown == nil {
		return nil
	}
	var out []string
	for _, k := range unknownWatch[typ] {
		if typ == TypeGrant && k == "expires_at" && after.str("ttl") != "" {
			continue
		}
		if typ == TypeApproval && k == "id" && !rc.Change.Actions.Create() && !rc.Change.Actions.Replace() {
			continue
		}
		if u, _ := unknown[k].(bool); u {
			out = append(out, k)
		}
	}
	return out
}

// rulesChecked are the rules a plan that adds access is judged by, and so the
// verdicts a reviewer sees for it.
var rulesChecked = []policy.Rule{
	policy.RuleTicketPattern, policy.RulePrincipalAllowed, policy.RuleApproversUnauthorised,
	policy.RuleApproversSeparation, policy.RuleApproversMinimum, policy.RuleExpiryMaxTTL,
}

// judge gives the verdict of each rule for an item that adds access: refused
// where the plan log names the rule for it, failed where the review's own
// check of the planned values fails, passed where the plan was made.
func (r *Report) judge(it *Item, refusedRules map[string]string) {
	if it.Class != ClassNew && it.Class != ClassRenewal && it.Class != ClassNarrowing {
		return
	}
	rules := slices.Clone(rulesChecked)
	if it.Type == TypeGrant && it.ApprovalID != "" {
		rules = append(rules, policy.RuleApprovalScope, policy.RuleApprovalMaxAge)
	}
	if len(it.Signed) > 0 {
		rules = append(rules, policy.RuleSignatureMissing)
	}
	rules = append(rules, policy.RuleValueUnknown)
	for _, rule := range rules {
		v := Verdict{Rule: rule.Name, Verdict: VerdictPass}
		if d, ok := refusedRules[rule.Name]; ok {
			v.Verdict, v.Detail = VerdictRefused, firstParagraph(d)
		}
		switch rule {
		case policy.RuleApproversSeparation:
			for _, a := range it.Approvers {
				if containsIdentity(it.Requesters, a) {
					v.Verdict, v.Detail = VerdictFail, fmt.Sprintf("approver %s is a requester", a)
					r.block("%s: approver %s is also a requester (%s)", it.Address, a, rule.Name)
				}
			}
		case policy.RuleSignatureMissing:
			if n := len(it.Approvers) - len(it.Signed); n > 0 && it.Type == TypeApproval {
				v.Verdict, v.Detail = VerdictFail, fmt.Sprintf("%d of %d approvers have not signed", n, len(it.Approvers))
			}
		case policy.RuleValueUnknown:
			if len(it.Unknown) > 0 {
				v.Verdict, v.Detail = VerdictFail, "unknown at plan: "+strings.Join(it.Unknown, ", ")
				r.block("%s: %s unknown at plan (%s)", it.Address, strings.Join(it.Unknown, ", "), rule.Name)
			}
		}
		it.Rules = append(it.Rules, v)
	}
}

func firstParagraph(s string) string {
	p, _, _ := strings.Cut(s, "\n\n")
	return strings.TrimSpace(p)
}

// resourceAddress is rc's address without its instance key:
// governed_grant.g for governed_grant.g[0].
func resourceAddress(rc *tfjson.ResourceChange) string {
	prefix := ""
	if rc.ModuleAddress != "" {
		prefix = rc.ModuleAddress + "."
	}
	if rc.Mode == tfjson.DataResourceMode {
		prefix += "data."
	}
	return prefix + rc.Type + "." + rc.Name
}

// gatedDestroys lists the resources the apply destroys because a grant
// ending in it was their count or for_each condition
// (`count = governed_grant.x.active ? 1 : 0`).
func (r *Report) gatedDestroys(p *tfjson.Plan, reasons map[string]string, ending map[string]bool) {
	if len(ending) == 0 || p.Config == nil {
		return
	}
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil || rc.Type == TypeGrant || !rc.Change.Actions.Delete() {
			continue
		}
		if why := reasons[rc.Address]; why != "delete_because_count_index" && why != "delete_because_each_key" {
			continue
		}
		cr := configResource(p.Config.RootModule, rc)
		if cr == nil {
			continue
		}
		var refs []string
		for _, e := range []*tfjson.Expression{cr.CountExpression, cr.ForEachExpression} {
			if e != nil && e.ExpressionData != nil {
				refs = append(refs, e.References...)
			}
		}
		var because []string
		for _, ref := range refs {
			if !strings.HasPrefix(ref, TypeGrant+".") && !strings.Contains(ref, "."+TypeGrant+".") {
				continue
			}
			if ending[ref] && !slices.Contains(because, ref) {
				because = append(because, ref)
			}
		}
		if len(because) > 0 {
			r.Destroys = append(r.Destroys, Destroy{Address: rc.Address, Because: because})
		}
	}
}

// configResource finds rc's block in the root module's configuration; a
// resource in a child module is not matched (its references are relative to
// that module), so gating across modules is not reported.
func configResource(m *tfjson.ConfigModule, rc *tfjson.ResourceChange) *tfjson.ConfigResource {
	if m == nil || rc.ModuleAddress != "" {
		return nil
	}
	want := resourceAddress(rc)
	for _, cr := range m.Resources {
		if cr.Address == want {
			return cr
		}
	}
	return nil
}

// signingFromRefusal takes the signing command out of a signature refusal
// (policy.SignInstructions in its detail).
func signingFromRefusal(f Finding) (Signing, bool) {
	if f.Rule != policy.RuleSignatureMissing.Name && f.Rule != policy.RuleSignatureInvalid.Name {
		return Signing{}, false
	}
	var cmd string
	for line := range strings.SplitSeq(f.Detail, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "mkdir -p ") && strings.Contains(l, "ssh-keygen -Y sign") {
			cmd = l
			break
		}
	}
	if cmd == "" {
		return Signing{}, false
	}
	file := cmd[strings.LastIndex(cmd, "> ")+2:]
	approver := ""
	if _, rest, ok := strings.Cut(f.Detail, "approver "); ok {
		if q, ok := strings.CutPrefix(rest, `"`); ok {
			approver, _, _ = strings.Cut(q, `"`)
		}
	}
	ticket := ""
	if parts := strings.Split(file, "/"); len(parts) == 3 && parts[0] == "approvals" {
		ticket = parts[1]
	}
	return Signing{Address: f.Address, Ticket: ticket, Approver: approver, File: file, Command: cmd, Config: f.File, Line: f.Line}, true
}
