package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// fixture writes a SQLite ledger with three grants and returns its path.
func fixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	populate(t, path)
	return path
}

// populate creates the ledger at location (a SQLite path or a PostgreSQL URL)
// and records three grants in four events: grt_a and grt_b active, grt_c
// expired.
func populate(t *testing.T, location string) {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.Open(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC()
	for _, g := range []ledger.Grant{
		{ID: "grt_a", Principal: "svc-payments", Entitlement: "payments-db-read", TicketID: "SEC-1", Target: "ledger", ExpiresAt: now.Add(2 * time.Hour).Format(time.RFC3339)},
		{ID: "grt_b", Principal: "svc-payments", Entitlement: "payments-db-write", TicketID: "SEC-2", Target: "ledger", ExpiresAt: now.Add(10 * 24 * time.Hour).Format(time.RFC3339)},
		{ID: "grt_c", Principal: "svc-reports", Entitlement: "payments-db-read", TicketID: "SEC-3", Target: "ledger", ExpiresAt: now.Add(3 * 24 * time.Hour).Format(time.RFC3339)},
	} {
		if _, err := l.IssueGrant(ctx, g, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := l.ExpireGrant(ctx, "grt_c", now, nil); err != nil {
		t.Fatal(err)
	}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestVerify(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	code, out, errOut := runCLI("verify", "--ledger", path)
	if code != 0 || !strings.HasPrefix(out, "ledger verified: 4 events, head seq 4 hash ") || errOut != "" {
		t.Fatalf("verify = %d, %q, %q", code, out, errOut)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER events_no_update; UPDATE events SET data = replace(data, 'SEC-2', 'SEC-9') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI("verify", "--ledger", "sqlite:"+path)
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "ledger does NOT verify: first bad sequence number 2: ") {
		t.Fatalf("tampered verify = %d, %q, %q", code, out, errOut)
	}
}

func TestVerifyTriggersDropped(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DROP TRIGGER events_no_delete`); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI("verify", "--ledger", path)
	if code != 1 || errOut != "ledger does NOT verify: append-only triggers are missing\n" {
		t.Fatalf("verify = %d, %q", code, errOut)
	}
}

func TestVerifyLedgerErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		location string
		want     string
	}{
		{filepath.Join(dir, "missing.db"), "does not exist"},
		{filepath.Join(dir, "nope", "ledger.db"), "does not exist"},
		{"sqlite:", "names no file"},
		{"mysql://db/ledger", "unsupported ledger location"},
	} {
		code, out, errOut := runCLI("verify", "--ledger", tt.location)
		if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
			t.Errorf("verify %s = %d, %q, %q", tt.location, code, out, errOut)
		}
	}
}

func TestVerifyLedgerFromEnvironment(t *testing.T) {
	path := fixture(t)
	t.Setenv(ledger.EnvLocation, path)
	if code, out, errOut := runCLI("verify"); code != 0 || !strings.Contains(out, "4 events") {
		t.Fatalf("verify with $%s = %d, %q, %q", ledger.EnvLocation, code, out, errOut)
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	code, out, errOut := runCLI("revoke", "--ledger", path, "--grant", "grt_a", "--reason", "INC-42 key leaked")
	if code != 0 || !strings.HasPrefix(out, "grant grt_a revoked at ") || !strings.Contains(out, "(out_of_band: INC-42 key leaked)") {
		t.Fatalf("revoke = %d, %q, %q", code, out, errOut)
	}
	l, err := ledger.OpenExisting(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g, err := l.Grant(context.Background(), "grt_a")
	if err != nil || g.Status != ledger.StatusRevoked || g.RevocationReason != ledger.ReasonOutOfBand ||
		g.RevocationNote != "INC-42 key leaked" || time.Since(g.RevokedAt) > time.Minute {
		t.Fatalf("after revoke: %+v, %v", g, err)
	}

	// Again: nothing to do, not an error.
	code, out, _ = runCLI("revoke", "--ledger", path, "--grant", "grt_a", "--reason", "again")
	if code != 0 || !strings.Contains(out, "grant grt_a is already revoked since ") || !strings.Contains(out, "nothing to do") {
		t.Fatalf("revoke twice = %d, %q", code, out)
	}
	code, out, _ = runCLI("revoke", "--ledger", path, "--grant", "grt_c", "--reason", "cleanup")
	if code != 0 || !strings.Contains(out, "already expired") {
		t.Fatalf("revoke expired = %d, %q", code, out)
	}
	if h, _ := l.Head(context.Background()); h.Seq != 5 {
		t.Fatalf("head after one revocation and two no-ops = %d, want 5", h.Seq)
	}

	code, _, errOut = runCLI("revoke", "--ledger", path, "--grant", "grt_zzz", "--reason", "x")
	if code != 1 || !strings.Contains(errOut, `grant "grt_zzz" is not in the ledger`) {
		t.Fatalf("revoke unknown = %d, %q", code, errOut)
	}
	for _, args := range [][]string{
		{"revoke", "--ledger", path, "--grant", "grt_b"},
		{"revoke", "--ledger", path, "--grant", "grt_b", "--reason", "   "},
		{"revoke", "--ledger", path, "--reason", "why"},
		{"revoke", "--ledger", path, "--grant", "grt_b", "--reason", "x", "extra"},
		{"revoke", "--bogus"},
		{"revoke", "--ledger", path, "--grant", "grt_b", "--reason", strings.Repeat("x", 4097)},
		{"revoke", "--ledger", path, "--grant", "grt_b", "--reason", "INC-1\x1b[2Jcleared"},
		{"revoke", "--ledger", path, "--grant", "grt_b", "--reason", "INC-1\x00"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 || errOut == "" {
			t.Errorf("%v = %d, %q; want a usage error", args, code, errOut)
		}
	}
	if g, _ := l.Grant(context.Background(), "grt_b"); g.Status != ledger.StatusActive {
		t.Fatalf("a refused revoke changed grt_b: %+v", g)
	}
}

func TestGrants(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	ids := func(args ...string) []string {
		t.Helper()
		code, out, errOut := runCLI(append([]string{"grants", "--ledger", path, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("grants %v = %d, %q", args, code, errOut)
		}
		var got []string
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var g ledger.Grant
			if err := dec.Decode(&g); err != nil {
				t.Fatal(err)
			}
			got = append(got, g.ID)
		}
		return got
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "grt_a grt_b grt_c"},
		{[]string{"--status", "active"}, "grt_a grt_b"},
		{[]string{"--status", "expired"}, "grt_c"},
		{[]string{"--principal", "SVC-Payments"}, "grt_a grt_b"},
		{[]string{"--entitlement", "payments-db-read"}, "grt_a grt_c"},
		{[]string{"--expiring-within", "1d"}, "grt_a"},
		{[]string{"--expiring-within", "2w"}, "grt_a grt_b"},
		{[]string{"--expiring-within", "90m"}, ""},
		{[]string{"--principal", "svc-reports", "--status", "active"}, ""},
	} {
		if got := strings.Join(ids(tt.args...), " "); got != tt.want {
			t.Errorf("grants %v = %q, want %q", tt.args, got, tt.want)
		}
	}

	code, out, _ := runCLI("grants", "--ledger", path, "--status", "active")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "EXPIRES_AT") ||
		!strings.HasPrefix(lines[1], "grt_a ") || !strings.Contains(lines[1], "SEC-1") || !strings.Contains(lines[1], "active") {
		t.Fatalf("table = %d, %q", code, out)
	}

	for _, args := range [][]string{
		{"grants", "--ledger", path, "--status", "gone"},
		{"grants", "--ledger", path, "--expiring-within", "soon"},
		{"grants", "--ledger", path, "--expiring-within", "-1d"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 || errOut == "" {
			t.Errorf("%v = %d, %q; want a usage error", args, code, errOut)
		}
	}
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 2, "", "Usage: governed"},
		{[]string{"help"}, 0, "Usage: governed", ""},
		{[]string{"-h"}, 0, "Usage: governed", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"verify", "-h"}, 0, "", "Usage: governed verify"},
		{[]string{"grants", "-h"}, 0, "", "--expiring-within"},
		{[]string{"revoke", "-h"}, 0, "", "--postgres-target"},
		{[]string{"reconcile", "-h"}, 0, "", "--dry-run"},
		{[]string{"help"}, 0, "reconcile [--postgres-target NAME=URL]...", ""},
	} {
		code, out, errOut := runCLI(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) ||
			(tt.stdout == "" && out != "") {
			t.Errorf("%v = %d, %q, %q", tt.args, code, out, errOut)
		}
	}
}

// Help names flags as the usage lines write them (--name), gives each default
// once, and one bad value gets its message and the synopsis, not the whole
// help.
func TestFlagHelp(t *testing.T) {
	t.Parallel()
	_, _, help := runCLI("revoke", "-h")
	if !strings.Contains(help, "\n  --ledger string\n") || strings.Contains(help, "\n  -ledger") ||
		strings.Contains(help, "(default true)") || strings.Count(help, "default") != 2 {
		t.Errorf("revoke -h:\n%s", help)
	}
	// Every subcommand's help is the synopsis and the flags, once, written as --name.
	for _, sub := range []string{"verify", "revoke", "grants", "reconcile", "review", "evidence", "history", "approvals"} {
		code, out, help := runCLI(sub, "-h")
		if code != 0 || out != "" || strings.Count(help, "Usage: governed "+sub+" ") != 1 ||
			strings.Count(help, "\nFlags:\n") != 1 || strings.Contains(help, "\n  -") && !strings.Contains(help, "\n  --") {
			t.Errorf("%s -h = %d, %q, %q; want its synopsis and flags once", sub, code, out, help)
		}
		if strings.Contains(help, "\n  -"+"format") || strings.Contains(help, "\n  -"+"json") || strings.Contains(help, "\n  -"+"plan") {
			t.Errorf("%s -h names a flag with one dash:\n%s", sub, help)
		}
	}
	if _, _, help := runCLI("review", "-h"); !strings.Contains(help, "Exit codes: 0 nothing blocks") {
		t.Errorf("review -h does not give the exit codes:\n%s", help)
	}
	code, out, errOut := runCLI("history", "--nope", "grt_x")
	if code != 2 || out != "" || !strings.Contains(errOut, "flag provided but not defined: --nope") ||
		!strings.Contains(errOut, `Run "governed history -h" for its flags.`) {
		t.Errorf("history with a bad flag = %d, %q, %q; want exit 2 and the message", code, out, errOut)
	}
	code, out, errOut = runCLI("history", "grt_x", "--json")
	if code != 2 || out != "" || !strings.Contains(errOut, "flags go before the grant: governed history --json grt_x") {
		t.Errorf("history with a flag after the grant = %d, %q, %q; want exit 2 and where flags go", code, out, errOut)
	}
	_, _, help = runCLI("checkpoint", "keygen", "-h")
	if strings.Count(help, "(default checkpoint.key)") != 1 {
		t.Errorf("checkpoint keygen -h:\n%s", help)
	}
	code, out, errOut = runCLI("revoke", "--terminate-sessions=maybe")
	if code != 2 || out != "" || !strings.Contains(errOut, `invalid boolean value "maybe" for --terminate-sessions`) ||
		strings.Contains(errOut, "Flags:") || !strings.Contains(errOut, `Run "governed revoke -h" for its flags.`) {
		t.Errorf("a bad value = %d, %q, %q", code, out, errOut)
	}
}
