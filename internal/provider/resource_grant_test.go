package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/compare"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// grantWithApproval is an approval record, a grant under it, and a built-in
// resource gated on the grant being active.
func grantWithApproval() string {
	return fmt.Sprintf(`
resource "governed_approval_record" "read" {
  ticket_id     = "SEC-101"
  entitlement   = "payments-db-read"
  principal     = "svc-payments-api"
  approvers     = ["alice@example.com"]
  justification = "Nightly reconciliation reads settled payments"
  expires_at    = %q
}

resource "governed_grant" "read" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-101"
  approvers   = ["alice@example.com"]
  approval_id = governed_approval_record.read.id
  ttl         = "2d"
}

resource "terraform_data" "gated" {
  count = governed_grant.read.active ? 1 : 0
  input = governed_grant.read.id
}
`, at(5*24*time.Hour))
}

// ungated drops the gated terraform_data from a configuration.
func ungated(config string) string {
	return config[:strings.Index(config, `resource "terraform_data" "gated"`)]
}

func TestAccGrant_lifecycle(t *testing.T) {
	env := newTestEnv(t)
	var grantID, approvalID string
	// The grant keeps one id through expiry: it is never re-created.
	sameID := statecheck.CompareValue(compare.ValuesSame())
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: env.config(grantWithApproval()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("governed_grant.read", plancheck.ResourceActionCreate),
					expectPlanned("governed_grant.read", "status", knownvalue.StringExact("active")),
					expectPlanned("governed_grant.read", "active", knownvalue.Bool(true)),
					expectPlanned("governed_approval_record.read", "id", knownvalue.StringRegexp(regexp.MustCompile(`^apr_[0-9a-f]{24}$`))),
					expectPlanned("governed_approval_record.read", "digest", knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
					plancheck.ExpectResourceAction("terraform_data.gated[0]", plancheck.ResourceActionCreate),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("governed_grant.read", "status", knownvalue.StringExact("active")),
					expectAttr("governed_grant.read", "active", knownvalue.Bool(true)),
					expectAttr("governed_grant.read", "granted_at", knownvalue.StringExact(at(0))),
					expectAttr("governed_grant.read", "expires_at", knownvalue.StringExact(at(48*time.Hour))),
					expectAttr("governed_grant.read", "requester", knownvalue.StringExact("dev@example.com")),
					expectAttr("governed_grant.read", "revoked_at", knownvalue.Null()),
					expectAttr("governed_approval_record.read", "approved_at", knownvalue.StringExact(at(0))),
					expectAttr("governed_approval_record.read", "statement", knownvalue.StringRegexp(regexp.MustCompile(`SEC-101`))),
					captureID{"governed_grant.read", &grantID},
					captureID{"governed_approval_record.read", &approvalID},
					sameID.AddStateValue("governed_grant.read", tfjsonpath.New("id")),
				},
			},
			{
				// Imports run in a fresh state, where a count on the grant's
				// active attribute could not be known: leave the gated resource out.
				Config:            env.config(ungated(grantWithApproval())),
				ResourceName:      "governed_grant.read",
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				Config:            env.config(ungated(grantWithApproval())),
				ResourceName:      "governed_approval_record.read",
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				// One second before expiry nothing changes.
				PreConfig: func() { env.clock.Advance(48*time.Hour - time.Second) },
				Config:    env.config(grantWithApproval()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
			{
				// At the expiry instant the grant is expired: an in-place update,
				// and the gated resource goes in the same apply.
				PreConfig: func() { env.clock.Advance(time.Second) },
				Config:    env.config(grantWithApproval()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("governed_grant.read", plancheck.ResourceActionUpdate),
					expectPlanned("governed_grant.read", "status", knownvalue.StringExact("expired")),
					expectPlanned("governed_grant.read", "active", knownvalue.Bool(false)),
					plancheck.ExpectResourceAction("terraform_data.gated[0]", plancheck.ResourceActionDestroy),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("governed_grant.read", "status", knownvalue.StringExact("expired")),
					expectAttr("governed_grant.read", "active", knownvalue.Bool(false)),
					expectAttr("governed_grant.read", "revocation_reason", knownvalue.StringExact("expired")),
					expectAttr("governed_grant.read", "revoked_at", knownvalue.StringExact(at(48*time.Hour))),
					sameID.AddStateValue("governed_grant.read", tfjsonpath.New("id")),
				},
			},
			{
				// Later applies change nothing: the grant is never issued again.
				PreConfig: func() { env.clock.Advance(24 * time.Hour) },
				Config:    env.config(grantWithApproval()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					sameID.AddStateValue("governed_grant.read", tfjsonpath.New("id")),
					expectAttr("governed_grant.read", "status", knownvalue.StringExact("expired")),
				},
			},
		},
		CheckDestroy: func(*terraform.State) error {
			l := env.openLedger()
			g, err := l.Grant(context.Background(), grantID)
			if err != nil {
				return err
			}
			if g.RetiredAt.IsZero() || g.Status != ledger.StatusExpired {
				return fmt.Errorf("after destroy, grant %s is %s, retired at %v; want expired and retired", g.ID, g.Status, g.RetiredAt)
			}
			a, err := l.Approval(context.Background(), approvalID)
			if err != nil {
				return err
			}
			if a.Status != ledger.ApprovalWithdrawn {
				return fmt.Errorf("after destroy, approval %s is %s; want withdrawn", a.ID, a.Status)
			}
			return nil
		},
	})
}

// An approval authorises one grant: changing the grant (a replacement, as a
// renewal is) under the same approval is refused, and a new approval lets it
// through.
func TestAccGrant_renewalNeedsNewApproval(t *testing.T) {
	env := newTestEnv(t)
	first := grantWithApproval()
	renewed := strings.Replace(first, `ttl         = "2d"`, `ttl         = "1d"`, 1)
	reapproved := strings.Replace(renewed, `justification = "Nightly reconciliation reads settled payments"`,
		`justification = "Nightly reconciliation reads settled payments, renewed"`, 1)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: env.config(first)},
			{
				PreConfig:   func() { env.clock.Advance(49 * time.Hour) },
				Config:      env.config(renewed),
				ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RuleApprovalUsed.Name)),
			},
			{
				Config: env.config(reapproved),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("governed_grant.read", plancheck.ResourceActionReplace),
					plancheck.ExpectResourceAction("governed_approval_record.read", plancheck.ResourceActionReplace),
				}},
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("governed_grant.read", "status", knownvalue.StringExact("active")),
				},
			},
		},
	})
}
