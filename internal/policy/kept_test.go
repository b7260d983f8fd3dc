package policy

import (
	"strings"
	"testing"
	"time"
)

// TestParseKept: a kept policy document parses without the key files
// its approval_signatures block names, which the ledger does not keep;
// Parse still refuses it.
func TestParseKept(t *testing.T) {
	t.Parallel()
	doc := `approval_signatures {
  allowed_signers = "no/such/approvers.allowed_signers"
}

entitlement "db-read" {
  max_ttl       = "7d"
  approvers     = ["alice@example.com", "bob@example.com"]
  min_approvals = 2
  principals    = ["svc-*"]
  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}
`
	if _, err := Parse("", []byte(doc)); err == nil || !strings.Contains(err.Error(), "allowed_signers") {
		t.Fatalf("Parse without the key file: %v, want it refused", err)
	}
	p, err := ParseKept([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	e := p.Entitlements["db-read"]
	if e == nil || e.MaxTTL != 7*24*time.Hour || e.MinApprovals != 2 || e.BreakGlass == nil || e.BreakGlass.MaxTTL != 4*time.Hour ||
		p.Digest != DocumentDigest([]byte(doc)) || p.Signers == nil || len(p.Signers.Allowed) != 0 {
		t.Fatalf("ParseKept = %+v, entitlement %+v", p, e)
	}
	if got := FormatDuration(25 * time.Hour); got != "1d1h" {
		t.Errorf("FormatDuration(25h) = %q", got)
	}
}
