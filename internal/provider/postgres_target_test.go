package provider

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/lifecycle"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// These tests grant real role memberships in a PostgreSQL server the tests
// started, and drive the Terraform CLI step by step.

// A grant is a membership: GRANT at create, REVOKE at expiry, with the
// intent recorded before the GRANT.
func TestAccPostgres_grantAndExpiry(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+`
resource "terraform_data" "gated" {
  count = governed_grant.g.active ? 1 : 0
}
`)
	if !w.IsMember(api, w.Role) {
		t.Fatalf("after apply, %s is not a member of %s", api, w.Role)
	}
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	if got := eventTypes(t, env, id); got != "grant.requested grant.issued" {
		t.Fatalf("events for %s: %q, want the request recorded before the issue", id, got)
	}
	if out := h.mustRun("plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes.") {
		t.Fatalf("second plan is not empty:\n%s", out)
	}

	env.clock.Advance(8*time.Hour + time.Minute)
	changes, out := h.plan()
	c := changes["governed_grant.g"]
	if actions(c) != "update" || c.Change.After["status"] != "expired" || c.Change.After["active"] != false {
		t.Fatalf("expiry plan: %s %v\n%s", actions(c), c.Change.After, out)
	}
	h.mustRun("apply", "-input=false", "test.tfplan")
	if w.IsMember(api, w.Role) {
		t.Fatalf("after the expiry apply, %s is still a member of %s", api, w.Role)
	}
	if got := h.stateAttr("governed_grant.g", "revocation_pending"); got != false {
		t.Fatalf("revocation_pending = %v after a revocation that succeeded", got)
	}
	if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after expiry is not empty:\n%s", out)
	}
}

// Destroying a grant revokes the membership and retires the grant.
func TestAccPostgres_destroyRevokes(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	h.mustRun("destroy", "-input=false", "-auto-approve")
	if w.IsMember(api, w.Role) {
		t.Fatalf("after destroy, %s is still a member of %s", api, w.Role)
	}
	g, err := env.openLedger().Grant(context.Background(), id)
	if err != nil || g.RetiredAt.IsZero() || g.RevocationReason != ledger.ReasonDestroyed {
		t.Fatalf("ledger after destroy: %+v, %v", g, err)
	}
}

// Two grants of one membership, and a renewal made with create_before_destroy,
// never take each other's access away: the membership goes only with the last
// grant that covers it.
func TestAccPostgres_overlappingGrants(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	// Grant "one" is renewable: replaced, its successor is created first.
	one := func(ticket string) string {
		return appGrant(api, ticket).with("create_before_destroy", "true").hcl("one")
	}
	two := appGrant(api, "SEC-2").hcl("two")
	h := applyInHarness(t, env, one("SEC-1")+two)

	// A renewal: a new ticket replaces grant "one", created before the old is destroyed.
	h.write("main.tf", env.config(one("SEC-3")+two))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if !w.IsMember(api, w.Role) {
		t.Fatal("renewing one grant revoked the membership that the renewal and another grant cover")
	}
	// Drop grant "two": "one" still covers the membership.
	h.write("main.tf", env.config(one("SEC-3")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if !w.IsMember(api, w.Role) {
		t.Fatal("destroying one of two grants revoked the membership the other still covers")
	}
	// Drop the last one.
	h.write("main.tf", env.config(""))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if w.IsMember(api, w.Role) {
		t.Fatal("the membership outlived the last grant that covered it")
	}
}

// A membership revoked in the database outside Terraform shows as revoked
// (out_of_band) and is never granted again, with or without refresh.
func TestAccPostgres_revokedInDatabase(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	for _, refresh := range []bool{true, false} {
		w := newPGWorld(t)
		env := w.env("")
		api := w.Principal("api")
		h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
		id, _ := h.stateAttr("governed_grant.g", "id").(string)

		w.Revoke(w.Role, api)
		args := []string{}
		if !refresh {
			args = append(args, "-refresh=false")
		}
		changes, out := h.plan(args...)
		c := changes["governed_grant.g"]
		if actions(c) != "update" || c.Change.After["status"] != "revoked" || c.Change.After["revocation_reason"] != "out_of_band" {
			t.Fatalf("refresh=%v: planned %s %v, want an update to revoked/out_of_band\n%s", refresh, actions(c), c.Change.After, out)
		}
		if !strings.Contains(out, "Access removed outside Terraform") {
			t.Fatalf("refresh=%v: plan has no warning about the removed access:\n%s", refresh, out)
		}
		h.mustRun(append([]string{"apply", "-input=false"}, append(args, "test.tfplan")...)...)
		g, err := env.openLedger().Grant(context.Background(), id)
		if err != nil || g.Status != ledger.StatusRevoked || g.RevocationReason != ledger.ReasonOutOfBand {
			t.Fatalf("refresh=%v: ledger after apply: %+v, %v", refresh, g, err)
		}
		if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
			t.Fatalf("refresh=%v: plan after recording the revocation is not empty:\n%s", refresh, out)
		}
		if w.IsMember(api, w.Role) {
			t.Fatalf("refresh=%v: the membership was granted again", refresh)
		}
	}
}

// `governed revoke` with the target revokes the membership at once; without
// it, the revocation is recorded as pending and the next apply carries it out.
func TestAccPostgres_governedRevoke(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	governed := buildCommand(t, "./cmd/governed", "governed")
	for _, withTarget := range []bool{true, false} {
		w := newPGWorld(t)
		env := w.env("")
		api := w.Principal("api")
		h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
		id, _ := h.stateAttr("governed_grant.g", "id").(string)

		args := []string{"revoke", "--grant", id, "--reason", "incident INC-9", "--ledger", env.ledger}
		if withTarget {
			args = append(args, "--postgres-target", "app="+w.URL())
		}
		out, err := exec.Command(governed, args...).CombinedOutput()
		if withTarget && err != nil {
			t.Fatalf("governed revoke: %v\n%s", err, out)
		}
		if !withTarget && (err == nil || !strings.Contains(string(out), "still in place")) {
			t.Fatalf("governed revoke without the target must warn and exit non-zero: %v\n%s", err, out)
		}
		if member := w.IsMember(api, w.Role); member != !withTarget {
			t.Fatalf("withTarget=%v: member after governed revoke = %v", withTarget, member)
		}

		// Refresh reads the revocation from the ledger; a pending one is an
		// update that carries it out.
		changes, planOut := h.plan()
		c := changes["governed_grant.g"]
		wantAction := map[bool]string{true: "no-op", false: "update"}[withTarget]
		if actions(c) != wantAction || c.Change.After["status"] != "revoked" || c.Change.After["revocation_reason"] != "out_of_band" {
			t.Fatalf("withTarget=%v: planned %s %v, want %s to revoked/out_of_band\n%s", withTarget, actions(c), c.Change.After, wantAction, planOut)
		}
		if !withTarget && !strings.Contains(planOut, "Revocation pending") {
			t.Fatalf("plan does not warn about the pending revocation:\n%s", planOut)
		}
		h.mustRun("apply", "-input=false", "test.tfplan")
		if w.IsMember(api, w.Role) {
			t.Fatalf("withTarget=%v: still a member after the apply", withTarget)
		}
		if got := h.stateAttr("governed_grant.g", "revocation_pending"); got != false {
			t.Fatalf("withTarget=%v: revocation_pending = %v after the apply", withTarget, got)
		}
		if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
			t.Fatalf("withTarget=%v: plan after the revocation is not empty:\n%s", withTarget, out)
		}
	}
}

// Names are quoted identifiers, never SQL: a principal that carries SQL is
// refused at plan when no such role exists, and granted as the one odd role
// it names when it does, with nothing else run.
func TestAccPostgres_identifiersAreNeverSQL(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	victim := w.Tag + "_victim"
	w.Exec("CREATE ROLE " + victim)
	env := w.env("")
	evil := w.Principal(`x"; DROP ROLE ` + victim + `;--`)

	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(appGrant(evil, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	out, err := h.run("plan", "-input=false")
	if err == nil || !strings.Contains(out, "target.principal_unknown") {
		t.Fatalf("plan for a principal that is not a role: %v\n%s", err, out)
	}

	// A name PostgreSQL would cut at 63 bytes could name another role.
	long := w.Principal(strings.Repeat("x", 70))
	h.write("main.tf", env.config(appGrant(long, "SEC-1").hcl("g")))
	if out, err := h.run("plan", "-input=false"); err == nil || !strings.Contains(out, "target.name") {
		t.Fatalf("plan for a principal longer than PostgreSQL keeps: %v\n%s", err, out)
	}

	w.Exec("CREATE ROLE " + pgtest.QuoteIdent(evil))
	h.write("main.tf", env.config(appGrant(evil, "SEC-1").hcl("g")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if !w.IsMember(evil, w.Role) {
		t.Fatalf("the role named %q did not receive %s", evil, w.Role)
	}
	if !w.RoleExists(victim) {
		t.Fatal("a principal's name was run as SQL: the victim role was dropped")
	}
	h.mustRun("destroy", "-input=false", "-auto-approve")
	if w.IsMember(evil, w.Role) || !w.RoleExists(victim) {
		t.Fatal("destroy did not revoke exactly the odd role's membership")
	}
}

// Roles that hand over administrative powers, and the admin option, are
// refused at plan with the rule's name.
func TestAccPostgres_privilegedRolesRefused(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	api := w.Principal("api")
	var extra strings.Builder
	cases := map[string]string{} // entitlement -> rule
	entitle := func(entitlement, role, rule string) {
		cases[entitlement] = rule
		extra.WriteString(targetEntitlement(entitlement, role))
	}
	for _, attr := range []string{"SUPERUSER", "CREATEROLE", "CREATEDB", "REPLICATION", "BYPASSRLS"} {
		role := w.Tag + "_" + strings.ToLower(attr)
		w.Exec("CREATE ROLE " + role + " NOLOGIN " + attr)
		entitle("priv-"+strings.ToLower(attr), role, "target.role_privileged")
	}
	// A plain role that belongs to a CREATEROLE role passes the power on.
	inherits := w.Tag + "_inherits"
	w.Exec("CREATE ROLE "+inherits+" NOLOGIN", "GRANT "+w.Tag+"_createrole TO "+inherits)
	entitle("inherits", inherits, "target.role_privileged")
	// A role that belongs to a built-in role reaching the server's programs.
	builtin := w.Tag + "_builtin"
	w.Exec("CREATE ROLE "+builtin+" NOLOGIN", "GRANT pg_execute_server_program TO "+builtin)
	entitle("builtin", builtin, "target.role_privileged")
	entitle("admin", w.Role+" WITH ADMIN OPTION", "target.admin_option")
	entitle("ghost", w.Tag+"_ghost", "target.role_unknown")

	env := w.env(extra.String())
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(""))
	h.mustRun("init", "-input=false")
	for entitlement, rule := range cases {
		h.write("main.tf", env.config(appGrant(api, "SEC-1").with("entitlement", q(entitlement)).hcl("g")))
		out, err := h.run("plan", "-input=false")
		if err == nil || !strings.Contains(out, rule) {
			t.Errorf("%s: plan did not fail with %s: %v\n%s", entitlement, rule, err, out)
		}
	}

	// A principal that already administers the role outside governed.
	w.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", w.Role, pgtest.QuoteIdent(api)))
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	out, err := h.run("plan", "-input=false")
	if err == nil || !strings.Contains(out, "target.admin_option") {
		t.Fatalf("a principal holding the admin option: %v\n%s", err, out)
	}
}

// Unless terminate_sessions_on_revoke is false, the principal's open
// sessions end when its access is revoked. Turned off, an open session that
// switched to the role survives the REVOKE and goes on acting as the role.
func TestAccPostgres_terminateSessions(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	for _, setting := range []string{"unset", "true", "false"} {
		w := newPGWorld(t)
		env := w.env("")
		env.providerExtra = fmt.Sprintf("  postgres_targets = { app = { url = %q } }\n", w.URL())
		if setting != "unset" {
			env.providerExtra = w.targets(setting == "true")
		}
		terminate := setting != "false"
		api := w.Principal("api")
		h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))

		ctx := context.Background()
		session, err := pgx.Connect(ctx, w.URLAs(api))
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close(ctx)
		if _, err := session.Exec(ctx, "SET ROLE "+pgtest.QuoteIdent(w.Role)); err != nil {
			t.Fatal(err)
		}

		env.clock.Advance(9 * time.Hour)
		h.mustRun("apply", "-input=false", "-auto-approve")
		if w.IsMember(api, w.Role) {
			t.Fatalf("%s: the membership survived the expiry", setting)
		}
		var user string
		err = session.QueryRow(ctx, "SELECT current_user").Scan(&user)
		if terminate && err == nil {
			t.Fatalf("terminate_sessions_on_revoke %s: the principal's session survived the revocation as %s", setting, user)
		}
		if !terminate && (err != nil || user != w.Role) {
			t.Fatalf("terminate_sessions_on_revoke false: the session is %q, %v; want it still acting as %s", user, err, w.Role)
		}
	}
}

// Memberships of governed roles that no grant covers are listed.
func TestAccPostgres_unmanagedMemberships(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api, worker := w.Principal("api"), w.Principal("worker")
	w.Grant(w.Role, worker) // outside governance
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+`
data "governed_unmanaged_memberships" "all" {
  depends_on = [governed_grant.g]
}
output "unmanaged" {
  value = [for m in data.governed_unmanaged_memberships.all.memberships : "${m.target}/${m.role}/${m.principal}"]
}
`)
	out := h.mustRun("output", "-json", "unmanaged")
	want := fmt.Sprintf(`["postgres.app/%s/%s"]`, w.Role, worker)
	if strings.Join(strings.Fields(out), "") != want {
		t.Fatalf("unmanaged memberships = %s, want %s", out, want)
	}
	// The admin option, given outside governed to a governed member, is
	// access no grant covers.
	w.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", w.Role, pgtest.QuoteIdent(api)))
	h.mustRun("apply", "-input=false", "-auto-approve")
	out = h.mustRun("output", "-json", "unmanaged")
	want = fmt.Sprintf(`["postgres.app/%s/%s","postgres.app/%s/%s"]`, w.Role, api, w.Role, worker)
	if strings.Join(strings.Fields(out), "") != want {
		t.Fatalf("unmanaged memberships with an admin option = %s, want %s", out, want)
	}
}

// An unreachable target or ledger stops the plan with an error naming it,
// before anything is recorded.
func TestAccPostgres_unreachable(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	api := w.Principal("api")

	env := w.env("")
	env.providerExtra = fmt.Sprintf("  postgres_targets = { app = { url = %q } }\n", "postgres://governor@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=5&password=qs3cret")
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	out, err := h.run("apply", "-input=false", "-auto-approve")
	if err == nil || !strings.Contains(out, "Error: "+summaryTargetUnreachable) || !strings.Contains(out, "Cannot reach PostgreSQL target postgres.app") ||
		!strings.Contains(flat(out), `postgres_targets["app"]`) || strings.Contains(out, "qs3cret") {
		t.Fatalf("apply with an unreachable target: %v\n%s", err, out)
	}
	if head, _ := env.openLedger().Head(context.Background()); head.Seq != 0 {
		t.Fatalf("the ledger has %d events after a refused plan", head.Seq)
	}

	env2 := w.env("")
	env2.ledger = "postgres://governor:s3cret@127.0.0.1:1/ledger?sslmode=disable&connect_timeout=5"
	h2 := newCLIHarness(t, env2.clock)
	h2.write("main.tf", env2.config(appGrant(api, "SEC-1").hcl("g")))
	h2.mustRun("init", "-input=false")
	out, err = h2.run("plan", "-input=false")
	// Terraform quotes the configuration line, password included; the
	// provider's own message must not repeat it.
	if err == nil || !strings.Contains(out, "Unable to open the ledger") || strings.Count(out, "s3cret") > 1 {
		t.Fatalf("plan with an unreachable ledger must fail naming it, without the password: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("granted with no ledger")
	}
}

// The target going away between plan and apply stops the apply before
// anything is granted or recorded.
func TestAccPostgres_targetLostBeforeApply(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	h.plan()
	w.Exec("ALTER ROLE "+w.Governor+" NOLOGIN",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '"+w.Governor+"'")
	out, err := h.run("apply", "-input=false", "test.tfplan")
	if err == nil || !strings.Contains(out, "postgres.app") {
		t.Fatalf("apply with the target gone: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("granted although the apply failed")
	}
	if out, _ := h.run("state", "list"); strings.Contains(out, "governed_grant.g") {
		t.Fatalf("state holds the grant after a failed apply:\n%s", out)
	}
	grants, err := env.openLedger().Grants(context.Background(), ledger.GrantFilter{Status: ledger.StatusActive})
	if err != nil || len(grants) != 0 {
		t.Fatalf("active grants in the ledger after a failed apply: %v %v", grants, err)
	}
}

// An apply that stops after the GRANT and before the ledger records it
// leaves a pending grant; the next apply completes that grant, under the same
// id, instead of granting again.
func TestAccPostgres_interruptedGrantIsReconciled(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	crash := crashAfterTargetGrant(env)
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	if out, err := h.run("apply", "-input=false", "-auto-approve"); err == nil {
		t.Fatalf("the interrupted apply succeeded:\n%s", out)
	}
	if !w.IsMember(api, w.Role) {
		t.Fatal("the fault hook did not run after the GRANT")
	}
	pending, err := env.openLedger().Grants(context.Background(), ledger.GrantFilter{Status: ledger.StatusPending})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending grants after the crash: %v %v; the intent must be recorded before the GRANT", pending, err)
	}

	crash.Store(false)
	h.mustRun("apply", "-input=false", "-auto-approve")
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	if id != pending[0].ID {
		t.Fatalf("the next apply issued %s instead of completing the pending grant %s", id, pending[0].ID)
	}
	if got := eventTypes(t, env, id); got != "grant.requested grant.issued" {
		t.Fatalf("events for %s: %q", id, got)
	}
	mustVerifyLedger(t, env)
}

// A revocation the target refuses is recorded, shown as pending with a
// warning, and retried by the next apply.
func TestAccPostgres_failedRevokeIsRetried(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
	id, _ := h.stateAttr("governed_grant.g", "id").(string)

	// The governor loses the right to revoke.
	w.Exec(fmt.Sprintf("REVOKE ADMIN OPTION FOR %s FROM %s", w.Role, w.Governor))
	env.clock.Advance(9 * time.Hour)
	out := h.mustRun("apply", "-input=false", "-auto-approve")
	if !strings.Contains(out, "Revocation pending") {
		t.Fatalf("apply does not warn that the revocation is pending:\n%s", out)
	}
	if h.stateAttr("governed_grant.g", "status") != "expired" || h.stateAttr("governed_grant.g", "revocation_pending") != true {
		t.Fatalf("state after a refused revocation: status %v, revocation_pending %v",
			h.stateAttr("governed_grant.g", "status"), h.stateAttr("governed_grant.g", "revocation_pending"))
	}
	if !w.IsMember(api, w.Role) {
		t.Fatal("the membership is gone although the target refused the REVOKE")
	}
	g, err := env.openLedger().Grant(context.Background(), id)
	if err != nil || g.Status != ledger.StatusExpired || !g.RevokePending || g.RevokeError == "" {
		t.Fatalf("ledger after a refused revocation: %+v %v", g, err)
	}

	// Still refused: the next plan retries, and the warning stays.
	changes, out := h.plan()
	if actions(changes["governed_grant.g"]) != "update" || !strings.Contains(out, "Revocation pending") {
		t.Fatalf("plan with a pending revocation: %s\n%s", actions(changes["governed_grant.g"]), out)
	}
	w.Exec(fmt.Sprintf("GRANT %s TO %s WITH ADMIN OPTION", w.Role, w.Governor))
	h.mustRun("apply", "-input=false", "test.tfplan")
	if w.IsMember(api, w.Role) {
		t.Fatal("the retried revocation did not remove the membership")
	}
	if h.stateAttr("governed_grant.g", "revocation_pending") != false {
		t.Fatal("revocation_pending still set after the revocation succeeded")
	}
	if got := eventTypes(t, env, id); got != "grant.requested grant.issued grant.expired grant.revoke_failed grant.revoke_completed" {
		t.Fatalf("events for %s: %q", id, got)
	}
	if out := h.mustRun("plan", "-input=false"); !strings.Contains(out, "No changes.") {
		t.Fatalf("plan after the retried revocation is not empty:\n%s", out)
	}
}

func mustVerifyLedger(t *testing.T, env *testEnv) {
	t.Helper()
	r, err := env.openLedger().Verify(context.Background())
	if err != nil || !r.OK {
		t.Fatalf("ledger does not verify: %+v %v", r, err)
	}
}

// Two grants of one membership destroyed in the same apply, in parallel:
// each records its end before looking for the other, so the last one to be
// recorded always revokes.
func TestAccPostgres_overlappingGrantsDestroyedTogether(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	for round := range 3 {
		h := applyInHarness(t, env, appGrant(api, fmt.Sprintf("SEC-%d1", round)).hcl("one")+appGrant(api, fmt.Sprintf("SEC-%d2", round)).hcl("two"))
		if !w.IsMember(api, w.Role) {
			t.Fatalf("round %d: not a member after apply", round)
		}
		h.mustRun("destroy", "-input=false", "-auto-approve")
		if w.IsMember(api, w.Role) {
			t.Fatalf("round %d: destroying both grants at once left the membership in place", round)
		}
	}
	mustVerifyLedger(t, env)
}

// A grant left pending by an interrupted apply is not resumed once its
// expiry has passed: it is closed, its access taken away, and a new grant is
// issued in its place.
func TestAccPostgres_expiredPendingGrantIsNotResumed(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	crash := crashAfterTargetGrant(env)
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	if _, err := h.run("apply", "-input=false", "-auto-approve"); err == nil {
		t.Fatal("the interrupted apply succeeded")
	}
	pending, err := env.openLedger().Grants(context.Background(), ledger.GrantFilter{Status: ledger.StatusPending})
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending grants: %v %v", pending, err)
	}
	out, _ := h.run("plan", "-input=false")
	if !strings.Contains(out, "Grants pending in the ledger") || !strings.Contains(out, pending[0].ID) {
		t.Fatalf("the plan does not warn about the pending grant:\n%s", out)
	}

	crash.Store(false)
	env.clock.Advance(9 * time.Hour) // past the pending grant's 8h expiry
	h.mustRun("apply", "-input=false", "-auto-approve")
	id, _ := h.stateAttr("governed_grant.g", "id").(string)
	if id == pending[0].ID {
		t.Fatal("an expired pending grant was resumed")
	}
	old, err := env.openLedger().Grant(context.Background(), pending[0].ID)
	if err != nil || old.Status != ledger.StatusExpired || old.RevokePending {
		t.Fatalf("the expired pending grant was not closed: %+v %v", old, err)
	}
	if !w.IsMember(api, w.Role) {
		t.Fatal("the new grant is not in force")
	}
	mustVerifyLedger(t, env)
}

// A grant made under an approval record resumes after an interrupted apply:
// the approval it spent is its own.
func TestAccPostgres_interruptedGrantUnderApprovalResumes(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	crash := crashAfterTargetGrant(env)
	config := env.config(fmt.Sprintf(`
resource "governed_approval_record" "a" {
  ticket_id     = "SEC-1"
  entitlement   = "app-read"
  principal     = %q
  approvers     = ["alice@example.com"]
  justification = "nightly job"
  expires_at    = %q
}
`, api, at(24*time.Hour)) + appGrant(api, "SEC-1").with("approval_id", "governed_approval_record.a.id").hcl("g"))
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", config)
	h.mustRun("init", "-input=false")
	if _, err := h.run("apply", "-input=false", "-auto-approve"); err == nil {
		t.Fatal("the interrupted apply succeeded")
	}
	crash.Store(false)
	h.mustRun("apply", "-input=false", "-auto-approve")
	if h.stateAttr("governed_grant.g", "status") != "active" || !w.IsMember(api, w.Role) {
		t.Fatal("the grant under an approval record was not resumed")
	}
	mustVerifyLedger(t, env)
}

// crashAfterTargetGrant makes env's provider stop every Create right after
// the target granted, as a crash would, until the returned flag is cleared.
func crashAfterTargetGrant(env *testEnv) *atomic.Bool {
	var crash atomic.Bool
	crash.Store(true)
	env.options = []Option{WithFaultHook(func(point string) error {
		if point == lifecycle.FaultAfterTargetGrant && crash.Load() {
			return errors.New("simulated crash")
		}
		return nil
	})}
	return &crash
}

// A grant issued in the same apply in which another grant of the same
// membership expires keeps its access: the expiring grant's revocation finds
// the new grant pending or active, under the membership's lock.
func TestAccPostgres_renewalWhileExpiring(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	for round := range 3 {
		old := fmt.Sprintf("SEC-%d1", round)
		h := applyInHarness(t, env, appGrant(api, old).hcl("old"))
		env.clock.Advance(9 * time.Hour)
		h.write("main.tf", env.config(appGrant(api, old).hcl("old")+appGrant(api, fmt.Sprintf("SEC-%d2", round)).hcl("new")))
		h.mustRun("apply", "-input=false", "-auto-approve")
		if h.stateAttr("governed_grant.old", "status") != "expired" || h.stateAttr("governed_grant.new", "status") != "active" {
			t.Fatalf("round %d: old %v, new %v", round, h.stateAttr("governed_grant.old", "status"), h.stateAttr("governed_grant.new", "status"))
		}
		if !w.IsMember(api, w.Role) {
			t.Fatalf("round %d: the old grant's expiry took away the access the new grant gives", round)
		}
		h.mustRun("destroy", "-input=false", "-auto-approve")
	}
}

// A target that is down never holds up taking access away: the plan warns
// that it could not look, the expiry is recorded with the revocation pending,
// and the apply after the target is back carries it out.
func TestAccPostgres_targetDownDuringExpiry(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))

	down := func() {
		w.Exec("ALTER ROLE "+w.Governor+" NOLOGIN",
			"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '"+w.Governor+"'")
	}
	down()
	out := h.mustRun("plan", "-input=false")
	if !strings.Contains(out, "Unable to check the grant's target") || !strings.Contains(out, "No changes.") {
		t.Fatalf("plan with the target down:\n%s", out)
	}
	env.clock.Advance(9 * time.Hour)
	out = h.mustRun("apply", "-input=false", "-auto-approve")
	if !strings.Contains(out, "Revocation pending") || h.stateAttr("governed_grant.g", "revocation_pending") != true {
		t.Fatalf("expiry with the target down:\n%s", out)
	}
	w.Exec("ALTER ROLE " + w.Governor + " LOGIN")
	h.mustRun("apply", "-input=false", "-auto-approve")
	if w.IsMember(api, w.Role) || h.stateAttr("governed_grant.g", "revocation_pending") != false {
		t.Fatal("the revocation was not completed once the target was back")
	}
}

// A grant revoked while it is pending, between the ledger's request and the
// target's GRANT, is not granted: the GRANT checks the ledger under the
// membership's lock.
func TestAccPostgres_revokedWhilePending(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api := w.Principal("api")
	env.options = []Option{WithFaultHook(func(point string) error {
		if point != lifecycle.FaultAfterRequest {
			return nil
		}
		// An incident responder revokes the grant the apply has just requested.
		l, err := ledger.OpenExisting(context.Background(), env.ledger)
		if err != nil {
			return err
		}
		defer l.Close()
		pending, err := l.Grants(context.Background(), ledger.GrantFilter{Status: ledger.StatusPending})
		if err != nil || len(pending) != 1 {
			return fmt.Errorf("pending grants: %v %v", pending, err)
		}
		_, _, err = l.RevokeGrant(context.Background(), pending[0].ID, testNow, ledger.ReasonOutOfBand, "INC-1", nil)
		return err
	})}
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	out, err := h.run("apply", "-input=false", "-auto-approve")
	if err == nil || !strings.Contains(out, "revoked while it was being issued") {
		t.Fatalf("apply of a grant revoked while pending: %v\n%s", err, out)
	}
	if w.IsMember(api, w.Role) {
		t.Fatal("a grant revoked while pending was granted in the target")
	}
	mustVerifyLedger(t, env)
}

// A wrong password in postgres_targets is a refused login, said as such, with
// where the password is set and how to keep it out of the configuration; not
// an unreachable server, and not a TLS error from sslmode=prefer's first try.
func TestAccPostgres_targetLoginFailed(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	const wrong = "wr0ng-pw"
	w := newPGWorld(t)
	w.RequirePassword("r1ght-pw")
	env := w.env("")
	env.providerExtra = fmt.Sprintf("  postgres_targets = { app = { url = %q } }\n",
		strings.Replace(w.URLWithPassword(wrong), "sslmode=disable", "sslmode=prefer", 1))
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(appGrant(w.Principal("api"), "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	out, err := h.run("plan", "-input=false")
	got := flat(out)
	for _, want := range []string{
		"Error: " + summaryTargetLogin,
		`the server refused the login of role "` + w.Governor + `"`,
		"SQLSTATE 28P01",
		`postgres_targets["app"]`,
		"PGPASSWORD",
		"~/.pgpass",
	} {
		if err == nil || !strings.Contains(got, want) {
			t.Errorf("plan with a wrong target password: want %q in the error (%v):\n%s", want, err, out)
		}
	}
	for _, unwanted := range []string{"cannot reach", "tls error", "target error", wrong} {
		if strings.Contains(strings.ToLower(got), unwanted) {
			t.Errorf("plan with a wrong target password says %q:\n%s", unwanted, out)
		}
	}
	if strings.Count(got, "Error: ") != 1 {
		t.Errorf("one mistake gave %d errors:\n%s", strings.Count(got, "Error: "), out)
	}
}

// An entitlement whose target the provider is not configured with is refused
// under its rule, with the postgres_targets entry to add.
func TestAccPostgres_targetNotConfigured(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	env.providerExtra = ""
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(appGrant(w.Principal("api"), "SEC-1").hcl("g")))
	h.mustRun("init", "-input=false")
	out, err := h.run("plan", "-input=false")
	got := flat(out)
	for _, want := range []string{
		"Rule " + policy.RuleTargetNotConfigured.Name,
		`Add app = { url = "postgres://…" } to the provider's postgres_targets`,
		policy.RuleTargetNotConfigured.Fix,
	} {
		if err == nil || !strings.Contains(got, want) {
			t.Errorf("plan with the target not configured: want %q in the error (%v):\n%s", want, err, out)
		}
	}
	if strings.Contains(got, "change the entitlement's target") {
		t.Errorf("the refusal still advises changing the policy:\n%s", out)
	}
}

// A principal that matches the entitlement's patterns only after case
// folding is another role in PostgreSQL, and is refused at plan (SPEC §3).
func TestAccPostgres_principalMatchedExactly(t *testing.T) {
	skipUnlessAcc(t)
	w := newPGWorld(t)
	env := w.env("")
	upper := strings.ToUpper(w.Principal("api"))
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{{
			Config:      env.config(appGrant(upper, "SEC-1").hcl("g")),
			ExpectError: regexp.MustCompile(`Rule ` + regexp.QuoteMeta(policy.RulePrincipalAllowed.Name)),
		}},
	})
	if w.RoleExists(upper) || w.IsMember(w.Principal("api"), w.Role) {
		t.Fatal("something was granted")
	}
}
