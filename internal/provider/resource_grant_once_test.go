package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// Approvals and tickets authorise once: an approval id is recorded once, a
// withdrawn approval's grant is revoked, and a grant that re-uses the
// approval or ticket of another grant may only narrow it while it is in
// force. These tests drive the Terraform CLI through the flows a user would
// try: -target, -replace, a shorter ttl, a record removed from the
// configuration.

// gated is a built-in resource that exists only while grant name is active.
func gated(name string) string {
	return `
resource "terraform_data" "gated" {
  count = governed_grant.` + name + `.active ? 1 : 0
  input = governed_grant.` + name + `.id
}
`
}

// mustFail runs terraform with args, expects it to fail with rule, and
// returns its output with every run of white space made one space, so that
// checks do not depend on where Terraform wraps lines.
func mustFail(t *testing.T, h *cliHarness, rule policy.Rule, args ...string) string {
	t.Helper()
	out, err := h.run(args...)
	if err == nil || !strings.Contains(out, "Rule "+rule.Name) {
		t.Fatalf("terraform %s: want a refusal under rule %s, got %v:\n%s", strings.Join(args, " "), rule.Name, err, out)
	}
	return strings.Join(strings.Fields(out), " ")
}

func ledgerApproval(t *testing.T, env *testEnv, id string) ledger.Approval {
	t.Helper()
	a, err := env.openLedger().Approval(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ledgerGrant(t *testing.T, env *testEnv, id string) ledger.Grant {
	t.Helper()
	g, err := env.openLedger().Grant(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func stateString(h *cliHarness, address, attr string) string {
	s, _ := h.stateAttr(address, attr).(string)
	return s
}

// Destroying an approval record withdraws it; applying the record again
// with -target is refused at plan, and the ledger keeps it withdrawn with its
// first approved_at, from which approval_max_age counts.
func TestAccApprovalRecord_neverRecordedTwice(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, nightlyRead().hcl())
	id := stateString(h, "governed_approval_record.read", "id")
	first := ledgerApproval(t, env, id)

	h.mustRun("destroy", "-input=false", "-auto-approve", "-target=governed_approval_record.read")
	env.clock.Advance(time.Hour)
	out := mustFail(t, h, policy.RuleApprovalRecorded, "apply", "-input=false", "-auto-approve", "-target=governed_approval_record.read")
	if !strings.Contains(out, "withdrawn at "+at(0)) {
		t.Fatalf("the refusal does not say when the approval was withdrawn:\n%s", out)
	}
	a := ledgerApproval(t, env, id)
	if a.Status != ledger.ApprovalWithdrawn || !a.ApprovedAt.Equal(first.ApprovedAt) {
		t.Fatalf("after the refused apply the ledger holds %+v; want it withdrawn, approved at %s", a, first.ApprovedAt)
	}
	if got := eventTypes(t, env, id); got != "approval.recorded approval.used approval.withdrawn" {
		t.Fatalf("events of %s: %q", id, got)
	}
}

// A record replaced by one that states the same approval (an approver's name
// in other case) keeps the approval as recorded: not withdrawn, not recorded
// again, and the grant under it stays in force.
func TestAccApprovalRecord_identicalReplacementKeepsRecord(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	record := func(approver string) string {
		return approvalHCL("read", "SEC-101", approver, "Nightly reconciliation", at(5*24*time.Hour)) +
			validGrant().with("approval_id", "governed_approval_record.read.id").hcl("read")
	}
	env, h := appliedHarness(t, record("alice@example.com"))
	id := stateString(h, "governed_approval_record.read", "id")
	grantID := stateString(h, "governed_grant.read", "id")

	env.clock.Advance(time.Hour)
	h.write("main.tf", env.config(record("Alice@Example.com")))
	changes, out := h.plan()
	if actions(changes["governed_approval_record.read"]) != "delete,create" || actions(changes["governed_grant.read"]) != "no-op" {
		t.Fatalf("planned record %s, grant %s; want the record replaced and the grant unchanged\n%s",
			actions(changes["governed_approval_record.read"]), actions(changes["governed_grant.read"]), out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	if got := stateString(h, "governed_approval_record.read", "id"); got != id {
		t.Fatalf("the replacement has id %s, want %s", got, id)
	}
	a := ledgerApproval(t, env, id)
	if a.Status != ledger.ApprovalActive || !a.ApprovedAt.Equal(testNow) || a.GrantID != grantID {
		t.Fatalf("the ledger holds %+v; want it active, approved at %s, authorising %s", a, testNow, grantID)
	}
	if got := eventTypes(t, env, id); got != "approval.recorded approval.used" {
		t.Fatalf("events of %s: %q", id, got)
	}
	if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after the replacement is not empty:\n%s", out)
	}
}

// An approval record removed from the configuration is withdrawn; the grant
// made under it, which names it by id, is revoked by the next apply
// (approval_withdrawn), and what is gated on it goes in the same apply.
func TestAccGrant_approvalWithdrawnIsRevoked(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, nightlyRead().hcl())
	approvalID := stateString(h, "governed_approval_record.read", "id")
	grantID := stateString(h, "governed_grant.read", "id")

	h.write("main.tf", env.config(validGrant().with("approval_id", q(approvalID), "ttl", `"2d"`).hcl("read")+gated("read")))
	changes, out := h.plan()
	if actions(changes["governed_approval_record.read"]) != "delete" || actions(changes["governed_grant.read"]) != "no-op" {
		t.Fatalf("removing the record planned %s for it and %s for the grant\n%s",
			actions(changes["governed_approval_record.read"]), actions(changes["governed_grant.read"]), out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	if a := ledgerApproval(t, env, approvalID); a.Status != ledger.ApprovalWithdrawn {
		t.Fatalf("the record removed from the configuration is %s in the ledger", a.Status)
	}

	env.clock.Advance(time.Hour)
	changes, out = h.plan("-refresh=false")
	c := changes["governed_grant.read"]
	if actions(c) != "update" || c.Change.After["status"] != "revoked" || c.Change.After["active"] != false ||
		c.Change.After["revocation_reason"] != ledger.ReasonApprovalWithdrawn {
		t.Fatalf("planned %s %v; want an update to revoked (approval_withdrawn)\n%s", actions(c), c.Change.After, out)
	}
	if a := actions(changes["terraform_data.gated[0]"]); a != "delete" || !strings.Contains(out, "Approval withdrawn") ||
		!strings.Contains(out, approvalID) {
		t.Fatalf("gated resource planned %q; the plan must remove it and warn about the withdrawn approval\n%s", a, out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	g := ledgerGrant(t, env, grantID)
	if g.Status != ledger.StatusRevoked || g.RevocationReason != ledger.ReasonApprovalWithdrawn || !g.RevokedAt.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("the ledger holds %+v; want it revoked (approval_withdrawn) at %s", g, at(time.Hour))
	}
	if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after the revocation is not empty:\n%s", out)
	}
}

// A record withdrawn outside this configuration stays in state with a
// warning, is never planned to be recorded again, and its grant is revoked.
func TestAccApprovalRecord_withdrawnOutsideStays(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	approved := nightlyRead()
	approved.gated = false
	env, h := appliedHarness(t, approved.hcl())
	approvalID := stateString(h, "governed_approval_record.read", "id")
	if _, err := env.openLedger().WithdrawApproval(context.Background(), approvalID, testNow.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	changes, out := h.plan()
	if a := actions(changes["governed_approval_record.read"]); a != "no-op" || !strings.Contains(out, "Approval withdrawn") {
		t.Fatalf("a record withdrawn outside the configuration planned %q\n%s", a, out)
	}
	if c := changes["governed_grant.read"]; c.Change.After["revocation_reason"] != ledger.ReasonApprovalWithdrawn {
		t.Fatalf("the grant under it planned %s %v\n%s", actions(c), c.Change.After, out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	if got := stateString(h, "governed_grant.read", "status"); got != ledger.StatusRevoked {
		t.Fatalf("grant status in state = %s", got)
	}
}

// After a grant expired, -replace does not issue it again under the same
// ticket, nor under the same approval, and what is gated on it stays gone.
func TestAccGrant_replaceAfterExpiryRefused(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	for _, tc := range []struct {
		name, config, address string
		expireAfter           time.Duration
		rule                  policy.Rule
	}{
		{"ticket", validGrant().hcl("read") + gated("read"), "governed_grant.read", 8 * time.Hour, policy.RuleTicketUsed},
		{"approval", nightlyRead().hcl(), "governed_grant.read", 48 * time.Hour, policy.RuleApprovalUsed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, h := appliedHarness(t, tc.config)
			env.clock.Advance(tc.expireAfter + time.Minute)
			h.mustRun("apply", "-input=false", "-auto-approve")
			if got := stateString(h, tc.address, "status"); got != ledger.StatusExpired {
				t.Fatalf("status after expiry = %s", got)
			}
			out := mustFail(t, h, tc.rule, "apply", "-input=false", "-auto-approve", "-replace="+tc.address)
			if !strings.Contains(out, "expired at") {
				t.Fatalf("the refusal does not say that the grant expired:\n%s", out)
			}
			if out, _ := h.run("state", "list"); strings.Contains(out, "terraform_data.gated") {
				t.Fatalf("the gated resource came back:\n%s", out)
			}
			grants, err := env.openLedger().Grants(context.Background(), ledger.GrantFilter{})
			if err != nil || len(grants) != 1 || grants[0].Status != ledger.StatusExpired {
				t.Fatalf("the ledger holds %+v, %v; want the one expired grant", grants, err)
			}
		})
	}
}

// Shortening the ttl of a grant made under an approval replaces it with a
// grant that narrows it: the approval passes to the new grant, and the grant
// it replaces ends. Lengthening it again is refused.
func TestAccGrant_narrowingUnderApproval(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, nightlyRead().hcl())
	approvalID := stateString(h, "governed_approval_record.read", "id")
	oldID := stateString(h, "governed_grant.read", "id")

	env.clock.Advance(time.Hour)
	shorter := nightlyRead()
	shorter.ttl = "1d"
	h.write("main.tf", env.config(shorter.hcl()))
	changes, out := h.plan()
	if actions(changes["governed_grant.read"]) != "delete,create" || !strings.Contains(out, "Grant replaces another") {
		t.Fatalf("a shorter ttl planned %s\n%s", actions(changes["governed_grant.read"]), out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	newID := stateString(h, "governed_grant.read", "id")
	if newID == oldID || stateString(h, "governed_grant.read", "expires_at") != at(25*time.Hour) {
		t.Fatalf("after the apply the grant is %s until %s", newID, stateString(h, "governed_grant.read", "expires_at"))
	}
	a := ledgerApproval(t, env, approvalID)
	if a.GrantID != newID || a.PreviousGrantID != oldID {
		t.Fatalf("the approval authorises %s (before it %s); want %s (before it %s)", a.GrantID, a.PreviousGrantID, newID, oldID)
	}
	if got := eventTypes(t, env, approvalID); got != "approval.recorded approval.used approval.handed_over" {
		t.Fatalf("events of %s: %q", approvalID, got)
	}
	if old := ledgerGrant(t, env, oldID); old.Status != ledger.StatusRevoked || old.RetiredAt.IsZero() {
		t.Fatalf("the replaced grant is %+v; want it revoked and retired", old)
	}
	if g := ledgerGrant(t, env, newID); g.Replaces != oldID {
		t.Fatalf("the new grant names %q as the grant it replaces, want %s", g.Replaces, oldID)
	}

	longer := nightlyRead()
	longer.ttl = "2d"
	h.write("main.tf", env.config(longer.hcl()))
	out = mustFail(t, h, policy.RuleApprovalUsed, "plan", "-input=false")
	if !strings.Contains(out, newID) || !strings.Contains(out, "expires at "+at(25*time.Hour)) {
		t.Fatalf("the refusal does not name the grant it would widen and its expiry:\n%s", out)
	}
}

// Without an approval record, a grant may take the place of one under the
// same ticket only by narrowing it; with create_before_destroy the grant it
// replaces is revoked as superseded before it is destroyed.
func TestAccGrant_narrowingUnderTicket(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	grant := func(ttl string) string {
		return validGrant().with("ttl", q(ttl), "create_before_destroy", "true").hcl("read") + gated("read")
	}
	env, h := appliedHarness(t, grant("8h"))
	oldID := stateString(h, "governed_grant.read", "id")

	env.clock.Advance(time.Hour)
	h.write("main.tf", env.config(grant("4h")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	newID := stateString(h, "governed_grant.read", "id")
	old := ledgerGrant(t, env, oldID)
	if old.Status != ledger.StatusRevoked || old.RevocationReason != ledger.ReasonSuperseded || old.RetiredAt.IsZero() {
		t.Fatalf("the replaced grant is %+v; want it revoked as superseded, then retired", old)
	}
	if g := ledgerGrant(t, env, newID); g.Status != ledger.StatusActive || g.Replaces != oldID {
		t.Fatalf("the new grant is %+v", g)
	}

	h.write("main.tf", env.config(grant("8h")))
	out := mustFail(t, h, policy.RuleTicketUsed, "plan", "-input=false")
	if !strings.Contains(out, `ticket "SEC-101" already authorised grant "`+newID+`"`) {
		t.Fatalf("the refusal does not name the grant under the ticket:\n%s", out)
	}
}

// Grants that share a ticket but not the principal, or a principal but not
// the ticket, are separate grants; a new ticket renews a grant that expired.
func TestAccGrant_unrelatedGrantsUnaffected(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	worker := validGrant().with("principal", `"svc-payments-worker"`)
	config := func(apiTicket string) string {
		return validGrant().with("ticket_id", q(apiTicket)).hcl("api") + worker.hcl("worker") +
			validGrant().with("ticket_id", `"SEC-102"`, "ttl", `"2d"`).hcl("api_other")
	}
	env, h := appliedHarness(t, config("SEC-101"))
	for _, name := range []string{"api", "worker", "api_other"} {
		if got := stateString(h, "governed_grant."+name, "status"); got != ledger.StatusActive {
			t.Fatalf("grant %s is %s", name, got)
		}
	}
	env.clock.Advance(9 * time.Hour)
	h.write("main.tf", env.config(config("SEC-103")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := stateString(h, "governed_grant.api", "status"); got != ledger.StatusActive {
		t.Fatalf("a renewal under a new ticket is %s", got)
	}
	if got := stateString(h, "governed_grant.api_other", "status"); got != ledger.StatusActive {
		t.Fatalf("another ticket's grant of the same access is %s", got)
	}
}

// A grant and the approval record it points at, planned in one
// configuration, are judged together at plan: a grant outside the record's
// scope is refused before anything is recorded, and one inside it plans
// without the warning that the record is not recorded yet.
func TestAccGrant_plannedApprovalJudgedAtPlan(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	record := approvalHCL("a", "SEC-700", "alice@example.com", "Reconciliation", at(24*time.Hour))
	outside := validGrant().with("ticket_id", `"SEC-701"`, "approvers", `["bob@example.com"]`,
		"approval_id", "governed_approval_record.a.id").hcl("g")
	env := newTestEnv(t)
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(record+outside))
	h.mustRun("init", "-input=false")
	out := mustFail(t, h, policy.RuleApprovalScope, "plan", "-input=false")
	for _, want := range []string{`ticket_id "SEC-701" differs from approval`, `approver "bob@example.com" is not on approval`} {
		if !strings.Contains(out, want) {
			t.Fatalf("the plan's refusal lacks %q:\n%s", want, out)
		}
	}
	mustFail(t, h, policy.RuleApprovalScope, "apply", "-input=false", "-auto-approve")
	if head, err := env.openLedger().Head(context.Background()); err != nil || head.Seq != 0 {
		t.Fatalf("the ledger holds %d events after a refused plan (%v); the record must not be written", head.Seq, err)
	}

	inside := validGrant().with("ticket_id", `"SEC-700"`, "approval_id", "governed_approval_record.a.id").hcl("g")
	h.write("main.tf", env.config(record+inside))
	_, out = h.plan()
	if strings.Contains(out, "not recorded yet") {
		t.Fatalf("a grant under a record planned in the same configuration was not judged against it:\n%s", out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	if got := stateString(h, "governed_grant.g", "status"); got != ledger.StatusActive {
		t.Fatalf("grant status = %s", got)
	}
}
