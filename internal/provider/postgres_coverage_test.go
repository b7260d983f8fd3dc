package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// Two workspaces share one ledger, and each calls its PostgreSQL target
// "app", but they are different servers. The second workspace's long grant of
// the role to the principal on its own server does not keep the first
// workspace's membership once that grant expires: memberships belong to a
// server, and only grants on the same server count as cover.
func TestAccPostgres_coverageAcrossWorkspaces(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	w := newPGWorld(t)
	api := w.Principal("api")

	// The second server holds a role and a principal of the same names, and
	// a governor of its own.
	other, err := pgtest.Start(context.Background(), pgtest.Options{})
	if err != nil {
		t.Fatalf("starting a second PostgreSQL server: %v", err)
	}
	t.Cleanup(other.Stop)
	db, _ := other.NewDatabase(t, "target")
	const governor = "governor_other"
	other.MustExec(t, db,
		"CREATE ROLE "+governor+" LOGIN",
		"CREATE ROLE "+pgtest.QuoteIdent(w.Role)+" NOLOGIN",
		"GRANT "+pgtest.QuoteIdent(w.Role)+" TO "+governor+" WITH ADMIN OPTION",
		"CREATE ROLE "+pgtest.QuoteIdent(api)+" LOGIN")
	isMemberThere := func() bool {
		t.Helper()
		var member bool
		other.MustQueryRow(t, db, `SELECT EXISTS (SELECT 1 FROM pg_auth_members m
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE r.rolname = $1 AND u.rolname = $2)`, []any{w.Role, api}, &member)
		return member
	}

	first := w.env("")
	second := w.env("")
	second.ledger = first.ledger
	second.providerExtra = fmt.Sprintf("  postgres_targets = { app = { url = %q } }\n", other.URLAs(governor, db))

	// The second workspace holds a long grant on its server.
	h2 := applyInHarness(t, second, appGrant(api, "SEC-2").with("ttl", q("3d")).hcl("long"))
	longID, _ := h2.stateAttr("governed_grant.long", "id").(string)
	if !isMemberThere() || w.IsMember(api, w.Role) {
		t.Fatalf("after the second workspace's apply: member on its server %v, on the first %v; want true, false",
			isMemberThere(), w.IsMember(api, w.Role))
	}

	// The first workspace's short grant, on the first server, expires.
	h1 := applyInHarness(t, first, appGrant(api, "SEC-1").hcl("short"))
	shortID, _ := h1.stateAttr("governed_grant.short", "id").(string)
	if !w.IsMember(api, w.Role) {
		t.Fatal("the first workspace's grant is not in force")
	}
	l := first.openLedger()
	short, err := l.Grant(context.Background(), shortID)
	if err != nil || short.TargetServer == "" {
		t.Fatalf("the ledger records grant %s without its server: %+v, %v", shortID, short, err)
	}
	if long, err := l.Grant(context.Background(), longID); err != nil || long.TargetServer == "" || long.TargetServer == short.TargetServer {
		t.Fatalf("the grants on two servers record servers %q and %q (%v)", short.TargetServer, long.TargetServer, err)
	}

	first.clock.Advance(9 * time.Hour)
	h1.mustRun("apply", "-input=false", "-auto-approve")
	if w.IsMember(api, w.Role) {
		t.Fatal("the expired grant's membership stayed, covered by a grant on another server")
	}
	short, err = l.Grant(context.Background(), shortID)
	if err != nil || short.Status != ledger.StatusExpired || short.RevokePending {
		t.Fatalf("the expired grant in the ledger: %+v, %v", short, err)
	}
	if got := eventTypes(t, first, shortID); !strings.HasSuffix(got, "grant.expired grant.revoke_completed") {
		t.Fatalf("events of the expired grant: %q", got)
	}
	// The second workspace's grant and membership are untouched.
	if !isMemberThere() {
		t.Fatal("the first workspace's expiry removed the membership on the second server")
	}
	if out := h2.mustRun("plan", "-input=false", "-detailed-exitcode"); !strings.Contains(out, "No changes.") {
		t.Fatalf("the second workspace's plan after the first's expiry is not empty:\n%s", out)
	}
}
