package provider

import (
	"context"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/evidence"
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
