package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

// A requester types the principal, ticket and justification of a grant, and
// whoever writes the ledger its id: in the Markdown report none of them can
// hide the rows after it (an HTML comment), add markup or a link, or end the
// code span of the grant's id.
func TestMarkdownReportKeepsLedgerTextInert(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "governed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC().Truncate(time.Hour)
	for _, g := range []ledger.Grant{
		{ID: "grt_a` *x*", Principal: "svc-a<!--", Entitlement: "db-read", TicketID: "[click](https://evil.example)",
			Target: "ledger", Role: "reader", Approvers: []string{"<img src=x onerror=alert(1)>"}, ExpiresAt: now.Add(time.Hour).Format(time.RFC3339), Evidence: "asserted"},
		{ID: "grt_b", Principal: "svc-b", Entitlement: "db-read", TicketID: "SEC-2", Target: "ledger", Role: "reader",
			Approvers: []string{"*alice*"}, ExpiresAt: now.Add(-time.Hour).Format(time.RFC3339), Evidence: "asserted"},
	} {
		if _, err := l.IssueGrant(ctx, g, now.Add(-2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	rep, spool, err := evidence.Build(ctx, l, evidence.Options{Now: now}, evidence.Source{})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	var b bytes.Buffer
	if err := evidence.Write(&b, "md", rep, spool); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, bad := range []string{"<!--", "<img", "[click](", "*alice*"} {
		if strings.Contains(md, bad) {
			t.Errorf("the Markdown report holds %q as written:\n%s", bad, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| `grt_a") && strings.Count(line, "`")-strings.Count(line, "\\`") != 2 {
			t.Errorf("the grant id's code span does not hold together: %s", line)
		}
	}
}

// Whoever writes the ledger claims a real approval for a grant of another
// principal: the evidence does not call that grant authorised, even when the
// ledger is read without verifying it first.
func TestEvidenceHoldsAGrantToItsApprovalsScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, err := ledger.Open(ctx, filepath.Join(t.TempDir(), "governed.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	now := time.Now().UTC().Truncate(time.Hour)
	expires := now.Add(time.Hour).Format(time.RFC3339)
	statement := "governed approval v2\nticket: SEC-3\n"
	sum := sha256.Sum256([]byte(statement))
	if _, err := l.RecordApproval(ctx, ledger.Approval{ID: "apr_1", TicketID: "SEC-3", Entitlement: "db-read", Principal: "svc-api",
		Approvers: []string{"alice@example.com"}, ExpiresAt: expires, Statement: statement, Digest: hex.EncodeToString(sum[:]),
		Evidence: "asserted"}, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UseApproval(ctx, "apr_1", "grt_evil", now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_evil", Principal: "svc-evil", Entitlement: "db-read", TicketID: "SEC-3",
		Target: "ledger", Role: "reader", Approvers: []string{"alice@example.com"}, ApprovalID: "apr_1", ExpiresAt: expires,
		Evidence: "asserted"}, now.Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rep, spool, err := evidence.Build(ctx, l, evidence.Options{Now: now}, evidence.Source{})
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	var row *evidence.Row
	if err := spool.Each(func(r *evidence.Row) error { c := *r; row = &c; return nil }); err != nil {
		t.Fatal(err)
	}
	if row == nil || row.Authorised != evidence.VerdictNo || !strings.Contains(row.AuthorisedNote, `principal "svc-evil", where it approves "svc-api"`) {
		t.Fatalf("report %+v, row %+v; want grt_evil not authorised, beyond its approval's principal", rep.Summary, row)
	}
}
