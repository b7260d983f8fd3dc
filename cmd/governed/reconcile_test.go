package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/pgtest"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// overdueGrant records in l an active grant of role in target to principal
// that expired an hour ago, as a grant whose configuration was removed before
// its expiry leaves it.
func overdueGrant(t *testing.T, l *ledger.Ledger, id, principal, target, role string) {
	t.Helper()
	now := time.Now().UTC()
	if _, err := l.IssueGrant(context.Background(), ledger.Grant{ID: id, Principal: principal, Entitlement: "app-read",
		TicketID: "SEC-9", Approvers: []string{"alice@example.com"}, Target: target, Role: role,
		ExpiresAt: now.Add(-time.Hour).Format(time.RFC3339)}, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// listed decodes governed grants --json.
func listed(t *testing.T, location string, args ...string) map[string]listedGrant {
	t.Helper()
	code, out, errOut := runCLI(append([]string{"grants", "--ledger", location, "--json"}, args...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("grants %v = %d, %q", args, code, errOut)
	}
	got := map[string]listedGrant{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var g listedGrant
		if err := dec.Decode(&g); err != nil {
			t.Fatal(err)
		}
		got[g.ID] = g
	}
	return got
}

// In a ledger of grants recorded only, reconcile records the expiry of a
// grant past it; governed grants tells it apart from a recorded expiry until
// then.
func TestReconcileRecordOnly(t *testing.T) {
	t.Parallel()
	path := fixture(t)
	l := openLedger(t, path)
	overdueGrant(t, l, "grt_orphan", "svc-batch", "ledger", "")
	ctx := context.Background()
	before, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("grants", "--ledger", path)
	if code != 0 || errOut != "" || !strings.Contains(out, "expired (not yet revoked)") ||
		strings.Count(out, "(not yet revoked)") != 1 || !strings.Contains(out, "1 grant(s) are past their expiry but not yet revoked") ||
		!strings.Contains(out, "governed reconcile") {
		t.Fatalf("grants = %d, %q, %q", code, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "grt_c ") && strings.Contains(line, "not yet revoked") {
			t.Fatalf("a recorded expiry is listed as not yet revoked: %q", line)
		}
	}
	gs := listed(t, path)
	if g := gs["grt_orphan"]; g.Status != ledger.StatusExpired || g.RecordedStatus != ledger.StatusActive || !g.ExpiredNotRevoked {
		t.Fatalf("orphan as JSON = %+v", g)
	}
	if g := gs["grt_c"]; g.Status != ledger.StatusExpired || g.RecordedStatus != ledger.StatusExpired || g.ExpiredNotRevoked {
		t.Fatalf("recorded expiry as JSON = %+v", g)
	}
	if g := gs["grt_a"]; g.Status != ledger.StatusActive || g.RecordedStatus != ledger.StatusActive || g.ExpiredNotRevoked {
		t.Fatalf("active grant as JSON = %+v", g)
	}

	code, out, errOut = runCLI("reconcile", "--ledger", path, "--dry-run")
	if code != 1 || errOut != "" || !strings.Contains(out, "grt_orphan") || !strings.Contains(out, "would expire") ||
		!strings.Contains(out, "1 grant(s) due; nothing was changed (--dry-run).") || strings.Contains(out, "grt_a ") {
		t.Fatalf("reconcile --dry-run = %d, %q, %q", code, out, errOut)
	}
	if h, err := l.Head(ctx); err != nil || h != before {
		t.Fatalf("head after --dry-run = %+v, %v; want %+v", h, err, before)
	}

	code, out, errOut = runCLI("reconcile", "--ledger", path)
	if code != 0 || errOut != "" || !strings.Contains(out, "expired") || !strings.Contains(out, "1 grant(s) reconciled.") {
		t.Fatalf("reconcile = %d, %q, %q", code, out, errOut)
	}
	g, err := l.Grant(ctx, "grt_orphan")
	if err != nil || g.Status != ledger.StatusExpired || g.RevocationReason != ledger.ReasonExpired || time.Since(g.RevokedAt) > time.Minute {
		t.Fatalf("orphan after reconcile: %+v, %v", g, err)
	}
	if g := listed(t, path)["grt_orphan"]; g.ExpiredNotRevoked || g.RecordedStatus != ledger.StatusExpired {
		t.Fatalf("orphan as JSON after reconcile = %+v", g)
	}
	code, out, errOut = runCLI("reconcile", "--ledger", path)
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "Nothing to reconcile") {
		t.Fatalf("reconcile again = %d, %q, %q", code, out, errOut)
	}
	if code, out, errOut := runCLI("verify", "--ledger", path); code != 0 {
		t.Fatalf("verify = %d, %q, %q", code, out, errOut)
	}

	for _, args := range [][]string{
		{"reconcile", "--ledger", path, "extra"},
		{"reconcile", "--bogus"},
		{"reconcile", "--ledger", path, "--postgres-target", "app"},
	} {
		if code, _, errOut := runCLI(args...); code != 2 || errOut == "" {
			t.Errorf("%v = %d, %q; want a usage error", args, code, errOut)
		}
	}
}

// reconcile removes memberships in the targets it is given: a grant past its
// expiry, one under a withdrawn approval and a revocation left pending. A
// grant in a target it was not given is reported, left as the ledger holds
// it, and makes it exit 1; a grant still in force is left alone.
func TestPostgresReconcile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := pgtest.Shared(t).NewTarget(t, pgtest.TargetOptions{})
	_, _, location := pgFixture(t)
	l := openLedger(t, location)
	member := map[string]string{}
	for _, name := range []string{"orphan", "withdrawn", "stuck", "live"} {
		member[name] = w.CreatePrincipal(name)
		w.GrantAsGovernor(w.Role, member[name])
	}
	now := time.Now().UTC()
	overdueGrant(t, l, "grt_orphan", member["orphan"], "postgres.app", w.Role)
	overdueGrant(t, l, "grt_elsewhere", "svc-elsewhere", "postgres.other", "other_read")
	issue(t, w, l, "grt_live", member["live"])
	issue(t, w, l, "grt_stuck", member["stuck"])
	if _, _, err := l.RevokeGrant(ctx, "grt_stuck", now, ledger.ReasonOutOfBand, "INC-7", errors.New("connection refused")); err != nil {
		t.Fatal(err)
	}
	a := ledger.Approval{ID: "apr_1", TicketID: "SEC-1", Entitlement: "app-read", Principal: member["withdrawn"],
		Approvers: []string{"alice@example.com"}, Justification: "batch", ExpiresAt: now.Add(time.Hour).Format(time.RFC3339),
		Statement: "statement", Digest: policy.Digest("statement")}
	if _, err := l.RecordApproval(ctx, a, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UseApproval(ctx, "apr_1", "grt_withdrawn", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_withdrawn", Principal: member["withdrawn"], Entitlement: "app-read",
		TicketID: "SEC-1", ApprovalID: "apr_1", Target: "postgres.app", Role: w.Role,
		ExpiresAt: now.Add(time.Hour).Format(time.RFC3339)}, now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WithdrawApproval(ctx, "apr_1", now); err != nil {
		t.Fatal(err)
	}
	before, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	members := func() string {
		var in []string
		for _, name := range []string{"orphan", "withdrawn", "stuck", "live"} {
			if w.IsMember(member[name], w.Role) {
				in = append(in, name)
			}
		}
		return strings.Join(in, " ")
	}

	// The pipeline's role may write the current-state rows (it upserts
	// them): an insider holding it hides every due grant from the indexed
	// queries. Reconcile lists its work from the events, so that it still
	// finds all four.
	conn, err := pgx.Connect(ctx, location)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE grants SET status = 'revoked', revoke_pending = false, approval_id = ''
WHERE id IN ('grt_orphan', 'grt_withdrawn', 'grt_stuck')`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `UPDATE grants SET expires_at = '2099-01-01T00:00:00Z' WHERE id = 'grt_elsewhere'`); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("reconcile", "--ledger", location, "--postgres-target", targetFlag(w), "--dry-run")
	if code != 1 || errOut != "" || !strings.Contains(out, "4 grant(s) due; nothing was changed") ||
		!strings.Contains(out, "would complete the revocation") || !strings.Contains(out, "would revoke (approval_withdrawn)") ||
		strings.Contains(out, "grt_live") {
		t.Fatalf("reconcile --dry-run = %d, %q, %q", code, out, errOut)
	}
	if h, err := l.Head(ctx); err != nil || h != before || members() != "orphan withdrawn stuck live" {
		t.Fatalf("after --dry-run: head %+v (%v), want %+v; members %q", h, err, before, members())
	}

	code, out, errOut = runCLI("reconcile", "--ledger", location, "--postgres-target", targetFlag(w))
	lines := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if id, _, ok := strings.Cut(line, " "); ok && strings.HasPrefix(id, "grt_") {
			lines[id] = line
		}
	}
	if code != 1 || errOut != "" || len(lines) != 4 ||
		!strings.Contains(lines["grt_orphan"], "expired, removed from postgres.app") ||
		!strings.Contains(lines["grt_withdrawn"], "revoked (approval_withdrawn), removed from postgres.app") ||
		!strings.Contains(lines["grt_stuck"], "revocation completed, removed from postgres.app") ||
		!strings.Contains(lines["grt_elsewhere"], "left in place: target postgres.other not given (--postgres-target)") ||
		!strings.Contains(out, "3 grant(s) reconciled; 1 left") {
		t.Fatalf("reconcile = %d, %q, %q", code, out, errOut)
	}
	if got := members(); got != "live" {
		t.Fatalf("members after reconcile = %q, want only live", got)
	}
	for id, want := range map[string]string{
		"grt_orphan":    ledger.StatusExpired + " " + ledger.ReasonExpired,
		"grt_withdrawn": ledger.StatusRevoked + " " + ledger.ReasonApprovalWithdrawn,
		"grt_stuck":     ledger.StatusRevoked + " " + ledger.ReasonOutOfBand,
		"grt_elsewhere": ledger.StatusActive + " ",
		"grt_live":      ledger.StatusActive + " ",
	} {
		g, err := l.Grant(ctx, id)
		if err != nil || g.Status+" "+g.RevocationReason != want || g.RevokePending {
			t.Errorf("%s after reconcile: %+v, %v; want %s", id, g, err, want)
		}
	}
	// The one row reconcile did not rewrite still lies, and verification
	// says so.
	if code, _, errOut := runCLI("verify", "--ledger", location); code != 1 || !strings.Contains(errOut, "grt_elsewhere") {
		t.Fatalf("verify = %d, %q", code, errOut)
	}

	// What is left is the grant in the target it was not given, every time.
	code, out, _ = runCLI("reconcile", "--ledger", location, "--postgres-target", targetFlag(w))
	if code != 1 || !strings.Contains(out, "grt_elsewhere") || strings.Contains(out, "grt_orphan") {
		t.Fatalf("reconcile again = %d, %q", code, out)
	}
}
