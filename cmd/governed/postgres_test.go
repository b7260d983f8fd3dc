package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger/ledgertest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/target"
)

// Every test of the package shares one PostgreSQL server (pgtest.Shared),
// which pgtest.Main stops. Each test gets databases of its own, and role
// names of its own, since roles belong to the whole server.
func TestMain(m *testing.M) {
	// The tests decide at instants of their own (--as-of, fixed dates)
	// while the ledger records by the clock.
	ledgertest.UnboundDecisionTimes()
	pgtest.Main(m)
}

// pgFixture is populate's ledger in a new PostgreSQL database; it returns the
// database's name and the ledger's URL.
func pgFixture(t *testing.T) (srv *pgtest.Server, db, location string) {
	t.Helper()
	srv = pgtest.Shared(t)
	db, location = srv.NewDatabase(t, "ledger")
	populate(t, location)
	return srv, db, location
}

// openLedger opens the existing ledger at location for the test's checks.
func openLedger(t *testing.T, location string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.OpenExisting(context.Background(), location)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// closedPortURL is the URL of a PostgreSQL server that is not there: a local
// port nothing listens on, with user and password.
func closedPortURL(t *testing.T, password string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("listener address %v is not TCP", l.Addr())
	}
	l.Close()
	return fmt.Sprintf("postgres://auditor:%s@127.0.0.1:%d/ledger?sslmode=disable&connect_timeout=5", password, addr.Port)
}

func TestPostgresVerify(t *testing.T) {
	t.Parallel()
	srv, db, location := pgFixture(t)
	head, err := openLedger(t, location).Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("verify", "--ledger", location)
	if want := fmt.Sprintf("ledger verified: 4 events, head seq 4 hash %s\n", head.Hash); code != 0 || out != want || errOut != "" {
		t.Fatalf("verify = %d, %q, %q; want 0, %q", code, out, errOut, want)
	}
	// The postgresql:// spelling names the same ledger.
	if code, out, errOut := runCLI("verify", "--ledger", "postgresql"+strings.TrimPrefix(location, "postgres")); code != 0 || !strings.Contains(out, head.Hash) {
		t.Fatalf("verify postgresql:// = %d, %q, %q", code, out, errOut)
	}

	// Triggers off alone: the chain is intact but the log is no longer protected.
	srv.MustExec(t, db, `ALTER TABLE events DISABLE TRIGGER USER`)
	code, out, errOut = runCLI("verify", "--ledger", location)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "ledger does NOT verify: ") ||
		!strings.Contains(errOut, "append-only triggers are disabled") || strings.Contains(errOut, "sequence number") {
		t.Fatalf("verify with triggers off = %d, %q, %q", code, out, errOut)
	}

	// With the triggers off a superuser can rewrite history: verify names the event.
	srv.MustExec(t, db, `UPDATE events SET data = replace(data, 'SEC-2', 'SEC-9') WHERE seq = 2`)
	code, out, errOut = runCLI("verify", "--ledger", location)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "ledger does NOT verify: first bad sequence number 2: ") {
		t.Fatalf("tampered verify = %d, %q, %q", code, out, errOut)
	}
}

func TestPostgresVerifyLedgerFromEnvironment(t *testing.T) {
	_, _, location := pgFixture(t)
	t.Setenv(ledger.EnvLocation, location)
	if code, out, errOut := runCLI("verify"); code != 0 || !strings.HasPrefix(out, "ledger verified: 4 events, head seq 4 hash ") {
		t.Fatalf("verify with $%s = %d, %q, %q", ledger.EnvLocation, code, out, errOut)
	}
	if code, out, errOut := runCLI("grants", "--status", "expired"); code != 0 || !strings.Contains(out, "grt_c") || strings.Contains(out, "grt_a") {
		t.Fatalf("grants with $%s = %d, %q, %q", ledger.EnvLocation, code, out, errOut)
	}
	// --ledger wins over the environment.
	if code, out, errOut := runCLI("verify", "--ledger", fixture(t)); code != 0 || !strings.Contains(out, "4 events") {
		t.Fatalf("verify --ledger with $%s set = %d, %q, %q", ledger.EnvLocation, code, out, errOut)
	}
}

func TestPostgresLedgerUnreachable(t *testing.T) {
	t.Parallel()
	const password = "s3cr3t-pw"
	location := closedPortURL(t, password)
	shown := strings.TrimSuffix(strings.Replace(location, ":"+password, "", 1), "?sslmode=disable&connect_timeout=5")
	for _, args := range [][]string{
		{"verify", "--ledger", location},
		{"grants", "--ledger", location},
		{"revoke", "--ledger", location, "--grant", "grt_a", "--reason", "INC-1"},
	} {
		start := time.Now()
		code, out, errOut := runCLI(args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "cannot reach the PostgreSQL ledger "+shown+":") ||
			strings.Contains(errOut, password) {
			t.Errorf("%s = %d, %q, %q; want exit 2 naming %s without the password", args[0], code, out, errOut, shown)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v to give up on a closed port", args[0], d)
		}
	}

	// A password given as a query parameter is not shown either.
	location = strings.Replace(location, ":"+password+"@", "@", 1) + "&password=" + password
	if code, _, errOut := runCLI("verify", "--ledger", location); code != 2 || !strings.Contains(errOut, shown) || strings.Contains(errOut, password) {
		t.Errorf("verify with ?password= = %d, %q", code, errOut)
	}
}

func TestPostgresLedgerMissing(t *testing.T) {
	t.Parallel()
	srv := pgtest.Shared(t)
	empty, _ := srv.NewDatabase(t, "empty")
	for _, tt := range []struct {
		location, want string
	}{
		// The tools never create a ledger: an empty database stays empty.
		{srv.URL(empty), "no governed ledger at " + strings.TrimSuffix(srv.URL(empty), "?sslmode=disable")},
		{srv.URL(empty + "_nope"), "cannot open the PostgreSQL ledger "},
	} {
		for _, args := range [][]string{
			{"verify", "--ledger", tt.location},
			{"grants", "--ledger", tt.location},
			{"revoke", "--ledger", tt.location, "--grant", "grt_a", "--reason", "INC-1"},
		} {
			if code, out, errOut := runCLI(args...); code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("%s --ledger %s = %d, %q, %q; want exit 2 and %q", args[0], tt.location, code, out, errOut, tt.want)
			}
		}
	}
	var tables int
	srv.MustQueryRow(t, empty, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`, nil, &tables)
	if tables != 0 {
		t.Fatalf("the commands created %d tables in an empty database", tables)
	}
}

func TestPostgresGrants(t *testing.T) {
	t.Parallel()
	_, _, location := pgFixture(t)
	ctx, now := context.Background(), time.Now().UTC()
	l := openLedger(t, location)
	expires := now.Add(4 * time.Hour).Format(time.RFC3339)
	if _, err := l.RequestGrant(ctx, ledger.Grant{ID: "grt_d", Principal: "svc-batch", Entitlement: "payments-db-read",
		TicketID: "SEC-4", Target: "postgres.app", Role: "payments_read", ExpiresAt: expires}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_e", Principal: "svc-batch", Entitlement: "payments-db-write",
		TicketID: "SEC-5", Target: "postgres.app", Role: "payments_write", ExpiresAt: expires}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.RevokeGrant(ctx, "grt_e", now, ledger.ReasonOutOfBand, "INC-7", errors.New("connection refused")); err != nil {
		t.Fatal(err)
	}

	grants := func(args ...string) []ledger.Grant {
		t.Helper()
		code, out, errOut := runCLI(append([]string{"grants", "--ledger", location, "--json"}, args...)...)
		if code != 0 || errOut != "" {
			t.Fatalf("grants %v = %d, %q", args, code, errOut)
		}
		var got []ledger.Grant
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var g ledger.Grant
			if err := dec.Decode(&g); err != nil {
				t.Fatal(err)
			}
			got = append(got, g)
		}
		return got
	}
	ids := func(gs []ledger.Grant) string {
		var s []string
		for _, g := range gs {
			s = append(s, g.ID)
		}
		return strings.Join(s, " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "grt_a grt_b grt_c grt_d grt_e"},
		{[]string{"--status", "active"}, "grt_a grt_b"},
		{[]string{"--status", "expired"}, "grt_c"},
		{[]string{"--status", "pending"}, "grt_d"},
		{[]string{"--status", "revoked"}, "grt_e"},
		{[]string{"--principal", "SVC-Batch"}, "grt_d grt_e"},
		{[]string{"--entitlement", "payments-db-read"}, "grt_a grt_c grt_d"},
		{[]string{"--expiring-within", "1d"}, "grt_a"},
		{[]string{"--principal", "svc-batch", "--status", "pending"}, "grt_d"},
	} {
		if got := ids(grants(tt.args...)); got != tt.want {
			t.Errorf("grants %v = %q, want %q", tt.args, got, tt.want)
		}
	}
	if gs := grants("--status", "pending"); len(gs) != 1 || gs[0].Status != ledger.StatusPending ||
		gs[0].Target != "postgres.app" || gs[0].Role != "payments_read" || gs[0].ExpiresAt != expires {
		t.Errorf("pending grant as JSON = %+v", gs)
	}
	if gs := grants("--status", "revoked"); len(gs) != 1 || !gs[0].RevokePending || gs[0].RevokeError != "connection refused" ||
		gs[0].RevocationReason != ledger.ReasonOutOfBand {
		t.Errorf("grant pending revocation as JSON = %+v", gs)
	}

	code, out, errOut := runCLI("grants", "--ledger", location, "--status", "pending")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || errOut != "" || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") ||
		!strings.HasPrefix(lines[1], "grt_d ") || !strings.Contains(lines[1], "SEC-4") || !strings.Contains(lines[1], " pending ") ||
		strings.Contains(out, "revocation pending") {
		t.Fatalf("pending table = %d, %q, %q", code, out, errOut)
	}
	code, out, errOut = runCLI("grants", "--ledger", location)
	if code != 0 || errOut != "" || strings.Count(out, "(revocation pending)") != 1 ||
		!strings.Contains(out, "revoked (revocation pending)") ||
		!strings.Contains(out, "\n1 grant(s) are no longer active but still in force in their target") {
		t.Fatalf("table = %d, %q, %q", code, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "(revocation pending)") && !strings.HasPrefix(line, "grt_e ") {
			t.Errorf("marked pending revocation: %q", line)
		}
	}
}

// newPGTarget is one test's PostgreSQL target database, which the tests name
// "postgres.app": a governed role, and a login role for governed that holds
// it WITH ADMIN OPTION.
func newPGTarget(t *testing.T) *pgtest.Target {
	t.Helper()
	return pgtest.Shared(t).NewTarget(t, pgtest.TargetOptions{})
}

// targetFlag is the --postgres-target value naming w's database as app,
// reached as governed's login role.
func targetFlag(w *pgtest.Target) string { return "app=" + w.URL() }

// issue records in l an active grant of w's role to principal, on w's
// server as the provider records it.
func issue(t *testing.T, w *pgtest.Target, l *ledger.Ledger, id, principal string) {
	t.Helper()
	issueOn(t, w, l, id, principal, serverOf(t, w))
}

// issueOn records in l an active grant of w's role to principal, recorded as
// granted on server ("" for a grant recorded before grants kept their server).
func issueOn(t *testing.T, w *pgtest.Target, l *ledger.Ledger, id, principal, server string) {
	t.Helper()
	now := time.Now().UTC()
	if _, err := l.IssueGrant(context.Background(), ledger.Grant{ID: id, Principal: principal, Entitlement: "app-read",
		TicketID: "SEC-1", Approvers: []string{"alice@example.com"}, Target: "postgres.app", Role: w.Role,
		TargetServer: server, ExpiresAt: now.Add(8 * time.Hour).Format(time.RFC3339)}, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
}

// serverOf is the identity of w's server, as its target reports it.
func serverOf(t *testing.T, w *pgtest.Target) string {
	t.Helper()
	p, err := target.NewPostgres("app", w.URL(), target.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	server, err := p.Server(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return server
}

// pgRevokeWorld is a target with one principal holding the role under grant
// grt_app, and a PostgreSQL ledger recording it next to populate's grants.
func pgRevokeWorld(t *testing.T) (w *pgtest.Target, l *ledger.Ledger, location, principal string) {
	t.Helper()
	w = newPGTarget(t)
	_, _, location = pgFixture(t)
	l = openLedger(t, location)
	// The principal holds the role as governed's login role grants it.
	principal = w.CreatePrincipal("api")
	w.GrantAsGovernor(w.Role, principal)
	issue(t, w, l, "grt_app", principal)
	if !w.IsMember(principal, w.Role) {
		t.Fatalf("setup: %s is not a member of %s", principal, w.Role)
	}
	return w, l, location, principal
}

func TestPostgresRevokeInTarget(t *testing.T) {
	t.Parallel()
	w, l, location, principal := pgRevokeWorld(t)
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-42 key leaked",
		"--postgres-target", targetFlag(w))
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "grant grt_app revoked at ") ||
		!strings.Contains(out, "(out_of_band: INC-42 key leaked)") || !strings.Contains(out, "target postgres.app") ||
		strings.Contains(out, "WARNING") {
		t.Fatalf("revoke = %d, %q, %q", code, out, errOut)
	}
	if w.IsMember(principal, w.Role) {
		t.Fatalf("%s is still a member of %s after governed revoke", principal, w.Role)
	}
	g, err := l.Grant(context.Background(), "grt_app")
	if err != nil || g.Status != ledger.StatusRevoked || g.RevocationReason != ledger.ReasonOutOfBand ||
		g.RevocationNote != "INC-42 key leaked" || g.RevokePending || g.RevokeError != "" {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
	// The revocation is recorded before the REVOKE and its completion after.
	if code, out, errOut := runCLI("verify", "--ledger", location); code != 0 || !strings.Contains(out, "7 events") {
		t.Fatalf("verify after revoke = %d, %q, %q", code, out, errOut)
	}
	// Again: nothing to do.
	code, out, _ = runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "again", "--postgres-target", targetFlag(w))
	if code != 0 || !strings.Contains(out, "grant grt_app is already revoked since ") || !strings.Contains(out, "nothing to do") {
		t.Fatalf("revoke twice = %d, %q", code, out)
	}
}

func TestPostgresRevokeWithoutTarget(t *testing.T) {
	t.Parallel()
	w, l, location, principal := pgRevokeWorld(t)
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-43")
	if code != 1 || errOut != "" || !strings.HasPrefix(out, "grant grt_app revoked at ") ||
		!strings.Contains(out, "WARNING: the access is still in place in postgres.app: ") ||
		!strings.Contains(out, "--postgres-target") {
		t.Fatalf("revoke = %d, %q, %q", code, out, errOut)
	}
	if !w.IsMember(principal, w.Role) {
		t.Fatalf("%s lost %s though governed revoke was given no target", principal, w.Role)
	}
	g, err := l.Grant(context.Background(), "grt_app")
	if err != nil || g.Status != ledger.StatusRevoked || g.RevocationReason != ledger.ReasonOutOfBand ||
		!g.RevokePending || !strings.Contains(g.RevokeError, "postgres.app") {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
	code, out, _ = runCLI("grants", "--ledger", location, "--principal", principal)
	if code != 0 || !strings.Contains(out, "revoked (revocation pending)") {
		t.Fatalf("grants = %d, %q", code, out)
	}

	// A target given for another database does not count as this one.
	other := newPGTarget(t)
	code, out, _ = runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-43",
		"--postgres-target", "other="+other.URL())
	if code != 1 || !strings.Contains(out, "still in place") || !w.IsMember(principal, w.Role) {
		t.Fatalf("revoke with another target = %d, %q", code, out)
	}

	// As the warning says: run it again with the target to remove the access now.
	code, out, errOut = runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-43",
		"--postgres-target", targetFlag(w))
	if code != 0 || errOut != "" || w.IsMember(principal, w.Role) ||
		!strings.HasPrefix(out, "grant grt_app is already revoked since ") ||
		!strings.Contains(out, "The access is now removed from postgres.app") {
		t.Fatalf("revoke again with the target = %d, %q, %q; member still: %t", code, out, errOut, w.IsMember(principal, w.Role))
	}
	g, err = l.Grant(context.Background(), "grt_app")
	if err != nil || g.Status != ledger.StatusRevoked || g.RevocationNote != "INC-43" || g.RevokePending || g.RevokeError != "" {
		t.Fatalf("after completing the revocation: %+v, %v", g, err)
	}
	if code, out, _ := runCLI("grants", "--ledger", location, "--principal", principal); code != 0 || strings.Contains(out, "pending") {
		t.Fatalf("grants after completing = %d, %q", code, out)
	}
	if code, out, errOut := runCLI("verify", "--ledger", location); code != 0 {
		t.Fatalf("verify = %d, %q, %q", code, out, errOut)
	}
}

func TestPostgresRevokeCoveredByAnotherGrant(t *testing.T) {
	t.Parallel()
	w, l, location, principal := pgRevokeWorld(t)
	issue(t, w, l, "grt_app2", principal) // a second ticket for the same membership
	// Grants that do not cover it: one on another server under the same
	// target name, and one recorded before grants kept their server.
	issueOn(t, w, l, "grt_elsewhere", principal, "postgresql:1")
	issueOn(t, w, l, "grt_unknown", principal, "")
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-44",
		"--postgres-target", targetFlag(w))
	// The revocation is recorded, and the command warns and exits 1: the
	// access stays through the other grant.
	if code != 1 || errOut != "" || !strings.HasPrefix(out, "grant grt_app revoked at ") || !strings.Contains(out, "WARNING") ||
		!strings.Contains(out, "grt_app2") || strings.Contains(out, "grt_elsewhere") || strings.Contains(out, "grt_unknown") {
		t.Fatalf("revoke = %d, %q, %q", code, out, errOut)
	}
	if !w.IsMember(principal, w.Role) {
		t.Fatalf("revoking grt_app took away the membership grt_app2 still grants")
	}
	ctx := context.Background()
	if g, err := l.Grant(ctx, "grt_app"); err != nil || g.Status != ledger.StatusRevoked || g.RevokePending {
		t.Fatalf("grt_app after revoke: %+v, %v", g, err)
	}
	if g, err := l.Grant(ctx, "grt_app2"); err != nil || g.Status != ledger.StatusActive {
		t.Fatalf("grt_app2 after revoking grt_app: %+v, %v", g, err)
	}

	// The last grant's revocation removes the membership.
	code, out, errOut = runCLI("revoke", "--ledger", location, "--grant", "grt_app2", "--reason", "INC-44",
		"--postgres-target", targetFlag(w))
	if code != 0 || errOut != "" || w.IsMember(principal, w.Role) {
		t.Fatalf("revoke the last grant = %d, %q, %q; member still: %t", code, out, errOut, w.IsMember(principal, w.Role))
	}
}

func TestPostgresRevokeTargetUnreachable(t *testing.T) {
	t.Parallel()
	const password = "t4rget-pw"
	w, l, location, principal := pgRevokeWorld(t)
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-45",
		"--postgres-target", "app="+closedPortURL(t, password))
	if code != 1 || errOut != "" || !strings.Contains(out, "WARNING: the access is still in place in postgres.app: ") ||
		!strings.Contains(out, "cannot reach PostgreSQL target postgres.app") || strings.Contains(out, password) {
		t.Fatalf("revoke = %d, %q, %q", code, out, errOut)
	}
	if !w.IsMember(principal, w.Role) {
		t.Fatalf("membership gone though the target was unreachable")
	}
	g, err := l.Grant(context.Background(), "grt_app")
	if err != nil || g.Status != ledger.StatusRevoked || !g.RevokePending ||
		!strings.Contains(g.RevokeError, "cannot reach") || strings.Contains(g.RevokeError, password) {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}

	// Once the target answers, running it again completes the revocation.
	code, out, errOut = runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-45",
		"--postgres-target", targetFlag(w))
	if code != 0 || errOut != "" || w.IsMember(principal, w.Role) || !strings.Contains(out, "now removed from postgres.app") {
		t.Fatalf("revoke again = %d, %q, %q; member still: %t", code, out, errOut, w.IsMember(principal, w.Role))
	}
	if g, err := l.Grant(context.Background(), "grt_app"); err != nil || g.RevokePending || g.RevokeError != "" {
		t.Fatalf("after completing: %+v, %v", g, err)
	}
}

// A wrong password for a target that was given: the output says the login
// was refused, and what to fix, not to pass --postgres-target.
func TestPostgresRevokeTargetLoginFailed(t *testing.T) {
	t.Parallel()
	const password, wrong = "r1ght-pw", "wr0ng-pw"
	w, l, location, principal := pgRevokeWorld(t)
	w.RequirePassword(password)
	bad := strings.Replace(w.URLWithPassword(wrong), "sslmode=disable", "sslmode=prefer", 1)
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-46",
		"--postgres-target", "app="+bad)
	if code != 1 || errOut != "" || !strings.Contains(out, `the server refused the login of role "`+w.Governor+`"`) ||
		!strings.Contains(out, "SQLSTATE 28P01") || !strings.Contains(out, "fix the role or password of --postgres-target app=URL") ||
		!strings.Contains(out, "PGPASSWORD") || strings.Contains(out, "run this again with --postgres-target") ||
		strings.Contains(out, "cannot reach") || strings.Contains(out, "tls error") || strings.Contains(out, wrong) {
		t.Fatalf("revoke with a wrong password = %d, %q, %q", code, out, errOut)
	}
	if !w.IsMember(principal, w.Role) {
		t.Fatal("membership gone though the login was refused")
	}
	g, err := l.Grant(context.Background(), "grt_app")
	if err != nil || !g.RevokePending {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
	code, out, errOut = runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-46",
		"--postgres-target", "app="+w.URLWithPassword(password))
	if code != 0 || errOut != "" || w.IsMember(principal, w.Role) {
		t.Fatalf("revoke with the right password = %d, %q, %q; member still: %t", code, out, errOut, w.IsMember(principal, w.Role))
	}
}

func TestPostgresRevokeBadTargetFlag(t *testing.T) {
	t.Parallel()
	const password = "fl4g-pw"
	w, l, location, principal := pgRevokeWorld(t)
	ctx := context.Background()
	before, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{
		"app",
		"postgres://governor@db/app",
		"=" + w.URL(),
		"app=",
		"app=not a url",
		"app=postgres://governor:" + password + "@db:port/app",
		"app=postgres://governor:" + password + "@db:99999999/app",
		// NAME= forgotten, and the URL's query holds a '='.
		"postgres://governor:" + password + "@db/app?sslmode=disable",
		"app.x=" + w.URL(),
		// Only URLs: a keyword/value string's password would not be hidden.
		"app=host=db user=governor password=" + password,
		"app=mysql://governor:" + password + "@db/app",
	} {
		code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-46",
			"--postgres-target", value)
		if code != 2 || out != "" || !strings.Contains(errOut, "postgres-target") || !strings.Contains(errOut, "Usage: governed revoke") {
			t.Errorf("--postgres-target %q = %d, %q, %q; want a usage error", value, code, out, errOut)
		}
		if strings.Contains(errOut, password) {
			t.Errorf("--postgres-target %q: the password is in the message: %q", value, errOut)
		}
	}
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-46",
		"--postgres-target", targetFlag(w), "--postgres-target", targetFlag(w))
	if code != 2 || out != "" || !strings.Contains(errOut, `--postgres-target: target "app" is given twice`) {
		t.Errorf("--postgres-target twice = %d, %q, %q; want a usage error", code, out, errOut)
	}
	if h, err := l.Head(ctx); err != nil || h != before {
		t.Fatalf("head after refused revokes = %+v, %v; want %+v", h, err, before)
	}
	if !w.IsMember(principal, w.Role) {
		t.Fatalf("a refused revoke removed the membership")
	}
}

// governed revoke ends the principal's open sessions once its membership is
// revoked, unless told --terminate-sessions=false.
func TestPostgresRevokeTerminatesSessions(t *testing.T) {
	t.Parallel()
	for _, terminate := range []bool{true, false} {
		w, _, location, principal := pgRevokeWorld(t)
		w.Exec("GRANT pg_signal_backend TO " + pgtest.QuoteIdent(w.Governor))
		ctx := context.Background()
		session, err := pgx.Connect(ctx, w.URLAs(principal))
		if err != nil {
			t.Fatal(err)
		}
		defer session.Close(ctx)
		args := []string{"revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-50",
			"--postgres-target", targetFlag(w)}
		if !terminate {
			args = append(args, "--terminate-sessions=false")
		}
		code, out, errOut := runCLI(args...)
		if code != 0 || errOut != "" || w.IsMember(principal, w.Role) {
			t.Fatalf("terminate %v: revoke = %d, %q, %q", terminate, code, out, errOut)
		}
		if err := session.Ping(ctx); (err == nil) == terminate {
			t.Fatalf("terminate %v: after governed revoke, the principal's session answers: %v", terminate, err)
		}
	}
}

// pgLedgerDB is the name of the database that holds the PostgreSQL ledger at
// location, for the tests that damage it directly.
func pgLedgerDB(t *testing.T, location string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(location)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}

// A ledger whose recorded head was moved does not stop the revocation: the
// REVOKE runs, the revocation is recorded after a discontinuity, and the
// command exits 1 with a warning; verify goes on reporting the damage.
func TestPostgresRevokeOnDamagedLedger(t *testing.T) {
	t.Parallel()
	w, l, location, principal := pgRevokeWorld(t)
	w.Server.MustExec(t, pgLedgerDB(t, location), `UPDATE ledger_head SET seq = seq + 1`)
	_, _, before := runCLI("verify", "--ledger", location)
	if !strings.Contains(before, "first bad sequence number 6") {
		t.Fatalf("verify after the damage: %q", before)
	}
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-51",
		"--postgres-target", targetFlag(w))
	if code != 1 || !strings.HasPrefix(out, "grant grt_app revoked at ") || !strings.Contains(errOut, "WARNING: The ledger's recorded head was event 6") {
		t.Fatalf("revoke on a damaged ledger = %d, %q, %q", code, out, errOut)
	}
	if w.IsMember(principal, w.Role) {
		t.Fatal("the membership stayed on a damaged ledger")
	}
	if g, err := l.Grant(context.Background(), "grt_app"); err != nil || g.Status != ledger.StatusRevoked || g.RevocationNote != "INC-51" || g.RevokePending {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
	if code, _, after := runCLI("verify", "--ledger", location); code != 1 || !strings.HasPrefix(after, strings.TrimSuffix(before, "\n")) {
		t.Fatalf("verify after the revocation = %d, %q; want the damage reported as before: %q", code, after, before)
	}
}

// A ledger that refuses every write does not keep the access in place: the
// REVOKE runs, the command says the ledger did not record it and exits 1;
// run again once the ledger can be written, it records the revocation.
func TestPostgresRevokeOnUnwritableLedger(t *testing.T) {
	t.Parallel()
	w, l, location, principal := pgRevokeWorld(t)
	db := pgLedgerDB(t, location)
	w.Server.MustExec(t, db, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the ledger volume is read-only';
END
$$`, `CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()`)
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-52",
		"--postgres-target", targetFlag(w))
	if code != 1 || !strings.Contains(out, "was removed from postgres.app, but the ledger did not record it") ||
		!strings.Contains(errOut, "the ledger volume is read-only") {
		t.Fatalf("revoke on an unwritable ledger = %d, %q, %q", code, out, errOut)
	}
	if w.IsMember(principal, w.Role) {
		t.Fatal("an unwritable ledger kept the membership in place")
	}
	if g, err := l.Grant(context.Background(), "grt_app"); err != nil || g.Status != ledger.StatusActive {
		t.Fatalf("the ledger changed although it refused writes: %+v, %v", g, err)
	}

	w.Server.MustExec(t, db, `DROP TRIGGER refuse ON events`)
	if code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-52",
		"--postgres-target", targetFlag(w)); code != 0 || !strings.HasPrefix(out, "grant grt_app revoked at ") {
		t.Fatalf("revoke once the ledger can be written = %d, %q, %q", code, out, errOut)
	}
	if g, err := l.Grant(context.Background(), "grt_app"); err != nil || g.Status != ledger.StatusRevoked || g.RevocationNote != "INC-52" || g.RevokePending {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
}

// A member that no longer exists holds no membership: the revocation is
// complete, and the command says nothing was left to revoke.
func TestPostgresRevokeDroppedMember(t *testing.T) {
	t.Parallel()
	w, l, location, principal := pgRevokeWorld(t)
	w.Exec("DROP ROLE " + pgtest.QuoteIdent(principal))
	code, out, errOut := runCLI("revoke", "--ledger", location, "--grant", "grt_app", "--reason", "INC-53",
		"--postgres-target", targetFlag(w))
	if code != 0 || errOut != "" || strings.Contains(out, "still in place") || !strings.Contains(out, "nothing was left to revoke in postgres.app") {
		t.Fatalf("revoke of a dropped member = %d, %q, %q", code, out, errOut)
	}
	if g, err := l.Grant(context.Background(), "grt_app"); err != nil || g.RevokePending || !strings.Contains(g.RevokeNote, "does not exist") {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}
}

// A SQLite ledger file that its reader cannot write is still opened: the
// REVOKE runs, the command says the ledger did not record it and exits 1.
// As root, whom file modes do not stop, the command runs as an unprivileged
// user.
func TestPostgresRevokeOnReadOnlyLedgerFile(t *testing.T) {
	t.Parallel()
	w := newPGTarget(t)
	principal := w.CreatePrincipal("api")
	w.GrantAsGovernor(w.Role, principal)
	dir := shared(t)
	path := filepath.Join(dir, "governed.db")
	l, err := ledger.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	issue(t, w, l, "grt_app", principal)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(shared(t), "governed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building governed: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "revoke", "--ledger", path, "--grant", "grt_app", "--reason", "INC-54", "--postgres-target", targetFlag(w))
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: unprivileged(t)}
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 ||
		!strings.Contains(stdout.String(), "was removed from postgres.app, but the ledger did not record it") ||
		!strings.Contains(stderr.String(), "read-only") {
		t.Fatalf("revoke on a read-only ledger file: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if w.IsMember(principal, w.Role) {
		t.Fatal("a read-only ledger file kept the membership in place")
	}
	if g, err := openLedger(t, path).Grant(context.Background(), "grt_app"); err != nil || g.Status != ledger.StatusActive {
		t.Fatalf("the read-only ledger changed: %+v, %v", g, err)
	}
}

// shared is a new temporary directory that every user can enter and write,
// as t.TempDir's are not until their modes are changed.
func shared(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d, mode := range map[string]os.FileMode{filepath.Dir(dir): 0o755, dir: 0o777} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// unprivileged is the credential of a user that is not root.
func unprivileged(t *testing.T) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("running as root with no user nobody to run governed as: %v", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("user nobody has ids %q and %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
