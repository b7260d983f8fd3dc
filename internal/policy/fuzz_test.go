package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// Fuzz tests of what the policy reads from people: documents, identities,
// principal patterns, and the statements approvers sign (durations and
// timestamps have theirs beside their tests). `make fuzz` runs each for a few
// seconds; the seeds run with every `go test`.

func FuzzParse(f *testing.F) {
	f.Add([]byte(evalPolicy))
	f.Add([]byte(`entitlement "e" { max_ttl = "1h" approvers = ["a@example.com"] principals = ["svc-*"] }`))
	f.Add([]byte(`{"entitlement": {"e": {"max_ttl": "1d", "approvers": ["a"], "principals": ["p"]}}}`))
	f.Add([]byte(`identity "a@example.com" { aliases = ["github:a"] }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse("fuzz.hcl", src)
		if err != nil {
			if p != nil {
				t.Fatal("Parse returned a policy and an error")
			}
			return
		}
		sum := sha256.Sum256(src)
		if p.Digest != hex.EncodeToString(sum[:]) || len(p.Entitlements) == 0 {
			t.Fatalf("parsed policy: digest %q, %d entitlements", p.Digest, len(p.Entitlements))
		}
	})
}

func FuzzNormalizeIdentity(f *testing.F) {
	for _, s := range []string{"Alice@Example.com ", "rene\u0301@example.com", "RENÉ@EXAMPLE.COM", "\u212a", "ß", "", " \t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeIdentity(s)
		if again := NormalizeIdentity(n); again != n {
			t.Fatalf("NormalizeIdentity is not idempotent on %q: %q then %q", s, n, again)
		}
	})
}

func FuzzMatchGlob(f *testing.F) {
	f.Add("svc-payments-*", "svc-payments-api")
	f.Add("svc-?-api", "svc-x-api")
	f.Add("*a*b*c*", "xxaxxbxxc")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := matchGlob(pattern, name)
		if !strings.ContainsAny(pattern, "*?") && got != (pattern == name) {
			t.Fatalf("matchGlob(%q, %q) = %v for a pattern without wildcards", pattern, name, got)
		}
		if matchGlob("*", name) != true {
			t.Fatalf(`matchGlob("*", %q) = false`, name)
		}
	})
}

// FuzzStatement: no value, however written, adds a line to a statement or
// removes one, so no field can forge another.
func FuzzStatement(f *testing.F) {
	f.Add("SEC-1", "payments-db-read", "svc-payments-api", "alice@example.com", "dev@example.com", "2026-12-01T17:00:00Z", "outage", "0123")
	f.Add("SEC-1\napprovers: mallory", "e\r", "p\u2028", "a, b", "\\", "x", "j\x00", "l\n")
	f.Fuzz(func(t *testing.T, ticket, entitlement, principal, approver, requester, expires, justification, ledgerID string) {
		s := statementPolicy.Statement(ApprovalRequest{TicketID: ticket, Entitlement: entitlement, Principal: principal,
			Approvers: []string{approver}, Requester: requester, ExpiresAt: expires, Justification: justification, LedgerID: ledgerID})
		if n := strings.Count(s, "\n"); n != 11 {
			t.Fatalf("statement has %d lines:\n%s", n, s)
		}
		if !strings.HasPrefix(s, statementHeader+"\n") {
			t.Fatalf("statement does not open with its header:\n%s", s)
		}
	})
}
