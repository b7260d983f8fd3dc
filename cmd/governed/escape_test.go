package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
)

func TestEscaping(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain text\n\tindented": "plain text\n\tindented",
		"\x1b[2Jcleared":         `\x1b[2Jcleared`,
		"over\rwritten\x00":      `over\x0dwritten\x00`,
		"C1 \u009b2J":            `C1 \u009b2J`,
		"bidi \u202egnp.exe":     `bidi \u202egnp.exe`,
		"not UTF-8 \xff":         `not UTF-8 \xff`,
		"René ✓":                 "René ✓",
	} {
		var b bytes.Buffer
		if n, err := (escaping{&b}).Write([]byte(in)); err != nil || n != len(in) || b.String() != want {
			t.Errorf("escaping %q = %q (%d, %v), want %q", in, b.String(), n, err, want)
		}
	}
}

// A ledger holding terminal escapes (written by someone with access to it,
// past the plan's checks) is listed with them written out.
func TestGrantsEscapeTerminalControls(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := ledger.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := l.IssueGrant(context.Background(), ledger.Grant{ID: "grt_x", Principal: "svc-\x1b]0;owned\x07api",
		Entitlement: "payments-db-read", TicketID: "SEC-1\r\x1b[2K", Target: "ledger",
		ExpiresAt: now.Add(time.Hour).Format(time.RFC3339)}, now); err != nil {
		t.Fatal(err)
	}
	l.Close()
	code, out, errOut := runCLI("grants", "--ledger", path)
	if code != 0 || strings.ContainsAny(out, "\x1b\x07\r") || !strings.Contains(out, `svc-\x1b]0;owned\x07api`) ||
		!strings.Contains(out, `SEC-1\x0d\x1b[2K`) {
		t.Fatalf("grants = %d, %q, %q", code, out, errOut)
	}
}
