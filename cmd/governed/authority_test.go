package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
	"github.com/governed-entitlements/terraform-provider-governed/internal/sshtest"
)

// TestVerifySignerWithoutAuthority: carol is in the organisation's
// allowed_signers (she approves other entitlements) but is not an approver of
// db-read. An insider who can append to the ledger records an approval for
// svc-evil that carol signed with her own key, over a statement that names
// her, and a grant under it that names alice, who has authority, as its
// approver. Every signature verifies with a key the trusted file lists for
// its signer, and the grant names an authorised approver: only the
// signers' authority tells, and verification must count only signatures of
// approvers with authority over the entitlement. On both stores.
func TestVerifySignerWithoutAuthority(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newSignersWorld(t)
			carol := sshtest.NewKey(t, "ed25519")
			org, err := os.ReadFile(w.trusted)
			if err != nil {
				t.Fatal(err)
			}
			org = append(org, []byte("carol@example.com "+carol.Public+"\n")...)
			trusted := filepath.Join(w.dir, "org.allowed_signers")
			if err := os.WriteFile(trusted, org, 0o600); err != nil {
				t.Fatal(err)
			}
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			l, location := signersLedger(t, store)
			w.recordLegitimate(t, l, at)

			req := w.request(t, l, "svc-evil", at)
			req.Approvers = []string{"carol@example.com"}
			st := w.pol.Statement(req)
			keep(t, l, at, org)
			a := ledger.Approval{ID: "apr_svc-evil", TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: req.Principal,
				Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester, ExpiresAt: req.ExpiresAt,
				Statement: st, Digest: policy.Digest(st),
				Signatures:   map[string]string{"carol@example.com": carol.Sign(t, policy.SignatureNamespace, st)},
				SignerKeys:   map[string]string{"carol@example.com": carol.Fingerprint},
				PolicyDigest: w.pol.Digest, Evidence: "signed", AllowedSignersSHA256: policy.DocumentDigest(org)}
			ctx := t.Context()
			evil, err := l.RecordApproval(ctx, a, at)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.UseApproval(ctx, a.ID, "grt_svc-evil", at); err != nil {
				t.Fatal(err)
			}
			if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_svc-evil", Principal: a.Principal, Entitlement: a.Entitlement,
				TicketID: a.TicketID, Approvers: []string{"alice@example.com"}, Requester: a.Requester, ApprovalID: a.ID, Target: "ledger",
				ExpiresAt: at.Add(24 * time.Hour).Format(time.RFC3339), PolicyDigest: a.PolicyDigest, Evidence: "signed"}, at); err != nil {
				t.Fatal(err)
			}

			firstBad := fmt.Sprintf("first bad sequence number %d: event %d records approval %q", evil.Seq, evil.Seq, evil.ID)
			for _, args := range [][]string{nil, {"--allowed-signers", trusted}} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...)
				if code != 1 || !strings.Contains(errOut, firstBad) || !strings.Contains(errOut, "with authority over") {
					t.Errorf("verify %v of an approval signed without authority = %d, %q, %q", args, code, out, errOut)
				}
			}
			code, out, errOut := runCLI("evidence", "--ledger", location, "--format", "csv", "--allowed-signers", trusted)
			if code != 1 || !strings.Contains(errOut, firstBad) {
				t.Errorf("evidence = %d, %q", code, errOut)
			}
			rows := csvRows(t, out)
			if r := rows["grt_svc-evil"]; r["authorised"] != "no" {
				t.Errorf("the grant under carol's approval in evidence: authorised %q, %q", r["authorised"], r["authorised_note"])
			}
			if r := rows["grt_svc-good"]; r["authorised"] != "signed" {
				t.Errorf("the legitimate grant in evidence: authorised %q, %q", r["authorised"], r["authorised_note"])
			}
		})
	}
}
