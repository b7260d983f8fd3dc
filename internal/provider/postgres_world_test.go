package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
)

// pgWorld is one test's PostgreSQL target (see pgtest.Target), in the server
// every test of the package shares: a database, a governed role, and a login
// role for the provider (the governor) that holds the governed role WITH ADMIN
// OPTION and pg_signal_backend, the least privilege the guide documents. The
// principals "api" and "worker" exist as login roles.
type pgWorld struct {
	*pgtest.Target
	t *testing.T
}

func newPGWorld(t *testing.T) *pgWorld {
	t.Helper()
	x := pgtest.Shared(t).NewTarget(t, pgtest.TargetOptions{
		Principals:    []string{"api", "worker"},
		SignalBackend: true,
	})
	return &pgWorld{Target: x, t: t}
}

// policy is a policy whose "app-read" entitlement grants w.Role in target
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
%s`, w.Role, w.Tag, extra)
}

// targets is the provider's postgres_targets for this world.
func (w *pgWorld) targets(terminate bool) string {
	return fmt.Sprintf("  postgres_targets = { app = { url = %q, terminate_sessions_on_revoke = %t } }\n", w.URL(), terminate)
}

// env returns a test world whose provider grants in this database.
func (w *pgWorld) env(extraPolicy string) *testEnv {
	env := newTestEnv(w.t)
	env.writePolicy(w.policy(extraPolicy))
	env.providerExtra = w.targets(false)
	return env
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
