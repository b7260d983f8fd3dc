package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestSharedIsOneServer(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared started a second server")
	}
	name, url := a.NewDatabase(t, "probe")
	other, _ := a.NewDatabase(t, "probe")
	if name == other || !strings.HasPrefix(name, "probe_") || url != a.URL(name) {
		t.Fatalf("NewDatabase gave %q (%s), then %q", name, url, other)
	}
	a.MustExec(t, name, `CREATE TABLE t (v int)`, `INSERT INTO t VALUES (41), (1)`)
	var sum int
	a.MustQueryRow(t, name, `SELECT sum(v) FROM t WHERE v > $1`, []any{0}, &sum)
	if sum != 42 {
		t.Fatalf("sum = %d, want 42", sum)
	}
}

// The governor of a target can grant and revoke its governed roles, and
// nothing more; memberships made by hand show in IsMember.
func TestTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	x := Shared(t).NewTarget(t, TargetOptions{Roles: []string{"read", "write"}, Principals: []string{"api"}})
	y := Shared(t).NewTarget(t, TargetOptions{})
	if x.Tag == y.Tag || x.Role != x.Tag+"_read" || len(x.Roles) != 2 || x.Roles[1] != x.Tag+"_write" || y.Roles[0] != y.Role {
		t.Fatalf("targets %+v and %+v", x, y)
	}
	api := x.Principal("api")
	if !x.RoleExists(api) || x.RoleExists(x.Principal("worker")) || x.IsMember(api, x.Role) {
		t.Fatalf("after setup: %s exists %t, is a member %t", api, x.RoleExists(api), x.IsMember(api, x.Role))
	}

	gov, err := pgx.Connect(ctx, x.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer gov.Close(ctx)
	for _, role := range x.Roles {
		if _, err := gov.Exec(ctx, "GRANT "+QuoteIdent(role)+" TO "+QuoteIdent(api)); err != nil {
			t.Fatalf("the governor granting %s: %v", role, err)
		}
		if !x.IsMember(api, role) {
			t.Fatalf("%s is not a member of %s after the governor's GRANT", api, role)
		}
	}
	if _, err := gov.Exec(ctx, "REVOKE "+QuoteIdent(x.Role)+" FROM "+QuoteIdent(api)); err != nil || x.IsMember(api, x.Role) {
		t.Fatalf("the governor revoking %s: %v", x.Role, err)
	}
	if _, err := gov.Exec(ctx, "GRANT "+QuoteIdent(y.Role)+" TO "+QuoteIdent(api)); err == nil {
		t.Fatal("the governor granted another target's role")
	}
	if _, err := gov.Exec(ctx, "CREATE ROLE "+QuoteIdent(x.Tag+"_mine")); err == nil {
		t.Fatal("the governor created a role")
	}

	worker := x.CreatePrincipal("worker")
	x.Grant(x.Role, worker)
	if !x.IsMember(worker, x.Role) {
		t.Fatalf("Grant did not make %s a member of %s", worker, x.Role)
	}
	x.Revoke(x.Role, worker)
	if x.IsMember(worker, x.Role) {
		t.Fatalf("Revoke left %s a member of %s", worker, x.Role)
	}
	x.GrantAsGovernor(x.Role, worker)
	if !x.IsMember(worker, x.Role) {
		t.Fatalf("GrantAsGovernor did not make %s a member of %s", worker, x.Role)
	}
	var grantor string
	x.QueryRow(`SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.grantor
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE r.rolname = $1 AND u.rolname = $2`, []any{x.Role, worker}, &grantor)
	if grantor != x.Governor {
		t.Fatalf("GrantAsGovernor's grant was made by %s, want %s", grantor, x.Governor)
	}

	session, err := pgx.Connect(ctx, x.URLAs(worker))
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close(ctx)
	var user string
	if err := session.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != worker {
		t.Fatalf("URLAs(%s) connects as %q: %v", worker, user, err)
	}
}

func TestSignalBackend(t *testing.T) {
	t.Parallel()
	for _, signal := range []bool{false, true} {
		x := Shared(t).NewTarget(t, TargetOptions{SignalBackend: signal})
		if got := x.IsMember(x.Governor, "pg_signal_backend"); got != signal {
			t.Errorf("SignalBackend %t: the governor holds pg_signal_backend: %t", signal, got)
		}
	}
}
