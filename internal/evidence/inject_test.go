package evidence_test

import (
	"bytes"
	"context"
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
