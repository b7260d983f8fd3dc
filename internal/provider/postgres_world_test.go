package provider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// One PostgreSQL server serves every test of the package; each test gets its
// own database and its own role names (roles are shared by the whole server).
var (
	pgOnce   sync.Once
	pgServer *pgtest.Server
	pgErr    error
	pgWorlds atomic.Int64
)

func testPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	pgOnce.Do(func() { pgServer, pgErr = pgtest.Start(context.Background(), pgtest.Options{}) })
	if pgErr != nil {
		t.Fatalf("starting PostgreSQL for the tests: %v", pgErr)
	}
	return pgServer
}

func stopTestPostgres() {
	if pgServer != nil {
		pgServer.Stop()
	}
}

// pgWorld is one test's PostgreSQL target: a database, a governed role, and a
// login role for the provider ("governor") that holds the governed roles WITH
// ADMIN OPTION and nothing else, the least privilege the guide documents.
type pgWorld struct {
	t        *testing.T
	srv      *pgtest.Server
	db       string
	tag      string // makes this test's role names unique on the server
	governor string
	role     string // the role the "app-read" entitlement grants
}

func newPGWorld(t *testing.T) *pgWorld {
	t.Helper()
	srv := testPostgres(t)
	ctx := context.Background()
	db, err := srv.CreateDatabase(ctx, "target")
	if err != nil {
		t.Fatal(err)
	}
	n := pgWorlds.Add(1)
	w := &pgWorld{t: t, srv: srv, db: db, tag: fmt.Sprintf("t%d", n)}
	w.governor = "governor_" + w.tag
	w.role = w.tag + "_read"
	w.exec(
		"CREATE ROLE "+w.governor+" LOGIN",
		"CREATE ROLE "+w.role+" NOLOGIN",
		"GRANT "+w.role+" TO "+w.governor+" WITH ADMIN OPTION",
		"GRANT pg_signal_backend TO "+w.governor,
		"CREATE ROLE "+quoteIdent(w.principal("api"))+" LOGIN",
		"CREATE ROLE "+quoteIdent(w.principal("worker"))+" LOGIN",
	)
	return w
}

// principal is a login role name of this test: "svc-<tag>-<name>".
func (w *pgWorld) principal(name string) string { return "svc-" + w.tag + "-" + name }

// url connects as the governor.
func (w *pgWorld) url() string { return w.srv.URLAs(w.governor, w.db) }

// policy is a policy whose "app-read" entitlement grants w.role in target
// postgres.app; extra is appended (more entitlements).
func (w *pgWorld) policy(extra string) string {
	return fmt.Sprintf(`
ticket_pattern = "^SEC-[0-9]+$"

entitlement "app-read" {
  target     = "postgres.app"
  role       = %q
  max_ttl    = "7d"
  approvers  = ["alice@example.com", "bob@example.com"]
  principals = ["svc-%s-*"]
}
%s`, w.role, w.tag, extra)
}

// targets is the provider's postgres_targets for this world.
func (w *pgWorld) targets(terminate bool) string {
	return fmt.Sprintf("  postgres_targets = { app = { url = %q, terminate_sessions_on_revoke = %t } }\n", w.url(), terminate)
}

// env returns a test world whose provider grants in this database.
func (w *pgWorld) env(extraPolicy string) *testEnv {
	env := newTestEnv(w.t)
	env.writePolicy(w.policy(extraPolicy))
	env.providerExtra = w.targets(false)
	return env
}

// exec runs statements as the superuser in the world's database.
func (w *pgWorld) exec(statements ...string) {
	w.t.Helper()
	if err := w.srv.Exec(context.Background(), w.db, statements...); err != nil {
		w.t.Fatal(err)
	}
}

// isMember reports whether principal is a direct member of role.
func (w *pgWorld) isMember(principal, role string) bool {
	w.t.Helper()
	var member bool
	w.query(&member, `SELECT EXISTS (SELECT 1 FROM pg_auth_members m
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE r.rolname = $1 AND u.rolname = $2)`, role, principal)
	return member
}

func (w *pgWorld) roleExists(name string) bool {
	w.t.Helper()
	var exists bool
	w.query(&exists, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name)
	return exists
}

func (w *pgWorld) query(dst any, sql string, args ...any) {
	w.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.srv.URL(w.db))
	if err != nil {
		w.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql, args...).Scan(dst); err != nil {
		w.t.Fatal(err)
	}
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// pgGrant is a grant of app-read to principal under ticket.
func pgGrant(name, principal, ticket, extra string) string {
	return fmt.Sprintf(`
resource "governed_grant" %q {
  principal   = %q
  entitlement = "app-read"
  ticket_id   = %q
  approvers   = ["alice@example.com"]
  ttl         = "8h"
%s}
`, name, principal, ticket, extra)
}

// eventTypes lists the types of the ledger's events about subject, in order.
func eventTypes(t *testing.T, env *testEnv, subject string) string {
	t.Helper()
	var types []string
	err := env.openLedger().Store().Events(context.Background(), func(e ledger.Event) error {
		if e.Subject == subject {
			types = append(types, e.Type)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(types, " ")
}
