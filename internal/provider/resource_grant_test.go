package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
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

func TestAccGrant_lifecycle(t *testing.T) {
	env := newTestEnv(t)
	approved := nightlyRead()
	// Imports run in a fresh state, where a count on the grant's active
	// attribute could not be known: they leave the gated resource out.
	ungated := approved
	ungated.gated = false
	var grantID, approvalID string
	// The grant keeps one id through expiry: it is never re-created.
	sameID := statecheck.CompareValue(compare.ValuesSame())
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: env.config(approved.hcl()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("governed_grant.read", plancheck.ResourceActionCreate),
					expectPlanned("governed_grant.read", "status", knownvalue.StringExact("active")),
					expectPlanned("governed_grant.read", "active", knownvalue.Bool(true)),
					// What the grant gives is on the plan, for a reviewer.
					expectPlanned("governed_grant.read", "target", knownvalue.StringExact("ledger")),
					expectPlanned("governed_grant.read", "role", knownvalue.StringExact("payments_read")),
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
				Config:            env.config(ungated.hcl()),
				ResourceName:      "governed_grant.read",
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				Config:            env.config(ungated.hcl()),
				ResourceName:      "governed_approval_record.read",
				ImportState:       true,
				ImportStateVerify: true,
			},
			{
				// One second before expiry nothing changes.
				PreConfig: func() { env.clock.Advance(48*time.Hour - time.Second) },
				Config:    env.config(approved.hcl()),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectEmptyPlan(),
				}},
			},
			{
				// At the expiry instant the grant is expired: an in-place update,
				// and the gated resource goes in the same apply.
				PreConfig: func() { env.clock.Advance(time.Second) },
				Config:    env.config(approved.hcl()),
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
				Config:    env.config(approved.hcl()),
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
	first := nightlyRead()
	renewed := first
	renewed.ttl = "1d"
	reapproved := renewed
	reapproved.justification += ", renewed"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: env.config(first.hcl())},
			{
				PreConfig:   func() { env.clock.Advance(49 * time.Hour) },
				Config:      env.config(renewed.hcl()),
				ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RuleApprovalUsed.Name)),
			},
			{
				Config: env.config(reapproved.hcl()),
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

// State that is behind the ledger reads as what happened in the ledger; only
// a state that no earlier record of the grant explains reads as edited.
func TestStateVersusLedger(t *testing.T) {
	t.Parallel()
	active := ledger.Grant{ID: "grt_1", Principal: "svc-payments-api", Entitlement: "payments-db-read", TicketID: "SEC-1",
		Approvers: []string{"alice@example.com"}, Target: "ledger", ExpiresAt: at(8 * time.Hour), GrantedAt: testNow, Status: ledger.StatusActive}
	revoked := active
	revoked.Status, revoked.RevokedAt, revoked.RevocationReason, revoked.RevocationNote = ledger.StatusRevoked, testNow.Add(time.Hour), ledger.ReasonOutOfBand, "SEC-3000: incident"
	pending := revoked
	pending.RevokePending, pending.RevokeError = true, "not given postgres.app"
	expired := active
	expired.Status, expired.RevokedAt, expired.RevocationReason = ledger.StatusExpired, testNow.Add(8*time.Hour), ledger.ReasonExpired
	edited := grantModelFromLedger(active)
	edited.ExpiresAt = types.StringValue(at(30 * 24 * time.Hour))
	imported := grantModel{ID: types.StringValue("grt_1")}
	for name, tc := range map[string]struct {
		state  grantModel
		ledger ledger.Grant
		want   string // the summary of the one warning, or ""
	}{
		"same":                         {grantModelFromLedger(active), active, ""},
		"revoked out of band since":    {grantModelFromLedger(active), revoked, "Grant revoked outside Terraform"},
		"revoked, revocation pending":  {grantModelFromLedger(active), pending, "Grant revoked outside Terraform"},
		"expired since":                {grantModelFromLedger(active), expired, "Grant ended in the ledger"},
		"revocation completed since":   {grantModelFromLedger(pending), revoked, ""},
		"expiry edited by hand":        {edited, active, "State differs from the ledger"},
		"revoked in state, not ledger": {grantModelFromLedger(revoked), active, "State differs from the ledger"},
		"imported":                     {imported, revoked, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var diags diag.Diagnostics
			addStateVersusLedger(&diags, tc.state, tc.ledger, "so its values replace the ones in state")
			got := ""
			for _, d := range diags {
				got = d.Summary()
			}
			if len(diags) > 1 || got != tc.want || diags.HasError() {
				t.Fatalf("diagnostics = %v; want one warning %q", diags, tc.want)
			}
			if tc.want == "Grant revoked outside Terraform" && !strings.Contains(diags[0].Detail(), `"SEC-3000: incident"`) {
				t.Fatalf("the warning does not give the note: %s", diags[0].Detail())
			}
		})
	}
}
