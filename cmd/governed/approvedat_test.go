package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// TestVerifyBackdatedApprovalTime: a key is judged valid at the time its
// approval was approved (approved_at), which RecordApproval sets to the
// decision instant of the event that records it. An insider who holds a key
// of alice's that the organisation's allowed_signers lists only until
// yesterday (valid-before) signs an approval for svc-evil today and writes
// approved_at two days back in its payload, with the event itself decided
// now. Verification must hold approved_at to the event's decision instant,
// which the store's recording time bounds, or the lapsed key counts. On both
// stores.
func TestVerifyBackdatedApprovalTime(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			w := newSignersWorld(t)
			at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
			l, location := signersLedger(t, store)
			w.recordLegitimate(t, l, at)

			req := w.request(t, l, "svc-evil", at)
			st := w.pol.Statement(req)
			a := ledger.Approval{ID: "apr_svc-evil", TicketID: req.TicketID, Entitlement: req.Entitlement, Principal: req.Principal,
				Approvers: req.Approvers, Justification: req.Justification, Requester: req.Requester, ExpiresAt: req.ExpiresAt,
				Statement: st, Digest: policy.Digest(st), Status: ledger.ApprovalActive, ApprovedAt: at.Add(-48 * time.Hour),
				Signatures:   map[string]string{"alice@example.com": w.aliceLapsed.Sign(t, policy.SignatureNamespace, st)},
				SignerKeys:   map[string]string{"alice@example.com": w.aliceLapsed.Fingerprint},
				PolicyDigest: w.pol.Digest, Evidence: "signed",
				AllowedSignersSHA256: w.pol.Signers.AllowedSignersSHA256, RevokedKeysSHA256: w.pol.Signers.RevokedKeysSHA256}
			ctx := t.Context()
			ev, err := l.Store().AppendApproval(ctx, ledger.EventApprovalRecorded, at, a, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.UseApproval(ctx, a.ID, "grt_svc-evil", at); err != nil {
				t.Fatal(err)
			}
			if _, err := l.IssueGrant(ctx, ledger.Grant{ID: "grt_svc-evil", Principal: a.Principal, Entitlement: a.Entitlement,
				TicketID: a.TicketID, Approvers: a.Approvers, Requester: a.Requester, ApprovalID: a.ID, Target: "ledger",
				ExpiresAt: at.Add(24 * time.Hour).Format(time.RFC3339), PolicyDigest: a.PolicyDigest, Evidence: "signed"}, at); err != nil {
				t.Fatal(err)
			}
			firstBad := fmt.Sprintf("first bad sequence number %d: event %d records approval %q", ev.Seq, ev.Seq, a.ID)
			trust := []string{"--allowed-signers", w.trusted, "--revoked-keys", w.revoked, "--signers-sha256", w.pol.Signers.Pin()}
			for _, args := range [][]string{nil, trust} {
				code, out, errOut := runCLI(append([]string{"verify", "--ledger", location}, args...)...)
				if code != 1 || !strings.Contains(errOut, firstBad) || !strings.Contains(errOut, "approved at") {
					t.Errorf("verify %v of a backdated approved_at = %d, %q, %q", args, code, out, errOut)
				}
			}
			code, out, errOut := runCLI(append([]string{"evidence", "--ledger", location, "--format", "csv"}, trust...)...)
			if code != 1 || !strings.Contains(errOut, firstBad) {
				t.Errorf("evidence = %d, %q", code, errOut)
			}
			if r := csvRows(t, out)["grt_svc-evil"]; r["authorised"] != "no" || !strings.Contains(r["authorised_note"], "says it was approved at") {
				t.Errorf("the grant under the backdated approval in evidence: authorised %q, %q", r["authorised"], r["authorised_note"])
			}
		})
	}
}
