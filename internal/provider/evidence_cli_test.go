package provider

import (
	"context"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

// TestAccEvidence_throughTerraform judges grants that the real Terraform CLI
// issued and, on a later apply past their expiry, revoked: the evidence reads
// what the provider recorded.
func TestAccEvidence_throughTerraform(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, `
resource "governed_grant" "prompt" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-301"
  approvers   = ["bob@example.com"]
  ttl         = "8h"
}

resource "governed_grant" "late" {
  principal   = "svc-payments-worker"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-302"
  approvers   = ["carol@example.com"]
  ttl         = "2h"
}

resource "governed_grant" "current" {
  principal   = "svc-payments-batch"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-303"
  approvers   = ["bob@example.com"]
  ttl         = "24h"
}
`)
	// The scheduled apply runs an hour after the first expiry, seven hours
	// after the second.
	env.clock.Advance(9 * time.Hour)
	h.mustRun("apply", "-input=false", "-auto-approve")

	l := env.openLedger()
	rows := map[string]*evidence.Row{}
	sum, err := evidence.Collect(context.Background(), l, evidence.Options{Now: env.clock.Now(), MaxLateness: 5 * time.Hour},
		func(r *evidence.Row) error {
			rows[r.TicketID] = r
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Grants != 3 || sum.Failed != 1 {
		t.Fatalf("summary = %+v, want 3 grants, 1 failing", sum)
	}
	for ticket, want := range map[string][3]string{
		"SEC-301": {"asserted", "yes", "yes"},
		"SEC-302": {"asserted", "yes", "no"},
		"SEC-303": {"asserted", "yes", "not_due"},
	} {
		r := rows[ticket]
		if r == nil {
			t.Fatalf("no row for %s", ticket)
		}
		if got := [3]string{r.Authorised, r.TimeBound, r.RevokedOnTime}; got != want {
			t.Errorf("%s: verdicts %v, want %v (%s; %s)", ticket, got, want, r.AuthorisedNote, r.RevokedOnTimeNote)
		}
		if r.PolicyDigest == "" || r.MaxTTL == "" || r.IssuedBy == "" || r.GrantedAt != testNow.Format(time.RFC3339) {
			t.Errorf("%s: policy %q, max_ttl %q, issued by %q, granted %q", ticket, r.PolicyDigest, r.MaxTTL, r.IssuedBy, r.GrantedAt)
		}
	}
	if r := rows["SEC-301"]; r.Lateness != "1h" || r.AccessRemovedAt != testNow.Add(9*time.Hour).Format(time.RFC3339) || r.Reason != "expired" {
		t.Errorf("SEC-301: lateness %q, removed %q, reason %q", r.Lateness, r.AccessRemovedAt, r.Reason)
	}
	if r := rows["SEC-302"]; r.Lateness != "7h" {
		t.Errorf("SEC-302: lateness %q, want 7h", r.Lateness)
	}
}

// TestAccEvidence_signedThroughTerraform: an approval that the real
// Terraform CLI recorded with the approver's SSH signature, and the grant
// under it, count as signed, with the key the policy's allowed_signers lists.
func TestAccEvidence_signedThroughTerraform(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env := newSignedEnv(t)
	h := newCLIHarness(t, env.clock, env.options...)
	h.write("main.tf", env.config(signedRecord(false)))
	h.mustRun("init", "-input=false")
	out, _ := h.run("plan", "-input=false")
	m := signCommand.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the refusal does not show the statement to sign:\n%s", out)
	}
	statement, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(h.path("approvals/SEC-101"), 0o700); err != nil {
		t.Fatal(err)
	}
	h.write("approvals/SEC-101/alice.sig", env.alice.Sign(t, policy.SignatureNamespace, string(statement)))
	h.write("main.tf", env.config(signedRecord(true)))
	h.mustRun("apply", "-input=false", "-auto-approve")

	var rows []*evidence.Row
	if _, err := evidence.Collect(context.Background(), env.openLedger(), evidence.Options{Now: env.clock.Now()},
		func(r *evidence.Row) error { rows = append(rows, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
	r := rows[0]
	if r.Authorised != evidence.AuthorisedSigned || r.Signatures != "1 of 1" || len(r.SignerKeys) != 1 ||
		!strings.Contains(r.SignerKeys[0], env.alice.Fingerprint) || r.MinApprovals == nil || *r.MinApprovals != 1 ||
		r.StatementDigest != policy.Digest(string(statement)) || len(r.AuthorisedEvents) != 3 {
		t.Fatalf("row = %+v (note %q)", r, r.AuthorisedNote)
	}
}
