package provider

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// The current-state rows are an index that the pipeline's own database role
// (PostgreSQL) or the SQLite file's owner can edit or delete. A grant whose
// block was replaced by a removed block, and whose row was then deleted, or
// edited to say it was revoked and expires in 2099, is past its expiry: the
// scheduled plan of governed_reconciliation still lists it (from its
// events), the apply revokes its membership in the real target and records
// the expiry, the append writes the row again, and the ledger verifies
// afterwards. On the rows alone the plan showed no change.
func TestAccReconciliation_rowsEditedOrDeleted(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		for _, edit := range []string{"deleted", "edited"} {
			t.Run(store+"/row "+edit, func(t *testing.T) {
				t.Parallel()
				w := newPGWorld(t)
				env := w.env("")
				// The stores record by the real clock: the grant is issued
				// nine hours ago, for eight.
				env.clock = clocktest.NewManual(time.Now().UTC().Add(-9 * time.Hour).Truncate(time.Second))
				var tamper func(stmt string)
				expiry := "expires_unix = 4102444800"
				if store == "postgres" {
					_, env.ledger = w.Server.NewDatabase(t, "ledger")
					expiry = "expires_at = '2099-01-01T00:00:00Z'"
					tamper = func(stmt string) {
						ctx := context.Background()
						conn, err := pgx.Connect(ctx, env.ledger)
						if err != nil {
							t.Fatal(err)
						}
						defer conn.Close(ctx)
						if _, err := conn.Exec(ctx, stmt); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					tamper = func(stmt string) {
						db, err := sql.Open("sqlite", env.ledger)
						if err != nil {
							t.Fatal(err)
						}
						defer db.Close()
						if _, err := db.Exec(stmt); err != nil {
							t.Fatal(err)
						}
					}
				}
				api := w.Principal("api")
				kept := appGrant(w.Principal("worker"), "SEC-2").with("ttl", `"2d"`).hcl("kept") + reconciliationBlock
				var id string
				resource.Test(t, resource.TestCase{
					ProtoV6ProviderFactories: env.factories(),
					Steps: []resource.TestStep{
						{
							Config: env.config(appGrant(api, "SEC-1").hcl("g") + kept),
							ConfigStateChecks: []statecheck.StateCheck{
								captureID{"governed_grant.g", &id},
								expectAttr("governed_reconciliation.scheduled", "revokes", knownvalue.MapExact(map[string]knownvalue.Check{})),
							},
						},
						{
							// The grant's block goes; the grant stays in force.
							Config: env.config(removedBlock("g") + kept),
						},
						{
							PreConfig: func() {
								if !w.IsMember(api, w.Role) {
									t.Fatalf("%s lost %s when its grant was orphaned", api, w.Role)
								}
								env.clock.Advance(8*time.Hour + time.Minute)
								if edit == "deleted" {
									tamper(`DELETE FROM grants WHERE id = '` + id + `'`)
								} else {
									tamper(`UPDATE grants SET status = 'revoked', revoke_pending = false, ` + expiry + ` WHERE id = '` + id + `'`)
								}
							},
							Config: env.config(removedBlock("g") + kept),
							ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
								plancheck.ExpectResourceAction("governed_reconciliation.scheduled", plancheck.ResourceActionUpdate),
								expectPlannedRevokes(&id, "expired"),
							}},
							ConfigStateChecks: []statecheck.StateCheck{expectRevokes(&id, "expired")},
						},
					},
				})
				if w.IsMember(api, w.Role) {
					t.Fatalf("%s is still a member of %s after the reconciliation", api, w.Role)
				}
				l := env.openLedger()
				g, err := l.Grant(context.Background(), id)
				if err != nil || g.Status != ledger.StatusExpired || g.RevocationReason != ledger.ReasonExpired || g.RevokePending {
					t.Fatalf("grant after the reconciliation: %+v, %v", g, err)
				}
				if got := eventTypes(t, env, id); got != "grant.requested grant.issued grant.expired grant.revoke_completed" {
					t.Fatalf("events of %s: %q", id, got)
				}
				// The appends wrote the row again from their events: the
				// ledger verifies, and the rows list the grant as expired.
				mustVerifyLedger(t, env)
				rows, err := l.Grants(context.Background(), ledger.GrantFilter{Status: ledger.StatusExpired})
				if err != nil || len(rows) != 1 || rows[0].ID != id {
					t.Fatalf("expired grants by the rows after the reconciliation: %+v, %v", rows, err)
				}
			})
		}
	}
}

// expectPlannedRevokes checks that governed_reconciliation.scheduled plans to
// revoke exactly the grant *id, for why; id is read when the check runs.
func expectPlannedRevokes(id *string, why string) plancheck.PlanCheck {
	return deferredPlanCheck(func() plancheck.PlanCheck {
		return expectPlanned("governed_reconciliation.scheduled", "revokes",
			knownvalue.MapExact(map[string]knownvalue.Check{*id: knownvalue.StringExact(why)}))
	})
}

// expectRevokes is expectPlannedRevokes for the state after the apply.
func expectRevokes(id *string, why string) statecheck.StateCheck {
	return deferredStateCheck(func() statecheck.StateCheck {
		return expectAttr("governed_reconciliation.scheduled", "revokes",
			knownvalue.MapExact(map[string]knownvalue.Check{*id: knownvalue.StringExact(why)}))
	})
}

// deferredPlanCheck builds its check when it runs, from values that earlier
// steps captured.
type deferredPlanCheck func() plancheck.PlanCheck

func (d deferredPlanCheck) CheckPlan(ctx context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	d().CheckPlan(ctx, req, resp)
}

// deferredStateCheck is deferredPlanCheck for state checks.
type deferredStateCheck func() statecheck.StateCheck

func (d deferredStateCheck) CheckState(ctx context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	d().CheckState(ctx, req, resp)
}
