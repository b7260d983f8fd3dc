package provider

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/clock/clocktest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// removedBlock forgets governed_grant.name without destroying it, as a team
// that moves a grant out of a configuration might.
func removedBlock(name string) string {
	return `
removed {
  from = governed_grant.` + name + `

  lifecycle {
    destroy = false
  }
}
`
}

const reconciliationBlock = `
resource "governed_reconciliation" "scheduled" {}
`

// A PostgreSQL grant that no configuration manages any more (its block
// replaced by a removed block, or its state removed) keeps its membership
// past its expiry while plans say "No changes" and warn about it; governed
// reconcile, or a governed_reconciliation in the scheduled configuration,
// revokes it and records the expiry.
func TestAccReconciliation_orphanedGrants(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	for _, tt := range []struct {
		name      string
		orphan    func(h *cliHarness, env *testEnv, kept string)
		singleton string // the reconciliation's place: "" (the command revokes), "before" or "after" the grant is orphaned
	}{
		{"removed block, governed reconcile", orphanByRemovedBlock, ""},
		{"state rm, governed reconcile", orphanByStateRm, ""},
		{"removed block, governed_reconciliation", orphanByRemovedBlock, "before"},
		{"state rm, governed_reconciliation created afterwards", orphanByStateRm, "after"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newPGWorld(t)
			env := w.env("")
			// governed reconcile reads the real clock: the grant is issued nine
			// hours ago, for eight.
			env.clock = clocktest.NewManual(time.Now().UTC().Add(-9 * time.Hour).Truncate(time.Second))
			api := w.Principal("api")
			// The configuration goes on managing another grant, so that the
			// provider is configured in every plan.
			kept := appGrant(w.Principal("worker"), "SEC-2").with("ttl", `"2d"`).hcl("kept")
			if tt.singleton == "before" {
				kept += reconciliationBlock
			}
			h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+kept)
			id, _ := h.stateAttr("governed_grant.g", "id").(string)
			tt.orphan(h, env, kept)
			if !w.IsMember(api, w.Role) {
				t.Fatalf("%s lost %s when its grant was orphaned", api, w.Role)
			}

			env.clock.Advance(8*time.Hour + time.Minute)
			l := env.openLedger()
			if g, err := l.Grant(context.Background(), id); err != nil || g.Status != ledger.StatusActive {
				t.Fatalf("orphaned grant past its expiry: %+v, %v; want still recorded active", g, err)
			}
			if out, err := exec.Command(governed, "grants", "--ledger", env.ledger).CombinedOutput(); err != nil ||
				!strings.Contains(string(out), id) || !strings.Contains(string(out), "expired (not yet revoked)") {
				t.Fatalf("governed grants: %v\n%s", err, out)
			}

			switch tt.singleton {
			case "":
				out := h.mustRun("plan", "-input=false")
				for _, want := range []string{"No changes.", "Grants past their expiry not yet revoked", id, "governed_reconciliation", "governed reconcile"} {
					if !strings.Contains(out, want) {
						t.Fatalf("plan with an orphaned grant past its expiry lacks %q:\n%s", want, out)
					}
				}
				cmd := exec.Command(governed, "reconcile", "--ledger", env.ledger, "--postgres-target", "app="+w.URL())
				if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), id) ||
					!strings.Contains(string(out), "expired, removed from postgres.app") {
					t.Fatalf("governed reconcile: %v\n%s", err, out)
				}
			case "before":
				changes, out := h.plan()
				c := changes["governed_reconciliation.scheduled"]
				if actions(c) != "update" || !sameRevokes(c.Change.After["revokes"], map[string]any{id: "expired"}) {
					t.Fatalf("reconciliation planned %s %v, want an update revoking %s\n%s", actions(c), c.Change.After, id, out)
				}
				if !strings.Contains(out, "Grant revoked by reconciliation") || !strings.Contains(out, id) {
					t.Fatalf("plan does not warn about the grant it revokes:\n%s", out)
				}
				if w.IsMember(api, w.Role) != true {
					t.Fatal("the plan removed the membership")
				}
				h.mustRun("apply", "-input=false", "test.tfplan")
			case "after":
				h.write("main.tf", env.config(kept+reconciliationBlock))
				changes, out := h.plan()
				if c := changes["governed_reconciliation.scheduled"]; actions(c) != "create" {
					t.Fatalf("reconciliation planned %s, want create\n%s", actions(c), out)
				}
				if !strings.Contains(out, "Grant revoked by reconciliation") || !strings.Contains(out, id) {
					t.Fatalf("plan does not warn about the grant it revokes:\n%s", out)
				}
				h.mustRun("apply", "-input=false", "test.tfplan")
			}
			if tt.singleton != "" {
				if got := h.stateAttr("governed_reconciliation.scheduled", "revokes"); !sameRevokes(got, map[string]any{id: "expired"}) {
					t.Fatalf("revokes in state = %v", got)
				}
			}

			if w.IsMember(api, w.Role) {
				t.Fatalf("%s is still a member of %s after the reconciliation", api, w.Role)
			}
			g, err := l.Grant(context.Background(), id)
			if err != nil || g.Status != ledger.StatusExpired || g.RevocationReason != ledger.ReasonExpired || g.RevokePending {
				t.Fatalf("grant after the reconciliation: %+v, %v", g, err)
			}
			if got := eventTypes(t, env, id); got != "grant.requested grant.issued grant.expired grant.revoke_completed" {
				t.Fatalf("events of %s: %q", id, got)
			}
			out := h.mustRun("plan", "-input=false", "-detailed-exitcode")
			if !strings.Contains(out, "No changes.") || strings.Contains(out, "Grants past their expiry not yet revoked") {
				t.Fatalf("plan after the reconciliation:\n%s", out)
			}
			mustVerifyLedger(t, env)
		})
	}
}

// orphanByRemovedBlock replaces grant g's block by a removed block and
// applies, keeping the resources kept.
func orphanByRemovedBlock(h *cliHarness, env *testEnv, kept string) {
	h.write("main.tf", env.config(removedBlock("g")+kept))
	h.mustRun("apply", "-input=false", "-auto-approve")
}

// orphanByStateRm removes grant g from state and its block from the
// configuration, keeping the resources kept.
func orphanByStateRm(h *cliHarness, env *testEnv, kept string) {
	h.mustRun("state", "rm", "governed_grant.g")
	h.write("main.tf", env.config(kept))
}

// sameRevokes compares a revokes map from Terraform's JSON with want.
func sameRevokes(got any, want map[string]any) bool {
	m, ok := got.(map[string]any)
	if !ok || len(m) != len(want) {
		return false
	}
	for k, v := range want {
		if m[k] != v {
			return false
		}
	}
	return true
}

// A reconciliation leaves the grants of governed_grant resources it depends on
// to them, revokes what no configuration settles (a grant past its expiry, one
// under a withdrawn approval), names but leaves grants in targets the provider
// is not configured with, and applies its plan even where something else got
// there first. Without depends_on it may list a managed grant too, and the
// ledger still records that grant's expiry once.
func TestAccReconciliation_managedGrantsAndOthers(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	for _, dependsOn := range []bool{true, false} {
		t.Run(map[bool]string{true: "depends_on", false: "no depends_on"}[dependsOn], func(t *testing.T) {
			t.Parallel()
			env := newTestEnv(t)
			singleton := reconciliationBlock
			if dependsOn {
				singleton = `
resource "governed_reconciliation" "scheduled" {
  depends_on = [governed_grant.g]
}
`
			}
			h := applyInHarness(t, env, validGrant().hcl("g")+singleton)
			managed, _ := h.stateAttr("governed_grant.g", "id").(string)
			if got := h.stateAttr("governed_reconciliation.scheduled", "revokes"); !sameRevokes(got, map[string]any{}) {
				t.Fatalf("revokes after creating the reconciliation with nothing due = %v", got)
			}

			// Grants that no configuration here manages: recorded by another
			// workspace of the same ledger, say.
			ctx, l := context.Background(), env.openLedger()
			digest := env.keepPolicy(l)
			orphan := func(id, target, approval string) {
				t.Helper()
				g := ledger.Grant{ID: id, Principal: "svc-payments-batch", Entitlement: "payments-db-read", TicketID: "SEC-7",
					Approvers: []string{"alice@example.com"}, Target: target, ApprovalID: approval, ExpiresAt: at(time.Hour),
					PolicyDigest: digest}
				if approval != "" {
					g.ExpiresAt = at(48 * time.Hour)
					if _, err := l.UseApproval(ctx, approval, id, testNow); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := l.IssueGrant(ctx, g, testNow); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_gone", TicketID: "SEC-7", Entitlement: "payments-db-read",
				Principal: "svc-payments-batch", Approvers: []string{"alice@example.com"}, Justification: "batch",
				ExpiresAt: at(72 * time.Hour), Statement: "statement", Digest: policy.Digest("statement"), PolicyDigest: digest}, testNow); err != nil {
				t.Fatal(err)
			}
			orphan("grt_orphan", "ledger", "")
			orphan("grt_withdrawn", "ledger", "apr_gone")
			orphan("grt_elsewhere", "postgres.other", "")
			if _, err := l.WithdrawApproval(ctx, "apr_gone", testNow.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}

			env.clock.Advance(9 * time.Hour)
			changes, out := h.plan()
			if c := changes["governed_grant.g"]; actions(c) != "update" || c.Change.After["status"] != "expired" {
				t.Fatalf("managed grant planned %s %v\n%s", actions(c), c.Change.After, out)
			}
			c := changes["governed_reconciliation.scheduled"]
			want := map[string]any{"grt_orphan": "expired", "grt_withdrawn": "approval_withdrawn"}
			revokes, _ := c.Change.After["revokes"].(map[string]any)
			if !dependsOn && revokes[managed] != nil {
				want[managed] = "expired"
			}
			if actions(c) != "update" || !sameRevokes(revokes, want) {
				t.Fatalf("reconciliation planned %s revokes %v, want %v\n%s", actions(c), c.Change.After["revokes"], want, out)
			}
			if !strings.Contains(out, "Grants due in targets not configured") || !strings.Contains(out, "grt_elsewhere") {
				t.Fatalf("plan does not name the grant due in a target it lacks:\n%s", out)
			}

			// Another job records the orphan's expiry between the plan and its apply.
			if _, _, err := l.ExpireGrant(ctx, "grt_orphan", testNow.Add(9*time.Hour), nil); err != nil {
				t.Fatal(err)
			}
			h.mustRun("apply", "-input=false", "test.tfplan")
			if got := h.stateAttr("governed_reconciliation.scheduled", "revokes"); !sameRevokes(got, want) {
				t.Fatalf("revokes in state = %v, want the plan's %v", got, want)
			}
			for id, events := range map[string]string{
				managed:         "grant.issued grant.expired",
				"grt_orphan":    "grant.issued grant.expired",
				"grt_withdrawn": "grant.issued grant.revoked",
				"grt_elsewhere": "grant.issued",
			} {
				if got := eventTypes(t, env, id); got != events {
					t.Errorf("events of %s = %q, want %q", id, got, events)
				}
			}
			if g, err := l.Grant(ctx, "grt_withdrawn"); err != nil || g.RevocationReason != ledger.ReasonApprovalWithdrawn {
				t.Errorf("grant under the withdrawn approval: %+v, %v", g, err)
			}
			if got := h.stateAttr("governed_grant.g", "status"); got != "expired" {
				t.Errorf("managed grant's status in state = %v", got)
			}

			// What is left is the grant in the target this provider lacks: plans
			// name it and change nothing, with or without refresh.
			for _, args := range [][]string{{"-refresh=false"}, nil} {
				out := h.mustRun(append([]string{"plan", "-input=false", "-detailed-exitcode"}, args...)...)
				if !strings.Contains(out, "No changes.") || !strings.Contains(out, "grt_elsewhere") {
					t.Fatalf("plan %v after the reconciliation:\n%s", args, out)
				}
			}
			mustVerifyLedger(t, env)
		})
	}
}
