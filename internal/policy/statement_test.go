package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func statementRequest() ApprovalRequest {
	return ApprovalRequest{
		TicketID:      "SEC-1234",
		Entitlement:   "payments-db-read",
		Principal:     "svc-payments-api",
		Approvers:     []string{"carol@example.com", "alice@example.com"},
		Justification: "Quarterly reconciliation",
		ExpiresAt:     "2026-12-01T18:00:00+01:00",
		Requester:     "dev@example.com",
		LedgerID:      "0123456789abcdef0123456789abcdef",
	}
}

// statementPolicy defines the entitlements the statement tests name.
var statementPolicy = &Policy{Entitlements: map[string]*Entitlement{
	"payments-db-read":  {Name: "payments-db-read", Target: "postgres.payments", Role: "payments_read"},
	"payments-db-write": {Name: "payments-db-write", Target: "postgres.payments", Role: "payments_write"},
}}

func TestStatement(t *testing.T) {
	t.Parallel()
	want := "governed approval v2\n" +
		"ticket: SEC-1234\n" +
		"entitlement: payments-db-read\n" +
		"target: postgres.payments\n" +
		"role: payments_read\n" +
		"principal: svc-payments-api\n" +
		"approvers: alice@example.com, carol@example.com\n" +
		"requester: dev@example.com\n" +
		"expires_at: 2026-12-01T17:00:00Z\n" +
		"justification: Quarterly reconciliation\n" +
		"ledger: 0123456789abcdef0123456789abcdef\n"
	got := statementPolicy.Statement(statementRequest())
	if got != want {
		t.Fatalf("Statement =\n%s\nwant\n%s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if d := Digest(got); d != hex.EncodeToString(sum[:]) || d != strings.ToLower(d) || len(d) != 64 {
		t.Errorf("Digest = %q", d)
	}
}

func TestStatementIsStable(t *testing.T) {
	t.Parallel()
	base := statementRequest()
	base.Approvers = []string{"ren\u00e9@example.com", "alice@example.com"}
	want := statementPolicy.Statement(base)

	variants := map[string]func(r *ApprovalRequest){
		"approvers reordered":       func(r *ApprovalRequest) { r.Approvers = []string{"alice@example.com", "ren\u00e9@example.com"} },
		"approvers in another case": func(r *ApprovalRequest) { r.Approvers = []string{"RENÉ@Example.com", " Alice@EXAMPLE.com "} },
		"approvers in NFD":          func(r *ApprovalRequest) { r.Approvers = []string{"rene\u0301@example.com", "alice@example.com"} },
		"approvers repeated": func(r *ApprovalRequest) {
			r.Approvers = []string{"alice@example.com", "ren\u00e9@example.com", "ALICE@example.com"}
		},
		"principal in another case":     func(r *ApprovalRequest) { r.Principal = " SVC-Payments-API" },
		"requester in another case":     func(r *ApprovalRequest) { r.Requester = "Dev@Example.com" },
		"requester from the provider":   func(r *ApprovalRequest) { r.Requester, r.Requesters = "", providerRequester("dev@example.com") },
		"expiry in another offset":      func(r *ApprovalRequest) { r.ExpiresAt = "2026-12-01T17:00:00Z" },
		"expiry with a zero fraction":   func(r *ApprovalRequest) { r.ExpiresAt = "2026-12-01T12:00:00.000-05:00" },
		"the resource's requester wins": func(r *ApprovalRequest) { r.Requesters = providerRequester("ci@example.com") },
	}
	for name, edit := range variants {
		r := base
		r.Approvers = append([]string(nil), base.Approvers...)
		edit(&r)
		if got := statementPolicy.Statement(r); got != want {
			t.Errorf("%s: statement changed:\n%s\nwant\n%s", name, got, want)
		}
	}

	differ := map[string]func(r *ApprovalRequest){
		"another approver":      func(r *ApprovalRequest) { r.Approvers = []string{"alice@example.com", "bob@example.com"} },
		"another ticket":        func(r *ApprovalRequest) { r.TicketID = "SEC-1235" },
		"ticket case":           func(r *ApprovalRequest) { r.TicketID = "sec-1234" },
		"another entitlement":   func(r *ApprovalRequest) { r.Entitlement = "payments-db-write" },
		"another principal":     func(r *ApprovalRequest) { r.Principal = "svc-payments-batch" },
		"another expiry":        func(r *ApprovalRequest) { r.ExpiresAt = "2026-12-01T17:00:01Z" },
		"another justification": func(r *ApprovalRequest) { r.Justification = "Audit" },
		"another requester":     func(r *ApprovalRequest) { r.Requester = "eve@example.com" },
		"another ledger":        func(r *ApprovalRequest) { r.LedgerID = "fedcba9876543210fedcba9876543210" },
	}
	for name, edit := range differ {
		r := base
		edit(&r)
		if got := statementPolicy.Statement(r); got == want || Digest(got) == Digest(want) {
			t.Errorf("%s: statement and digest did not change", name)
		}
	}
}

func TestStatementEscapes(t *testing.T) {
	t.Parallel()
	r := statementRequest()
	r.Justification = "outage\napprovers: mallory@example.com\\"
	r.Approvers = []string{"a@example.com, b@example.com"}
	r.TicketID = "SEC-1\u2028x"
	got := statementPolicy.Statement(r)
	if n := strings.Count(got, "\n"); n != 11 {
		t.Errorf("statement has %d lines, want 11:\n%s", n, got)
	}
	for _, want := range []string{
		`justification: outage\napprovers: mallory@example.com\\` + "\n",
		`approvers: a@example.com\, b@example.com` + "\n",
		`ticket: SEC-1\u2028x` + "\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("statement does not contain %q:\n%s", want, got)
		}
	}
	// Two approvers are not the same statement as one approver with a comma.
	two := statementRequest()
	two.Approvers = []string{"a@example.com", "b@example.com"}
	if statementPolicy.Statement(two) == got {
		t.Errorf("a comma inside an identity reads as two approvers")
	}
}

func TestStatementUnparsedExpiry(t *testing.T) {
	t.Parallel()
	r := statementRequest()
	r.ExpiresAt = "next week"
	if got := statementPolicy.Statement(r); !strings.Contains(got, "expires_at: next week\n") {
		t.Errorf("statement with an invalid expiry:\n%s", got)
	}
}
