package provider

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// These tests take access away from real PostgreSQL memberships when what
// removing access could have waited on is missing or broken: a healthy
// ledger, the role or member the grant names, the provider's own privileges.

const gatedOnG = `
resource "terraform_data" "gated" {
  count = governed_grant.g.active ? 1 : 0
}
`

// ledgerReport verifies env's ledger.
func ledgerReport(t *testing.T, env *testEnv) ledger.Report {
	t.Helper()
	r, err := env.openLedger().Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A ledger that fails verification, or whose head no longer matches its log,
// never stops an expiry: the REVOKE runs, the expiry is recorded, and the
// damage stays visible to verification where it was found. New grants stay
// refused.
func TestAccPostgres_damagedLedgerNeverStopsExpiry(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	cases := []struct {
		name   string
		tamper []string
		// discontinuity: the apply had to record one to go on.
		discontinuity bool
	}{
		{"head moved", []string{`UPDATE ledger_head SET seq = seq + 1`}, true},
		{"head missing", []string{`DELETE FROM ledger_head`}, true},
		{"event altered", []string{`DROP TRIGGER events_no_update`, `UPDATE events SET at = '2026-01-01T00:00:00Z' WHERE seq = 1`}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newPGWorld(t)
			env := w.env("")
			api := w.Principal("api")
			h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+gatedOnG)
			id, _ := h.stateAttr("governed_grant.g", "id").(string)
			execSQL(t, env.ledger, tc.tamper...)
			damage := ledgerReport(t, env)
			if damage.OK {
				t.Fatal("the tampering went unnoticed")
			}

			env.clock.Advance(9 * time.Hour)
			out := h.mustRun("apply", "-input=false", "-auto-approve")
			if w.IsMember(api, w.Role) {
				t.Fatalf("the membership outlived the expiry on a damaged ledger:\n%s", out)
			}
			if strings.Contains(out, "Ledger damaged") != tc.discontinuity {
				t.Fatalf("apply output says %q %v times, want %v:\n%s", "Ledger damaged", !tc.discontinuity, tc.discontinuity, out)
			}
			if st := h.stateAttr("governed_grant.g", "status"); st != ledger.StatusExpired || h.stateAttr("governed_grant.g", "revocation_pending") != false {
				t.Fatalf("state after the expiry: status %v, revocation_pending %v", st, h.stateAttr("governed_grant.g", "revocation_pending"))
			}
			if list := h.mustRun("state", "list"); strings.Contains(list, "terraform_data.gated") {
				t.Fatalf("the gated resource survived the expiry:\n%s", list)
			}
			g, err := env.openLedger().Grant(context.Background(), id)
			if err != nil || g.Status != ledger.StatusExpired || g.RevokePending {
				t.Fatalf("ledger after the expiry: %+v, %v", g, err)
			}
			if after := ledgerReport(t, env); after.OK || after.FirstBad != damage.FirstBad || !strings.HasPrefix(after.Problem, damage.Problem) {
				t.Fatalf("verification after the expiry: %+v; want the damage still reported as %+v", after, damage)
			}

			// Nothing new is granted on it.
			h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")+appGrant(api, "SEC-2").hcl("again")))
			if out, err := h.run("plan", "-input=false"); err == nil || !strings.Contains(out, "Ledger does not verify") {
				t.Fatalf("a new grant on a damaged ledger: %v\n%s", err, out)
			}
		})
	}
}

// A ledger that cannot be written never keeps access in place: the apply
// removes the membership, fails saying the ledger did not record it, and the
// first apply once the ledger can be written records the expiry.
func TestAccPostgres_unwritableLedgerNeverStopsExpiry(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+gatedOnG)
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	execSQL(t, env.ledger, `CREATE TRIGGER events_refused BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END`)

	env.clock.Advance(9 * time.Hour)
	out, err := h.run("apply", "-input=false", "-auto-approve")
	if err == nil || !strings.Contains(out, "Revocation not recorded") || !strings.Contains(out, "disk quota exceeded") ||
		!strings.Contains(flat(out), "removed from postgres.app all the same") {
		t.Fatalf("expiry on an unwritable ledger: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("an unwritable ledger kept the membership in place")
	}
	if g, err := env.openLedger().Grant(context.Background(), id); err != nil || g.Status != ledger.StatusActive {
		t.Fatalf("the ledger changed although it refused writes: %+v, %v", g, err)
	}

	execSQL(t, env.ledger, `DROP TRIGGER events_refused`)
	h.mustRun("apply", "-input=false", "-auto-approve")
	g, err := env.openLedger().Grant(context.Background(), id)
	if err != nil || g.Status != ledger.StatusExpired || g.RevokePending {
		t.Fatalf("ledger once it can be written: %+v, %v", g, err)
	}
	if h.stateAttr("governed_grant.g", "status") != ledger.StatusExpired {
		t.Fatalf("state once the ledger can be written: %v", h.stateAttr("governed_grant.g", "status"))
	}
	mustVerifyLedger(t, env)
	if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after the expiry is recorded is not empty:\n%s", out)
	}
}

// `governed revoke` on a ledger whose head was moved runs the REVOKE,
// records the revocation after a discontinuity and exits 1 with a warning;
// verification still reports the damage where it was.
func TestAccPostgres_governedRevokeOnDamagedLedger(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	execSQL(t, env.ledger, `UPDATE ledger_head SET seq = seq + 1`)
	damage := ledgerReport(t, env)

	cmd := exec.Command(governed, "revoke", "--grant", id, "--reason", "SEC-3000: incident", "--ledger", env.ledger,
		"--postgres-target", "app="+w.URL())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "grant "+id+" revoked at ") ||
		!strings.Contains(string(out), "WARNING: The ledger's recorded head was event") {
		t.Fatalf("governed revoke on a damaged ledger: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("governed revoke left the membership in place on a damaged ledger")
	}
	g, err := env.openLedger().Grant(context.Background(), id)
	if err != nil || g.Status != ledger.StatusRevoked || g.RevocationNote != "SEC-3000: incident" || g.RevokePending {
		t.Fatalf("ledger after governed revoke: %+v, %v", g, err)
	}
	verify, err := exec.Command(governed, "verify", "--ledger", env.ledger).CombinedOutput()
	want := fmt.Sprintf("first bad sequence number %d: %s", damage.FirstBad, damage.Problem)
	if time.Since(testNow) > ledger.MaxRunLength {
		// The harness decides at testNow; a build of governed, where the
		// bounds on decision instants hold, reports that first.
		want = "its decision instant was backdated"
	}
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(verify), want) {
		t.Fatalf("governed verify after the revocation: %v\n%s", err, verify)
	}
}

// A membership cannot outlive its role or its member: when either was
// dropped, the next apply records the grant as revoked with nothing pending,
// plans settle, and a destroy or `governed revoke` completes.
func TestAccPostgres_droppedRoleCountsAsRevoked(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	for _, dropped := range []string{"member", "role"} {
		for _, how := range []string{"apply", "destroy", "governed revoke"} {
			t.Run(dropped+"/"+how, func(t *testing.T) {
				t.Parallel()
				w := newPGWorld(t)
				env := w.env("")
				api := w.Principal("api")
				h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
				id, _ := h.stateAttr("governed_grant.g", "id").(string)
				name := api
				if dropped == "role" {
					name = w.Role
				}
				w.Exec("DROP ROLE " + pgtest.QuoteIdent(name))

				switch how {
				case "apply":
					out := h.mustRun("apply", "-input=false", "-auto-approve")
					if strings.Contains(out, "Revocation pending") || h.stateAttr("governed_grant.g", "revocation_pending") != false ||
						h.stateAttr("governed_grant.g", "status") != ledger.StatusRevoked {
						t.Fatalf("apply after the %s was dropped:\n%s", dropped, out)
					}
					if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") || strings.Contains(out, "Revocation pending") {
						t.Fatalf("plan after the revocation does not settle:\n%s", out)
					}
				case "destroy":
					h.mustRun("destroy", "-input=false", "-auto-approve")
					if list, _ := h.run("state", "list"); strings.Contains(list, "governed_grant.g") {
						t.Fatalf("destroy kept the grant in state:\n%s", list)
					}
				case "governed revoke":
					out, err := exec.Command(governed, "revoke", "--grant", id, "--reason", "SEC-3001: cleanup", "--ledger", env.ledger,
						"--postgres-target", "app="+w.URL()).CombinedOutput()
					if err != nil || strings.Contains(string(out), "still in place") || !strings.Contains(string(out), "nothing was left to revoke") {
						t.Fatalf("governed revoke after the %s was dropped: %v\n%s", dropped, err, out)
					}
				}
				g, err := env.openLedger().Grant(context.Background(), id)
				if err != nil || g.Status != ledger.StatusRevoked || g.RevokePending || !strings.Contains(g.RevokeNote, "does not exist") {
					t.Fatalf("ledger after the %s was dropped: %+v, %v", dropped, g, err)
				}
			})
		}
	}
}

// The provider's own role must be able to grant the role: without the admin
// option the plan is refused with the rule and the missing GRANT, and a GRANT
// the target refuses at apply is recorded as failed, with no revocation
// pending for access that was never granted.
func TestAccPostgres_providerPrivilege(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	var lose atomic.Bool
	env.options = []Option{WithFaultHook(func(point string) error {
		if point == lifecycle.FaultAfterRequest && lose.Load() {
			// Between the apply's checks and its GRANT.
			w.Exec(fmt.Sprintf("REVOKE ADMIN OPTION FOR %s FROM %s", w.Role, w.Governor))
		}
		return nil
	})}
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")

	w.Exec(fmt.Sprintf("REVOKE ADMIN OPTION FOR %s FROM %s", w.Role, w.Governor))
	out, err := h.run("plan", "-input=false")
	missing := fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", pgtest.QuoteIdent(w.Role), pgtest.QuoteIdent(w.Governor))
	if err == nil || !strings.Contains(out, "target.provider_privilege") || !strings.Contains(flat(out), missing) {
		t.Fatalf("plan without the admin option: %v; want target.provider_privilege naming %s\n%s", err, missing, out)
	}

	w.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", w.Role, w.Governor))
	lose.Store(true)
	out, err = h.run("apply", "-input=false", "-auto-approve")
	if err == nil || !strings.Contains(out, "SQLSTATE 42501") || !strings.Contains(flat(out), "nothing is in force") {
		t.Fatalf("apply whose GRANT is refused: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("a refused GRANT left a membership")
	}
	grants, err := env.openLedger().Grants(context.Background(), ledger.GrantFilter{Principal: api})
	if err != nil || len(grants) != 1 || grants[0].Status != ledger.StatusRevoked ||
		grants[0].RevocationReason != ledger.ReasonGrantFailed || grants[0].RevokePending {
		t.Fatalf("ledger after the refused GRANT: %+v, %v; want one grant revoked (grant_failed) with nothing pending", grants, err)
	}
	if got := eventTypes(t, env, grants[0].ID); got != "grant.requested grant.revoked" {
		t.Fatalf("events for %s: %q", grants[0].ID, got)
	}

	// Once the privilege is back, the grant is issued afresh.
	lose.Store(false)
	w.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", w.Role, w.Governor))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if !w.IsMember(api, w.Role) || h.stateAttr("governed_grant.g", "status") != ledger.StatusActive {
		t.Fatal("the grant was not issued once the provider could grant the role")
	}
}

// A grant revoked with `governed revoke` reads as revoked out of band, with
// its reason and note, with or without refresh; the drift warning is kept for
// state edited by hand and never shows on import.
func TestAccPostgres_outOfBandRevocationReadsAsSuch(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	for _, refresh := range []bool{true, false} {
		w := newPGWorld(t)
		env := w.env("")
		api := w.Principal("api")
		h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+gatedOnG)
		id, _ := h.stateAttr("governed_grant.g", "id").(string)
		if out, err := exec.Command(governed, "revoke", "--grant", id, "--reason", "SEC-3000: incident", "--ledger", env.ledger,
			"--postgres-target", "app="+w.URL()).CombinedOutput(); err != nil {
			t.Fatalf("governed revoke: %v\n%s", err, out)
		}

		args := []string{}
		if !refresh {
			args = append(args, "-refresh=false")
		}
		changes, out := h.plan(args...)
		for _, want := range []string{"Grant revoked outside Terraform", id, "out_of_band", `"SEC-3000: incident"`} {
			if !strings.Contains(flat(out), want) {
				t.Fatalf("refresh=%v: plan does not say %q:\n%s", refresh, want, out)
			}
		}
		if strings.Contains(out, "State differs") {
			t.Fatalf("refresh=%v: plan calls an out-of-band revocation a hand edit of state:\n%s", refresh, out)
		}
		c := changes["governed_grant.g"]
		if c.Change.After["status"] != ledger.StatusRevoked || c.Change.After["revocation_reason"] != ledger.ReasonOutOfBand ||
			actions(changes["terraform_data.gated[0]"]) != "delete" {
			t.Fatalf("refresh=%v: planned %s %v, gated %s\n%s", refresh, actions(c), c.Change.After, actions(changes["terraform_data.gated[0]"]), out)
		}
		h.mustRun(append([]string{"apply", "-input=false"}, append(args, "test.tfplan")...)...)
		if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") || strings.Contains(out, "outside Terraform") {
			t.Fatalf("refresh=%v: plan after the apply:\n%s", refresh, out)
		}

		// Import reads the grant as the ledger holds it, with no drift warning.
		h.mustRun("state", "rm", "governed_grant.g")
		if out := h.mustRun("import", "-input=false", "governed_grant.g", id); strings.Contains(out, "State differs") {
			t.Fatalf("import warns about drift:\n%s", out)
		}
		// A state edited by hand still gets the drift warning.
		h.editState("governed_grant.g", func(a map[string]any) { a["expires_at"] = at(30 * 24 * time.Hour) })
		if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "State differs from the ledger") {
			t.Fatalf("a state edited by hand gets no drift warning:\n%s", out)
		}
	}
}

// governed_unmanaged_memberships does not report a grant's membership as
// ungoverned in the run that expires it, and its example's postcondition
// fails a run when there is access outside governance.
func TestAccPostgres_unmanagedMembershipsDuringExpiry(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api, worker := w.Principal("api"), w.Principal("worker")
	config := appGrant(api, "SEC-1").hcl("g") + readExample(t, "data-sources/governed_unmanaged_memberships/data-source.tf")
	h := applyInHarness(t, env, config)

	env.clock.Advance(9 * time.Hour)
	changes, out := h.plan()
	if c := changes["governed_grant.g"]; c.Change.After["status"] != ledger.StatusExpired {
		t.Fatalf("expiry plan: %s %v\n%s", actions(c), c.Change.After, out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	if w.IsMember(api, w.Role) {
		t.Fatal("the expiry apply did not remove the membership")
	}

	w.Grant(w.Role, worker) // outside governance
	out, err := h.run("plan", "-input=false")
	if err == nil || !strings.Contains(flat(out), "Access outside governance: "+worker+" holds "+w.Role+" in postgres.app") {
		t.Fatalf("plan with a membership outside governance must fail: %v\n%s", err, out)
	}
}
