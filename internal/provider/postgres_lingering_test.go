package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// Grants that a REVOKE could not take back whole are refused at plan, with
// the rule's name and what is at fault: a principal with members of its own,
// and a role that owns objects, holds privileges WITH GRANT OPTION, belongs
// to a built-in role or can log in, itself or through the roles it belongs to.
func TestAccPostgres_lingeringAccessRefused(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	api, worker := w.Principal("api"), w.Principal("worker")
	role := func(short string) string { return w.Tag + "_" + short }
	type refusal struct{ entitlement, principal, rule, names string }
	var cases []refusal
	var extra strings.Builder
	refuse := func(short, principal, rule, names string) {
		cases = append(cases, refusal{short, principal, rule, names})
		extra.WriteString(targetEntitlement(short, role(short)))
	}

	// A role that owns a schema and a table in the target's database.
	w.Exec("CREATE ROLE "+role("owner")+" NOLOGIN",
		"CREATE SCHEMA "+role("s")+" AUTHORIZATION "+role("owner"),
		"CREATE TABLE "+role("s")+".t (x int)",
		"ALTER TABLE "+role("s")+".t OWNER TO "+role("owner"))
	refuse("owner", api, "target.role_owner", "schema "+role("s"))
	// A role that belongs to the owner of another database.
	w.Exec("CREATE ROLE "+role("dbowner")+" NOLOGIN", "CREATE ROLE "+role("chain")+" NOLOGIN",
		"GRANT "+role("dbowner")+" TO "+role("chain"))
	w.Server.MustExec(t, "postgres", "CREATE DATABASE "+role("db")+" OWNER "+role("dbowner"))
	refuse("chain", api, "target.role_owner", "database "+role("db"))
	// A role that may pass a privilege on, on a table or through default
	// privileges.
	w.Exec("CREATE ROLE "+role("grantor")+" NOLOGIN", "CREATE TABLE "+role("t")+" (x int)",
		"GRANT SELECT ON "+role("t")+" TO "+role("grantor")+" WITH GRANT OPTION")
	refuse("grantor", api, "target.role_grant_option", "table "+role("t"))
	w.Exec("CREATE ROLE "+role("defaults")+" NOLOGIN",
		"ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO "+role("defaults")+" WITH GRANT OPTION")
	refuse("defaults", api, "target.role_grant_option", "default privileges")
	// A role that reads every session's queries.
	w.Exec("CREATE ROLE "+role("monitor")+" NOLOGIN", "GRANT pg_monitor TO "+role("monitor"))
	refuse("monitor", api, "target.role_builtin", "pg_monitor")
	// A role a member could log in as, after setting its password.
	w.Exec("CREATE ROLE " + role("login") + " LOGIN")
	refuse("login", api, "target.role_login", role("login"))
	// A principal whose own members would hold the role through it.
	w.Exec("CREATE ROLE "+role("member")+" LOGIN", "GRANT "+pgtest.QuoteIdent(worker)+" TO "+role("member"))
	cases = append(cases, refusal{"app-read", worker, "target.principal_group", role("member")})

	env := w.env(extra.String())
	h := newCLIHarness(t, env.clock)
	h.write("main.tf", env.config(""))
	h.mustRun("init", "-input=false")
	for _, c := range cases {
		h.write("main.tf", env.config(appGrant(c.principal, "SEC-1").with("entitlement", q(c.entitlement)).hcl("g")))
		out, err := h.run("plan", "-input=false")
		if err == nil || !strings.Contains(out, "Rule "+c.rule) || !strings.Contains(out, c.names) {
			t.Errorf("%s to %s: plan did not fail with %s naming %q: %v\n%s", c.entitlement, c.principal, c.rule, c.names, err, out)
		}
		if out, err := h.run("apply", "-input=false", "-auto-approve"); err == nil {
			t.Errorf("%s to %s: apply succeeded:\n%s", c.entitlement, c.principal, out)
		}
		granted := role(c.entitlement)
		if c.entitlement == "app-read" {
			granted = w.Role
		}
		if w.IsMember(c.principal, granted) {
			t.Errorf("%s to %s: granted although refused", c.entitlement, c.principal)
		}
	}
	// The same principal, without members, is granted the plain role.
	w.Exec("REVOKE " + pgtest.QuoteIdent(worker) + " FROM " + role("member"))
	h.write("main.tf", env.config(appGrant(worker, "SEC-1").hcl("g")))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if !w.IsMember(worker, w.Role) {
		t.Fatalf("%s did not receive %s once it had no members", worker, w.Role)
	}
}

// governed_unmanaged_memberships finds access by effective membership: the
// members of a role that holds a governed role, and a member added to a
// grant's principal, show with the role they hold it through. The provider's
// own memberships are listed apart, with whether it inherits the roles.
func TestAccPostgres_effectiveMemberships(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	env := w.env("")
	api, worker := w.Principal("api"), w.Principal("worker")
	group, member, sneaky := w.Tag+"_group", w.Tag+"_member", w.Tag+"_sneaky"
	w.Exec("CREATE ROLE "+group+" NOLOGIN", "GRANT "+w.Role+" TO "+group,
		"CREATE ROLE "+member+" LOGIN", "GRANT "+group+" TO "+member)
	outputs := `
data "governed_unmanaged_memberships" "all" {
  depends_on = [governed_grant.g]
}
output "unmanaged" {
  value = [for m in data.governed_unmanaged_memberships.all.memberships : "${m.role}/${m.principal}/${m.via}"]
}
output "provider" {
  value = [for m in data.governed_unmanaged_memberships.all.provider_memberships :
    "${m.target}/${m.role}/${m.principal}/${m.via}/${m.admin_option}/${m.inherit}"]
}
`
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g")+outputs)
	output := func(name string) string {
		t.Helper()
		return strings.Join(strings.Fields(h.mustRun("output", "-json", name)), "")
	}
	want := fmt.Sprintf(`["%[1]s/%[2]s/","%[1]s/%[3]s/%[2]s"]`, w.Role, group, member)
	if got := output("unmanaged"); got != want {
		t.Fatalf("unmanaged memberships = %s, want %s", got, want)
	}
	if got, want := output("provider"), fmt.Sprintf(`["postgres.app/%s/%s//true/true"]`, w.Role, w.Governor); got != want {
		t.Fatalf("provider memberships = %s, want %s", got, want)
	}

	// A member added to the grant's principal holds the role through it, and
	// the provider's role stops inheriting what it administers; it still
	// grants.
	w.Exec("CREATE ROLE "+sneaky+" LOGIN", "GRANT "+pgtest.QuoteIdent(api)+" TO "+sneaky,
		"ALTER ROLE "+w.Governor+" NOINHERIT")
	h.write("main.tf", env.config(appGrant(api, "SEC-1").hcl("g")+appGrant(worker, "SEC-2").hcl("w")+outputs))
	h.mustRun("apply", "-input=false", "-auto-approve")
	if !w.IsMember(worker, w.Role) {
		t.Fatalf("a NOINHERIT provider role did not grant %s", w.Role)
	}
	want = fmt.Sprintf(`["%[1]s/%[2]s/","%[1]s/%[3]s/%[2]s","%[1]s/%[4]s/%[5]s"]`, w.Role, group, member, sneaky, api)
	if got := output("unmanaged"); got != want {
		t.Fatalf("unmanaged memberships with a member of the principal = %s, want %s", got, want)
	}
	if got, want := output("provider"), fmt.Sprintf(`["postgres.app/%s/%s//true/false"]`, w.Role, w.Governor); got != want {
		t.Fatalf("provider memberships after NOINHERIT = %s, want %s", got, want)
	}
}

// Sessions that the provider's role may not end keep the revocation pending,
// with the fix in the warning; once it may, the next apply ends them and
// completes the revocation.
func TestAccPostgres_sessionsThatCannotBeEnded(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	w.Exec("REVOKE pg_signal_backend FROM " + w.Governor)
	env := w.env("")
	env.providerExtra = fmt.Sprintf("  postgres_targets = { app = { url = %q } }\n", w.URL())
	api := w.Principal("api")
	h := applyInHarness(t, env, appGrant(api, "SEC-1").hcl("g"))
	ctx := context.Background()
	session, err := pgx.Connect(ctx, w.URLAs(api))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close(ctx)

	env.clock.Advance(9 * time.Hour)
	out := h.mustRun("apply", "-input=false", "-auto-approve")
	if w.IsMember(api, w.Role) || !strings.Contains(out, "pg_signal_backend") {
		t.Fatalf("expiry without pg_signal_backend: member %v\n%s", w.IsMember(api, w.Role), out)
	}
	if err := session.Ping(ctx); err != nil {
		t.Fatalf("the session ended without pg_signal_backend: %v", err)
	}
	if got := h.stateAttr("governed_grant.g", "revocation_pending"); got != true {
		t.Fatalf("revocation_pending = %v while the principal's session is open", got)
	}

	w.Exec("GRANT pg_signal_backend TO " + w.Governor)
	h.mustRun("apply", "-input=false", "-auto-approve")
	if err := session.Ping(ctx); err == nil {
		t.Fatal("the session survived the retried revocation")
	}
	if got := h.stateAttr("governed_grant.g", "revocation_pending"); got != false {
		t.Fatalf("revocation_pending = %v after the sessions ended", got)
	}
}
