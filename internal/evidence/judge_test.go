package evidence

import (
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

const signedPolicy = `
approval_signatures {
  allowed_signers = "approvers.allowed_signers"
}

entitlement "payments-db-read" {
  target        = "ledger"
  max_ttl       = "7d"
  approvers     = ["alice@example.com", "bob@example.com"]
  min_approvals = 2
  principals    = ["svc-payments-*"]
  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}
`

func TestApprovalSignatures(t *testing.T) {
	t.Parallel()
	alice, bob, mallory := sshtest.NewKey(t, "ed25519"), sshtest.NewKey(t, "ecdsa"), sshtest.NewKey(t, "ed25519")
	statement := "governed approval v2\nticket: SEC-1\nentitlement: payments-db-read\nprincipal: \nexpires_at: \n"
	signed := func() ledger.Approval {
		return ledger.Approval{ID: "apr_1", TicketID: "SEC-1", Entitlement: "payments-db-read", Approvers: []string{"Alice@example.com", "bob@example.com"},
			Statement: statement, Digest: policy.Digest(statement), Evidence: policy.EvidenceSigned,
			Signatures: map[string]string{"Alice@example.com": alice.Sign(t, policy.SignatureNamespace, statement),
				"bob@example.com": bob.Sign(t, policy.SignatureNamespace, statement)},
			SignerKeys: map[string]string{"alice@example.com": alice.Fingerprint, "bob@example.com": bob.Fingerprint}}
	}
	j := NewJudge()
	if n, problem := j.Approval(signed(), []byte(signedPolicy), ledger.SignersDocuments{}); problem != "" || n != 2 {
		t.Fatalf("Approval of a record signed by both = %d, %q", n, problem)
	}
	for name, tc := range map[string]struct {
		change func(a *ledger.Approval)
		want   string
	}{
		"statement changed after signing": {func(a *ledger.Approval) {
			a.Statement += "justification: changed\n"
			a.Digest = policy.Digest(a.Statement)
		}, "verifies over its statement"},
		"statement about another ticket, kept with this record": {func(a *ledger.Approval) { a.TicketID = "SEC-2" },
			`whose ticket is "SEC-1", not "SEC-2", so its signatures say nothing about it`},
		"statement about another principal": {func(a *ledger.Approval) { a.Principal = "svc-evil" },
			`whose principal is "", not "svc-evil"`},
		"record with another expiry than its statement": {func(a *ledger.Approval) { a.ExpiresAt = "2099-01-01T00:00:00Z" },
			`whose expires_at is "", not "2099-01-01T00:00:00Z"`},
		"digest not the statement's": {func(a *ledger.Approval) { a.Digest = strings.Repeat("0", 64) }, "not the SHA-256 of its statement"},
		"another key recorded":       {func(a *ledger.Approval) { a.SignerKeys["bob@example.com"] = mallory.Fingerprint }, mallory.Fingerprint},
		"signature in another namespace": {func(a *ledger.Approval) {
			a.Signatures["bob@example.com"] = bob.Sign(t, "git", statement)
		}, "verifies over its statement"},
		"a key for someone who did not approve": {func(a *ledger.Approval) { a.SignerKeys["carol@example.com"] = mallory.Fingerprint },
			`"carol@example.com", who is not one of its approvers`},
		"one key for two approvers": {func(a *ledger.Approval) { a.SignerKeys["bob@example.com"] = alice.Fingerprint }, "one key counts for one approver"},
		"fewer signatures than the policy requires": {func(a *ledger.Approval) {
			delete(a.SignerKeys, "bob@example.com")
		}, "requires signed approvals, 2 for \"payments-db-read\", and it carries 1"},
		"asserted under a policy that requires signatures": {func(a *ledger.Approval) {
			a.Evidence, a.Signatures, a.SignerKeys = policy.EvidenceAsserted, nil, nil
		}, "requires signed approvals"},
	} {
		a := signed()
		tc.change(&a)
		if _, problem := j.Approval(a, []byte(signedPolicy), ledger.SignersDocuments{}); !strings.Contains(problem, tc.want) {
			t.Errorf("%s: problem = %q, want %q", name, problem, tc.want)
		}
	}
}

func TestGrantUnderPolicy(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	grant := func() ledger.Grant {
		return ledger.Grant{ID: "grt_1", Principal: "svc-payments-api", Entitlement: "payments-db-read", ApprovalID: "apr_1",
			Approvers: []string{"alice@example.com", "BOB@example.com"}, ExpiresAt: at.Add(7 * 24 * time.Hour).Format(time.RFC3339)}
	}
	j := NewJudge()
	doc := []byte(signedPolicy)
	if problem := j.Grant(grant(), at, 2, doc); problem != "" {
		t.Fatalf("Grant within the policy = %q", problem)
	}
	bg := ledger.Grant{ID: "grt_bg", Principal: "svc-payments-api", Entitlement: "payments-db-read", BreakGlass: true,
		ExpiresAt: at.Add(4 * time.Hour).Format(time.RFC3339)}
	if problem := j.Grant(bg, at, -1, doc); problem != "" {
		t.Fatalf("break-glass Grant within its rules = %q", problem)
	}
	for name, tc := range map[string]struct {
		g       func() ledger.Grant
		signers int
		want    string
	}{
		"beyond max_ttl": {func() ledger.Grant {
			g := grant()
			g.ExpiresAt = "2099-01-01T00:00:00Z"
			return g
		}, 2, "later than its max_ttl"},
		"break-glass beyond its max_ttl": {func() ledger.Grant {
			g := bg
			g.ExpiresAt = at.Add(5 * time.Hour).Format(time.RFC3339)
			return g
		}, -1, "break-glass max_ttl (4h0m0s)"},
		"no approval record": {func() ledger.Grant {
			g := grant()
			g.ApprovalID = ""
			return g
		}, -1, "names no approval record, and the policy requires signed approvals"},
		"too few signatures": {grant, 1, "carries 1 verified signature(s), and the policy requires 2"},
		"too few approvers": {func() ledger.Grant {
			g := grant()
			g.Approvers = []string{"alice@example.com", "mallory@example.com"}
			return g
		}, 2, "names 1 approver(s) with authority"},
		"unknown entitlement": {func() ledger.Grant {
			g := grant()
			g.Entitlement = "root"
			return g
		}, 2, `entitlement "root" is not defined`},
		"principal not allowed": {func() ledger.Grant {
			g := grant()
			g.Principal = "svc-evil"
			return g
		}, 2, `does not allow principal "svc-evil"`},
	} {
		if problem := j.Grant(tc.g(), at, tc.signers, doc); !strings.Contains(problem, tc.want) {
			t.Errorf("%s: problem = %q, want %q", name, problem, tc.want)
		}
	}
	if problem := j.Grant(grant(), at, 2, []byte("entitlement {")); !strings.Contains(problem, "cannot be read") {
		t.Errorf("Grant under an unreadable policy = %q", problem)
	}
}

// BenchmarkJudgeSignedApproval measures what holding a signed approval (two
// approvers) to key files costs verification, against the baseline of the
// recorded keys alone, in the same run: "kept" adds the allowed_signers the
// ledger keeps, "kept+trusted" also the auditor's file.
func BenchmarkJudgeSignedApproval(b *testing.B) {
	alice, bob := sshtest.NewKey(b, "ed25519"), sshtest.NewKey(b, "ed25519")
	statement := "governed approval v2\nticket: SEC-1\nentitlement: payments-db-read\nprincipal: \nexpires_at: \n"
	file := []byte("alice@example.com " + alice.Public + "\nbob@example.com " + bob.Public + "\n")
	a := ledger.Approval{ID: "apr_1", TicketID: "SEC-1", Entitlement: "payments-db-read", Approvers: []string{"alice@example.com", "bob@example.com"},
		Statement: statement, Digest: policy.Digest(statement), Evidence: policy.EvidenceSigned,
		Signatures: map[string]string{"alice@example.com": alice.Sign(b, policy.SignatureNamespace, statement),
			"bob@example.com": bob.Sign(b, policy.SignatureNamespace, statement)},
		SignerKeys: map[string]string{"alice@example.com": alice.Fingerprint, "bob@example.com": bob.Fingerprint}}
	trusted, err := policy.ParseSigners("trusted", file, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		trust Trust
		kept  bool
	}{{"recorded", Trust{}, false}, {"kept", Trust{}, true}, {"kept+trusted", Trust{Signers: trusted}, true}} {
		b.Run(bc.name, func(b *testing.B) {
			j := NewTrustingJudge(bc.trust)
			rec, docs := a, ledger.SignersDocuments{}
			if bc.kept {
				rec.AllowedSignersSHA256, docs.AllowedSigners = policy.DocumentDigest(file), file
			}
			for b.Loop() {
				if n, problem := j.Approval(rec, []byte(signedPolicy), docs); problem != "" || n != 2 {
					b.Fatalf("Approval = %d, %q", n, problem)
				}
			}
		})
	}
}
