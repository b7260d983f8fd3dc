package provider

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// TestAccGrant_refusals runs grants that break one rule each and expects the
// run to fail naming that rule, on the configuration line of the attribute at
// fault, at plan: where the grant's approval record is created in the same
// run, against the record as planned. Nothing is granted (assertNoGrants).
//
// The cases test the provider's part: that each argument reaches the policy
// and each refusal comes back on the right attribute, that the format
// validators are attached, that the provider judges by its own clock, that
// unknown values stop the plan, and that a grant is judged against an
// approval record planned in the same run. Which values each rule refuses is the
// policy's, tested in internal/policy (TestEvaluateGrant and the parser
// tests), fast and without Terraform.
func TestAccGrant_refusals(t *testing.T) {
	approval := approvalHCL("other", "SEC-101", "alice@example.com", "Reconciliation", at(24*time.Hour))
	cases := []struct {
		name  string
		grant grantArgs
		extra string // other resources in the configuration
		rule  string // expected in the error
		attr  string // the attribute the error is on, when the configuration sets it
	}{
		// Each argument reaches the policy, and its refusal comes back on it.
		{"ticket pattern", validGrant().with("ticket_id", `"OPS-7"`), "", policy.RuleTicketPattern.Name, "ticket_id"},
		{"entitlement unknown", validGrant().with("entitlement", `"payments-db-write"`), "", policy.RuleEntitlementUnknown.Name, "entitlement"},
		{"principal not allowed", validGrant().with("principal", `"svc-billing"`), "", policy.RulePrincipalAllowed.Name, "principal"},
		// Names differing only by Unicode form never reach the provider: Terraform
		// normalises every string to NFC itself. The policy tests cover that case.
		{"approver outside the entitlement", validGrant().with("approvers", `["mallory@example.com"]`), "", policy.RuleApproversUnauthorised.Name, "approvers"},
		{"resource requester approves", validGrant().with("requester", `"alice@example.com"`), "", policy.RuleApproversSeparation.Name, "approvers"},
		// Against the provider's clock, which is the test's.
		{"expiry in the past", validGrant().with("ttl", "", "expires_at", q(at(-time.Minute))), "", policy.RuleExpiryPast.Name, "expires_at"},
		{"ttl beyond max_ttl in weeks", validGrant().with("ttl", `"2w"`), "", policy.RuleExpiryMaxTTL.Name, "ttl"},
		// The validators of expires_at and ttl.
		{"offset-less timestamp", validGrant().with("ttl", "", "expires_at", `"2026-11-29T12:00:00"`), "", policy.RuleExpiryFormat.Name, "expires_at"},
		{"garbage ttl", validGrant().with("ttl", `"soon"`), "", policy.RuleExpiryFormat.Name, "ttl"},
		// break_glass reaches the policy; the justification it lacks is not in
		// the configuration, so the error is on the resource.
		{"break-glass without justification", validGrant().with("break_glass", "true", "ttl", `"1h"`), "", policy.RuleBreakGlassJustification.Name, ""},
		// Values known only after apply, a set's element and a string.
		{"approver unknown at plan", validGrant().with("approvers", `[terraform_data.approver.output]`), `resource "terraform_data" "approver" { input = "alice@example.com" }`, policy.RuleValueUnknown.Name, "approvers"},
		{"ticket unknown at plan", validGrant().with("ticket_id", `terraform_data.ticket.output`), `resource "terraform_data" "ticket" { input = "SEC-1" }`, policy.RuleValueUnknown.Name, "ticket_id"},
		// Against the approval record planned in the same run: its ticket,
		// approvers and expiry each reach the policy.
		{"approval for another ticket", validGrant().with("approval_id", "governed_approval_record.other.id", "ticket_id", `"SEC-102"`), approval, policy.RuleApprovalScope.Name, "ticket_id"},
		{"approver not on the approval", validGrant().with("approval_id", "governed_approval_record.other.id", "approvers", `["bob@example.com"]`), approval, policy.RuleApprovalScope.Name, "approvers"},
		{"expiry after the approval's", validGrant().with("approval_id", "governed_approval_record.other.id", "ttl", `"2d"`), approval, policy.RuleApprovalScope.Name, "ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			config := env.config(tc.extra + "\n" + tc.grant.hcl("g"))
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config:      config,
					ExpectError: refusedOn(tc.rule, tc.attr),
				}},
			})
			assertNoGrants(t, env)
		})
	}
}

// refusedOn matches Terraform's report of an error under rule whose source
// line is the one that sets attribute attr; with attr empty, any error under
// rule.
func refusedOn(rule, attr string) *regexp.Regexp {
	if attr == "" {
		return regexp.MustCompile(`Rule ` + regexp.QuoteMeta(rule))
	}
	return regexp.MustCompile(`\d+:\s+` + regexp.QuoteMeta(attr) + `\s+=[^\n]*\n[\s│]*Rule ` + regexp.QuoteMeta(rule))
}

// assertNoGrants checks that a refused plan left nothing behind in the ledger.
func assertNoGrants(t *testing.T, env *testEnv) {
	t.Helper()
	l := env.openLedger()
	grants, err := l.Grants(context.Background(), ledger.GrantFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 0 {
		t.Fatalf("refused configuration left %d grants in the ledger", len(grants))
	}
}

func TestAccGrant_providerRequesterApproves(t *testing.T) {
	env := newTestEnv(t)
	env.requester = "Alice@Example.com"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config:      env.config(validGrant().hcl("g")),
			ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RuleApproversSeparation.Name)),
		}},
	})
}

func TestAccGrant_approvalRequired(t *testing.T) {
	env := newTestEnv(t)
	env.writePolicy("require_approval_record = true\n" + testPolicy)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config:      env.config(validGrant().hcl("g")),
			ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RuleApprovalRequired.Name)),
		}},
	})
}

// An approval id that names no record passes the plan with a warning (the
// record might be created earlier in the same apply) and is refused at apply.
func TestAccGrant_approvalNotFoundAtApply(t *testing.T) {
	env := newTestEnv(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config:      env.config(validGrant().with("approval_id", `"apr_000000000000000000000000"`).hcl("g")),
			ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RuleApprovalNotFound.Name)),
		}},
	})
	assertNoGrants(t, env)
}

// Approvals recorded before the test, through the ledger, as another team's
// pipeline would have: one withdrawn, one too old to use.
func TestAccGrant_approvalWithdrawnOrAged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		recorded time.Time
		withdraw bool
		rule     string
	}{
		{"withdrawn", testNow.Add(-time.Hour), true, policy.RuleApprovalWithdrawn.Name},
		{"older than approval_max_age", testNow.Add(-7*24*time.Hour - time.Second), false, policy.RuleApprovalMaxAge.Name},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			l := env.openLedger()
			a := ledger.Approval{
				ID: "apr_fixture", TicketID: "SEC-101", Entitlement: "payments-db-read", Principal: "svc-payments-api",
				Approvers: []string{"alice@example.com"}, Justification: "fixture", ExpiresAt: at(24 * time.Hour),
				Statement: "fixture", Digest: policy.Digest("fixture"), PolicyDigest: env.keepPolicy(l),
			}
			if _, err := l.RecordApproval(context.Background(), a, tc.recorded); err != nil {
				t.Fatal(err)
			}
			if tc.withdraw {
				if _, err := l.WithdrawApproval(context.Background(), a.ID, tc.recorded); err != nil {
					t.Fatal(err)
				}
			}
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config:      env.config(validGrant().with("approval_id", q(a.ID)).hcl("g")),
					ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(tc.rule)),
				}},
			})
		})
	}
}

// A saved plan applied later is judged again at apply: here the approval ages
// out between plan and apply.
func TestAccGrant_savedPlanRecheckedAtApply(t *testing.T) {
	env := newTestEnv(t)
	l := env.openLedger()
	a := ledger.Approval{
		ID: "apr_fixture", TicketID: "SEC-101", Entitlement: "payments-db-read", Principal: "svc-payments-api",
		Approvers: []string{"alice@example.com"}, Justification: "fixture", ExpiresAt: at(20 * 24 * time.Hour),
		Statement: "fixture", Digest: policy.Digest("fixture"), PolicyDigest: env.keepPolicy(l),
	}
	if _, err := l.RecordApproval(context.Background(), a, testNow.Add(-6*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config: env.config(validGrant().with("approval_id", q(a.ID)).hcl("g")),
			ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
				advanceClock{env.clock, 2 * 24 * time.Hour},
			}},
			ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RuleApprovalMaxAge.Name)),
		}},
	})
	assertNoGrants(t, env)
}

// One mistake, one error: an approver outside the policy is refused as such,
// naming who may approve, and a self-approval as such, without
// approvers.min_approvals repeating either.
func TestAccGrant_oneMistakeOneError(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	for name, tc := range map[string]struct {
		grant     grantArgs
		requester string
		rule      policy.Rule
		says      string
	}{
		"approver outside the policy": {
			grant: validGrant().with("approvers", `["mallory@example.com"]`), requester: "dev@example.com",
			rule: policy.RuleApproversUnauthorised,
			says: `who are "alice@example.com", "bob@example.com" and "carol@example.com"`,
		},
		"self-approval": {
			grant: validGrant(), requester: "alice@example.com",
			rule: policy.RuleApproversSeparation,
			says: `approver "alice@example.com" is both the resource's and the provider's requester`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			env.requester = tc.requester
			grant := tc.grant
			if tc.requester != "dev@example.com" {
				grant = grant.with("requester", q(tc.requester))
			}
			h := newCLIHarness(t, env.clock)
			h.write("main.tf", env.config(grant.hcl("g")))
			h.mustRun("init", "-input=false")
			out, err := h.run("plan", "-input=false")
			got := flat(out)
			if err == nil || strings.Count(got, "Error: ") != 1 || !strings.Contains(got, "Rule "+tc.rule.Name) ||
				!strings.Contains(got, tc.says) {
				t.Fatalf("want one error, rule %s, saying %s (%v):\n%s", tc.rule.Name, tc.says, err, out)
			}
		})
	}
}

// Values past their limits are refused at plan, under their rules, whatever
// store holds the ledger: nothing reaches the ledger.
func TestAccGrant_valueLimits(t *testing.T) {
	for name, tc := range map[string]struct {
		grant grantArgs
		rule  policy.Rule
	}{
		"escape in the principal": {validGrant().with("principal", `"svc-payments-\u001b[2J"`), policy.RuleValueControl},
		"NUL in an approver":      {validGrant().with("approvers", `["alice@example.com\u0000"]`), policy.RuleValueControl},
		"a long justification":    {validGrant().with("justification", `"`+strings.Repeat("why ", 2000)+`"`), policy.RuleValueTooLong},
		"an offset of -23:59":     {validGrant().with("ttl", "null", "expires_at", q(testNow.Add(time.Hour).In(time.FixedZone("", -(23*3600+59*60))).Format(time.RFC3339))), policy.RuleExpiryFormat},
	} {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config:      env.config(tc.grant.hcl("g")),
					ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(tc.rule.Name)),
				}},
			})
			assertNoGrants(t, env)
		})
	}
}
