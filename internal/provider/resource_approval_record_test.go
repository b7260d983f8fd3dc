package provider

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

func approvalConfig(ticket, principal, approvers, justification, expires string) string {
	return fmt.Sprintf(`
resource "governed_approval_record" "a" {
  ticket_id     = %q
  entitlement   = "payments-db-read"
  principal     = %q
  approvers     = %s
  justification = %q
  expires_at    = %q
}
`, ticket, principal, approvers, justification, expires)
}

func TestAccApprovalRecord_refusals(t *testing.T) {
	day := at(24 * time.Hour)
	cases := []struct {
		name, config, rule string
	}{
		{"ticket pattern", approvalConfig("OPS-1", "svc-payments-api", `["alice@example.com"]`, "why", day), policy.RuleTicketPattern.Name},
		{"principal not allowed", approvalConfig("SEC-1", "svc-billing", `["alice@example.com"]`, "why", day), policy.RulePrincipalAllowed.Name},
		{"no approvers", approvalConfig("SEC-1", "svc-payments-api", `[]`, "why", day), policy.RuleApproversMissing.Name},
		{"requester approves", approvalConfig("SEC-1", "svc-payments-api", `["dev@example.com"]`, "why", day), policy.RuleApproversSeparation.Name},
		{"approver outside the entitlement", approvalConfig("SEC-1", "svc-payments-api", `["mallory@example.com"]`, "why", day), policy.RuleApproversUnauthorised.Name},
		{"no justification", approvalConfig("SEC-1", "svc-payments-api", `["alice@example.com"]`, "", day), policy.RuleJustificationMissing.Name},
		{"expiry in the past", approvalConfig("SEC-1", "svc-payments-api", `["alice@example.com"]`, "why", at(-time.Second)), policy.RuleExpiryPast.Name},
		{"expiry beyond max_ttl", approvalConfig("SEC-1", "svc-payments-api", `["alice@example.com"]`, "why", at(8*24*time.Hour)), policy.RuleExpiryMaxTTL.Name},
		{"expiry without offset", approvalConfig("SEC-1", "svc-payments-api", `["alice@example.com"]`, "why", "2026-11-29T12:00:00"), policy.RuleExpiryFormat.Name},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			resource.ParallelTest(t, resource.TestCase{
				ProtoV6ProviderFactories: env.factories(),
				Steps: []resource.TestStep{{
					Config:      env.config(tc.config),
					ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(tc.rule)),
				}},
			})
		})
	}
}

// An approval's statement and id do not depend on how approvers are spelt, and
// changing any argument replaces the record.
func TestAccApprovalRecord_statementAndReplace(t *testing.T) {
	env := newTestEnv(t)
	day := at(24 * time.Hour)
	first := approvalConfig("SEC-1", "svc-payments-api", `["alice@example.com", "bob@example.com"]`, "why", day)
	respelt := approvalConfig("SEC-1", "svc-payments-api", `["BOB@example.com", " Alice@Example.com"]`, "why", day)
	var firstID string
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: env.config(first),
				ConfigStateChecks: []statecheck.StateCheck{
					captureID{"governed_approval_record.a", &firstID},
					expectAttr("governed_approval_record.a", "requester", knownvalue.StringExact("dev@example.com")),
					expectAttr("governed_approval_record.a", "statement", knownvalue.StringRegexp(regexp.MustCompile(`(?s)approvers: alice@example.com, ?bob@example.com`))),
				},
			},
			{
				Config: env.config(respelt),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("governed_approval_record.a", plancheck.ResourceActionReplace),
					plancheck.ExpectKnownValue("governed_approval_record.a", tfjsonpath.New("id"), knownvalue.StringFunc(func(v string) error {
						if v != firstID {
							return fmt.Errorf("id %s differs from %s, though the statement is the same", v, firstID)
						}
						return nil
					})),
				}},
			},
			{
				Config: env.config(approvalConfig("SEC-2", "svc-payments-api", `["alice@example.com"]`, "why", day)),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("governed_approval_record.a", plancheck.ResourceActionReplace),
				}},
			},
		},
	})
}
