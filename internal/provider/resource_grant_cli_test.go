package provider

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// These tests drive the Terraform CLI step by step, for the flows that need
// -refresh=false, a state file edited by hand, or a revocation made between
// two commands.

const expiringGrants = `
resource "governed_grant" "g" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-201"
  approvers   = ["bob@example.com"]
  ttl         = "8h"
}

resource "governed_grant" "ignored" {
  principal   = "svc-payments-worker"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-202"
  approvers   = ["carol@example.com"]
  ttl         = "8h"

  lifecycle {
    ignore_changes = all
  }
}

resource "terraform_data" "gated" {
  count = governed_grant.g.active ? 1 : 0
  input = governed_grant.g.id
}
`

// skipUnlessAcc skips a CLI-driven test unless acceptance tests are enabled,
// exactly as resource.Test does.
func skipUnlessAcc(t *testing.T) {
	t.Helper()
	if os.Getenv(resource.EnvTfAcc) == "" {
		t.Skipf("acceptance test: set %s=1 to run it against the Terraform CLI", resource.EnvTfAcc)
	}
}

func TestAccGrant_expiryWithoutRefresh(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, expiringGrants)

	env.clock.Advance(8*time.Hour + time.Minute)
	changes, out := h.plan("-refresh=false")
	for _, addr := range []string{"governed_grant.g", "governed_grant.ignored"} {
		c := changes[addr]
		if actions(c) != "update" {
			t.Fatalf("%s: planned %q, want an in-place update\n%s", addr, actions(c), out)
		}
		if c.Change.After["status"] != "expired" || c.Change.After["active"] != false {
			t.Fatalf("%s: planned status %v active %v, want expired/false", addr, c.Change.After["status"], c.Change.After["active"])
		}
	}
	if a := actions(changes["terraform_data.gated[0]"]); a != "delete" {
		t.Fatalf("gated resource: planned %q, want delete\n%s", a, out)
	}
	for _, want := range []string{"Grant expired", "SEC-201", at(8 * time.Hour)} {
		if !strings.Contains(out, want) {
			t.Fatalf("plan output lacks %q:\n%s", want, out)
		}
	}

	h.mustRun("apply", "-input=false", "-refresh=false", "test.tfplan")
	if got := h.stateAttr("governed_grant.g", "revocation_reason"); got != "expired" {
		t.Fatalf("revocation_reason in state = %v, want expired", got)
	}
	l := env.openLedger()
	grants, err := l.Grants(context.Background(), ledger.GrantFilter{Status: ledger.StatusExpired})
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 2 {
		t.Fatalf("ledger holds %d expired grants, want 2", len(grants))
	}

	out = h.mustRun("plan", "-input=false", "-refresh=false", "-detailed-exitcode")
	if !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after the expiry apply is not empty:\n%s", out)
	}
}

// A state file edited by hand to push an expiry out does not extend the grant:
// the ledger's value wins with or without refresh.
func TestAccGrant_stateEditedByHand(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env := newTestEnv(t)
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(`
resource "governed_grant" "fixed" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-301"
  approvers   = ["alice@example.com"]
  expires_at  = "`+at(2*time.Hour)+`"
}

resource "governed_grant" "ttl" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-302"
  approvers   = ["alice@example.com"]
  ttl         = "2h"
}
`))
	h.mustRun("init", "-input=false")
	h.mustRun("apply", "-input=false", "-auto-approve")

	pushOut := func() {
		for _, addr := range []string{"governed_grant.fixed", "governed_grant.ttl"} {
			h.editState(addr, func(a map[string]any) { a["expires_at"] = at(30 * 24 * time.Hour) })
		}
	}

	// With refresh, the ledger's values replace the edited ones before planning,
	// and the plan says so.
	pushOut()
	out := h.mustRun("plan", "-input=false")
	if !strings.Contains(out, "No changes.") || !strings.Contains(out, "State differs from the ledger") {
		t.Fatalf("refreshed plan should restore the ledger's expiry, say so, and change nothing:\n%s", out)
	}

	// Without refresh, the plan itself restores them, and says so.
	changes, out := h.plan("-refresh=false")
	for _, addr := range []string{"governed_grant.fixed", "governed_grant.ttl"} {
		c := changes[addr]
		if actions(c) != "update" || c.Change.After["expires_at"] != at(2*time.Hour) {
			t.Fatalf("%s: planned %q with expires_at %v, want an update back to %s\n%s", addr, actions(c), c.Change.After["expires_at"], at(2*time.Hour), out)
		}
	}
	if !strings.Contains(out, "State differs from the ledger") {
		t.Fatalf("plan does not say that the ledger wins:\n%s", out)
	}

	// Past the real expiry the grants expire, whatever the edited state says.
	env.clock.Advance(3 * time.Hour)
	changes, out = h.plan("-refresh=false")
	for _, addr := range []string{"governed_grant.fixed", "governed_grant.ttl"} {
		if c := changes[addr]; actions(c) != "update" || c.Change.After["status"] != "expired" {
			t.Fatalf("%s: planned %q status %v, want an update to expired\n%s", addr, actions(c), c.Change.After["status"], out)
		}
	}
	h.mustRun("apply", "-input=false", "-refresh=false", "test.tfplan")
	if got := h.stateAttr("governed_grant.ttl", "expires_at"); got != at(2*time.Hour) {
		t.Fatalf("expires_at in state = %v after apply, want the ledger's %s", got, at(2*time.Hour))
	}
}

// A grant revoked with `governed revoke` shows as revoked out of band and is
// never issued again, with or without refresh.
func TestAccGrant_revokedOutOfBand(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	for _, refresh := range []bool{true, false} {
		env, h := appliedHarness(t, expiringGrants)
		id, _ := h.stateAttr("governed_grant.g", "id").(string)

		revoke := exec.Command(governed, "revoke", "--grant", id, "--reason", "incident INC-42", "--ledger", env.ledger)
		if out, err := revoke.CombinedOutput(); err != nil {
			t.Fatalf("governed revoke: %v\n%s", err, out)
		}

		args := []string{}
		if !refresh {
			args = append(args, "-refresh=false")
		}
		changes, out := h.plan(args...)
		if a := actions(changes["terraform_data.gated[0]"]); a != "delete" {
			t.Fatalf("refresh=%v: gated resource planned %q, want delete\n%s", refresh, a, out)
		}
		if a := actions(changes["governed_grant.g"]); strings.Contains(a, "create") {
			t.Fatalf("refresh=%v: revoked grant planned %q; it must never be issued again\n%s", refresh, a, out)
		}
		h.mustRun(append([]string{"apply", "-input=false"}, append(args, "test.tfplan")...)...)
		if got := h.stateAttr("governed_grant.g", "status"); got != "revoked" {
			t.Fatalf("refresh=%v: status in state = %v, want revoked", refresh, got)
		}
		if got := h.stateAttr("governed_grant.g", "revocation_reason"); got != ledger.ReasonOutOfBand {
			t.Fatalf("refresh=%v: revocation_reason in state = %v, want out_of_band", refresh, got)
		}
		out = h.mustRun("plan", "-input=false")
		if !strings.Contains(out, "No changes.") {
			t.Fatalf("refresh=%v: plan after the revocation is not empty:\n%s", refresh, out)
		}
	}
}

// buildCommand builds a main package of this module into a temporary directory.
func buildCommand(t *testing.T, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, pkg)
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// A grant whose ledger is lost is an error, not a grant to issue afresh: that
// would re-issue access that had expired.
func TestAccGrant_ledgerLost(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, expiringGrants)
	env.clock.Advance(9 * time.Hour)
	// As when a pipeline does not keep its ledger between runs: the next run
	// starts on a new, empty one.
	env.ledger = filepath.Join(t.TempDir(), "governed.db")
	h.write("main.tf", env.config(expiringGrants))
	for _, args := range [][]string{{"plan", "-input=false"}, {"plan", "-input=false", "-refresh=false"}} {
		out, err := h.run(args...)
		if err == nil || !strings.Contains(out, "Grant not in the ledger") {
			t.Fatalf("%v on a lost ledger: err=%v, want the error 'Grant not in the ledger'\n%s", args, err, out)
		}
		if strings.Contains(out, "will be created") {
			t.Fatalf("%v planned to re-create a grant on a lost ledger:\n%s", args, out)
		}
	}
}

// Destroying a grant after its expiry, before any apply recorded the expiry,
// still records that it expired.
func TestAccGrant_destroyAfterExpiry(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, expiringGrants)
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	env.clock.Advance(9 * time.Hour)
	h.mustRun("destroy", "-input=false", "-auto-approve")

	g, err := env.openLedger().Grant(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if g.Status != ledger.StatusExpired || g.RevocationReason != ledger.ReasonExpired || g.RetiredAt.IsZero() {
		t.Fatalf("destroyed after expiry: status %s, reason %s, retired %v; want expired, expired, retired", g.Status, g.RevocationReason, g.RetiredAt)
	}
}

// A state written before revocation_pending existed holds null for it: the
// plan is empty, with no warning, and a refresh fills it in quietly.
func TestAccGrant_stateWithoutRevocationPending(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	_, h := appliedHarness(t, validGrant().hcl("g"))
	h.editState("governed_grant.g", func(a map[string]any) { delete(a, "revocation_pending") })
	for _, args := range [][]string{{"-refresh=false"}, {}} {
		out := h.mustRun(append([]string{"plan", "-input=false"}, args...)...)
		if !strings.Contains(out, "No changes.") || strings.Contains(out, "State differs") {
			t.Fatalf("plan %v over a state without revocation_pending:\n%s", args, out)
		}
	}
}
