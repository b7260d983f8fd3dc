package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// grantArgs is a valid grant of payments-db-read; cases override what they test.
type grantArgs map[string]string

func validGrant() grantArgs {
	return grantArgs{
		"principal":   `"svc-payments-api"`,
		"entitlement": `"payments-db-read"`,
		"ticket_id":   `"SEC-101"`,
		"approvers":   `["alice@example.com"]`,
		"ttl":         `"8h"`,
	}
}

func (g grantArgs) with(kv ...string) grantArgs {
	out := grantArgs{}
	for k, v := range g {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(out, kv[i])
		} else {
			out[kv[i]] = kv[i+1]
		}
	}
	return out
}

func (g grantArgs) hcl(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "resource \"governed_grant\" %q {\n", name)
	for _, k := range []string{"principal", "entitlement", "ticket_id", "approvers", "expires_at", "ttl", "approval_id", "justification", "requester", "break_glass"} {
		if v, ok := g[k]; ok {
			fmt.Fprintf(&b, "  %s = %s\n", k, v)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func q(s string) string { return fmt.Sprintf("%q", s) }

// TestAccGrant_refusals runs grants that break one rule each and expects the
// run to fail naming that rule: at plan, or, where the grant's approval record
// is created in the same run and so can only be checked once it exists, at
// apply. Either way nothing is granted (assertNoGrants).
func TestAccGrant_refusals(t *testing.T) {
	cases := []struct {
		name  string
		grant grantArgs
		extra string // other resources in the configuration
		rule  string // expected in the error
	}{
		{"ticket missing", validGrant().with("ticket_id", `""`), "", policy.RuleTicketMissing.Name},
		{"ticket pattern", validGrant().with("ticket_id", `"OPS-7"`), "", policy.RuleTicketPattern.Name},
		{"entitlement unknown", validGrant().with("entitlement", `"payments-db-write"`), "", policy.RuleEntitlementUnknown.Name},
		{"principal not allowed", validGrant().with("principal", `"svc-billing"`), "", policy.RulePrincipalAllowed.Name},
		{"approvers missing", validGrant().with("approvers", `[]`), "", policy.RuleApproversMissing.Name},
		{"approvers duplicate by case and space", validGrant().with("approvers", `["alice@example.com", " ALICE@Example.com "]`), "", policy.RuleApproversDuplicate.Name},
		// Names differing only by Unicode form never reach the provider: Terraform
		// normalises every string to NFC itself. The policy tests cover that case.
		{"approver outside the entitlement", validGrant().with("approvers", `["mallory@example.com"]`), "", policy.RuleApproversUnauthorised.Name},
		{"resource requester approves", validGrant().with("requester", `"alice@example.com"`), "", policy.RuleApproversSeparation.Name},
		{"too few approvals", grantArgs{"principal": `"ci-runner-7"`, "entitlement": `"ci-deploy"`, "ticket_id": `"OPS-1"`, "approvers": `["alice@example.com"]`, "ttl": `"1d"`}, "", policy.RuleApproversMinimum.Name},
		{"no expiry", validGrant().with("ttl", ""), "", policy.RuleExpiryMissing.Name},
		{"both expiries", validGrant().with("expires_at", q(at(time.Hour))), "", policy.RuleExpiryMissing.Name},
		{"expiry in the past", validGrant().with("ttl", "", "expires_at", q(at(-time.Minute))), "", policy.RuleExpiryPast.Name},
		{"expiry exactly now", validGrant().with("ttl", "", "expires_at", q(at(0))), "", policy.RuleExpiryPast.Name},
		{"expiry beyond max_ttl", validGrant().with("ttl", "", "expires_at", q(at(7*24*time.Hour+time.Second))), "", policy.RuleExpiryMaxTTL.Name},
		{"ttl beyond max_ttl in weeks", validGrant().with("ttl", `"2w"`), "", policy.RuleExpiryMaxTTL.Name},
		{"offset-less timestamp", validGrant().with("ttl", "", "expires_at", `"2026-11-29T12:00:00"`), "", policy.RuleExpiryFormat.Name},
		{"hour 24", validGrant().with("ttl", "", "expires_at", `"2026-11-28T24:00:00Z"`), "", policy.RuleExpiryFormat.Name},
		{"leap second", validGrant().with("ttl", "", "expires_at", `"2026-12-31T23:59:60Z"`), "", policy.RuleExpiryFormat.Name},
		{"zero ttl", validGrant().with("ttl", `"0s"`), "", policy.RuleExpiryFormat.Name},
		{"negative ttl", validGrant().with("ttl", `"-1h"`), "", policy.RuleExpiryFormat.Name},
		{"huge ttl", validGrant().with("ttl", `"100000w"`), "", policy.RuleExpiryFormat.Name},
		{"garbage ttl", validGrant().with("ttl", `"soon"`), "", policy.RuleExpiryFormat.Name},
		{"break-glass without justification", validGrant().with("break_glass", "true", "ttl", `"1h"`), "", policy.RuleBreakGlassJustification.Name},
		{"break-glass beyond its max_ttl", validGrant().with("break_glass", "true", "ttl", `"5h"`, "justification", `"incident INC-9"`), "", policy.RuleExpiryMaxTTL.Name},
		{"break-glass not offered", grantArgs{"principal": `"ci-runner-7"`, "entitlement": `"ci-deploy"`, "ticket_id": `"OPS-1"`, "approvers": `["alice@example.com", "bob@example.com"]`, "ttl": `"1d"`, "break_glass": "true", "justification": `"hotfix"`}, "", policy.RuleBreakGlassNotAllowed.Name},
		{"approver unknown at plan", validGrant().with("approvers", `[terraform_data.approver.output]`), `resource "terraform_data" "approver" { input = "alice@example.com" }`, policy.RuleValueUnknown.Name},
		{"ticket unknown at plan", validGrant().with("ticket_id", `terraform_data.ticket.output`), `resource "terraform_data" "ticket" { input = "SEC-1" }`, policy.RuleValueUnknown.Name},
		{"approval for another ticket", validGrant().with("approval_id", "governed_approval_record.other.id", "ticket_id", `"SEC-102"`), approvalHCL("other", "SEC-101", "alice@example.com", at(24*time.Hour)), policy.RuleApprovalScope.Name},
		{"approver not on the approval", validGrant().with("approval_id", "governed_approval_record.other.id", "approvers", `["bob@example.com"]`), approvalHCL("other", "SEC-101", "alice@example.com", at(24*time.Hour)), policy.RuleApprovalScope.Name},
		{"expiry after the approval's", validGrant().with("approval_id", "governed_approval_record.other.id", "ttl", `"2d"`), approvalHCL("other", "SEC-101", "alice@example.com", at(24*time.Hour)), policy.RuleApprovalScope.Name},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			config := env.config(tc.extra + "\n" + tc.grant.hcl("g"))
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config:      config,
					ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(tc.rule)),
				}},
			})
			assertNoGrants(t, env)
		})
	}
}

// approvalHCL is an approval record of payments-db-read for svc-payments-api.
func approvalHCL(name, ticket, approver, expires string) string {
	return fmt.Sprintf(`
resource "governed_approval_record" %q {
  ticket_id     = %q
  entitlement   = "payments-db-read"
  principal     = "svc-payments-api"
  approvers     = [%q]
  justification = "Reconciliation"
  expires_at    = %q
}
`, name, ticket, approver, expires)
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
				Statement: "fixture", Digest: "fixture",
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
		Statement: "fixture", Digest: "fixture",
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
