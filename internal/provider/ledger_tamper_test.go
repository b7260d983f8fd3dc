package provider

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/governed-entitlements/terraform-provider-governed/internal/ledger"
	"github.com/governed-entitlements/terraform-provider-governed/internal/policy"
)

const twoGrants = `
resource "governed_grant" "first" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-601"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}

resource "governed_grant" "second" {
  principal   = "svc-payments-worker"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-602"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
  depends_on  = [governed_grant.first] # so that it is event 2
}
`

const thirdGrant = `
resource "governed_grant" "third" {
  principal   = "svc-payments-batch"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-603"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}
`

// execSQL changes the ledger file directly, as someone with write access to
// it could, bypassing the ledger's code.
func execSQL(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range stmts {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// Each way of tampering with the ledger file stops new grants, with a plan
// error that names the first bad sequence number.
func TestAccLedger_tamperRefusesNewGrants(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	cases := []struct {
		name    string
		tamper  []string
		wantSeq int
	}{
		{"changed event", []string{
			`DROP TRIGGER events_no_update`,
			`UPDATE events SET data = replace(data, 'SEC-601', 'SEC-999') WHERE seq = 1`,
		}, 1},
		{"deleted event", []string{
			`DROP TRIGGER events_no_delete`,
			`DELETE FROM events WHERE seq = 1`,
		}, 1},
		{"reordered events", []string{
			`DROP TRIGGER events_no_update`,
			`UPDATE events SET seq = -1 WHERE seq = 1`,
			`UPDATE events SET seq = 1 WHERE seq = 2`,
			`UPDATE events SET seq = 2 WHERE seq = -1`,
		}, 1},
		{"cut tail", []string{
			`DROP TRIGGER events_no_delete`,
			`DELETE FROM events WHERE seq = 2`,
		}, 2},
		{"edited current state", []string{
			`UPDATE grants SET expires_unix = unixepoch('2027-06-01T00:00:00Z')
WHERE id = (SELECT subject FROM events WHERE json_extract(data, '$.ticket_id') = 'SEC-601')`,
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env, h := appliedHarness(t, twoGrants)
			execSQL(t, env.ledger, tc.tamper...)

			h.write("main.tf", env.config(twoGrants+thirdGrant))
			out, err := h.run("plan", "-input=false")
			want := fmt.Sprintf("sequence number %d", tc.wantSeq)
			if err == nil || !strings.Contains(out, "Ledger does not verify") || !strings.Contains(out, want) {
				t.Fatalf("plan on a tampered ledger: err=%v; want a refusal naming %q\n%s", err, want, out)
			}
		})
	}
}

// A current-state row edited to push an expiry out does not keep the grant
// alive: the grant is read from its events, and expires on time.
func TestAccLedger_editedStateRowDoesNotExtend(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, twoGrants)
	execSQL(t, env.ledger,
		`UPDATE grants SET expires_unix = unixepoch('2027-06-01T00:00:00Z')`)

	env.clock.Advance(9 * time.Hour)
	for _, args := range [][]string{{}, {"-refresh=false"}} {
		changes, out := h.plan(args...)
		for _, addr := range []string{"governed_grant.first", "governed_grant.second"} {
			if c := changes[addr]; actions(c) != "update" || c.Change.After["status"] != "expired" {
				t.Fatalf("%v %s: planned %q status %v; want an update to expired\n%s", args, addr, actions(c), c.Change.After["status"], out)
			}
		}
		if !strings.Contains(out, "Ledger does not verify") {
			t.Fatalf("%v: the plan does not warn that the ledger fails verification:\n%s", args, out)
		}
	}
}

// A grant.issued appended behind governed's back, correctly chained (as the
// pipeline's least-privileged database role could), for a principal with no
// approval and an expiry in 2099: the ledger fails verification of meaning,
// naming that event, so new grants are refused; the revocation of a grant
// whose configuration is removed, and expiries, still go through.
func TestAccLedger_forgedGrantRefusesNewGrantsButRevokes(t *testing.T) {
	skipUnlessAcc(t)
	t.Parallel()
	env, h := appliedHarness(t, twoGrants)
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		forged := ledger.Grant{ID: "grt_forged", Principal: "svc-payments-evil", Entitlement: "payments-db-read",
			TicketID: "SEC-601", Approvers: []string{"alice@example.com"}, Target: "ledger", Role: "payments_read",
			ExpiresAt: "2099-01-01T00:00:00Z", Status: ledger.StatusActive, GrantedAt: testNow,
			PolicyDigest: env.keepPolicy(l), Evidence: policy.EvidenceAsserted}
		if _, err := l.Store().AppendGrant(ctx, ledger.EventGrantIssued, testNow, forged, 0); err != nil {
			t.Fatal(err)
		}
	})

	h.write("main.tf", env.config(twoGrants+thirdGrant))
	out, err := h.run("plan", "-input=false")
	out = strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"Ledger does not verify", "sequence number 3", `grant "grt_forged"`, "max_ttl"} {
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("plan of a new grant on a ledger with a forged grant: err=%v; want a refusal naming %q\n%s", err, want, out)
		}
	}

	// Removing a grant from the configuration revokes it.
	secondOnly := twoGrants[strings.Index(twoGrants, `resource "governed_grant" "second"`):]
	secondOnly = strings.Replace(secondOnly, "depends_on  = [governed_grant.first] # so that it is event 2", "", 1)
	h.write("main.tf", env.config(secondOnly))
	h.mustRun("apply", "-input=false", "-auto-approve")
	withLedger(t, env.ledger, func(ctx context.Context, l *ledger.Ledger) {
		gs, err := l.Grants(ctx, ledger.GrantFilter{Principal: "svc-payments-api"})
		if err != nil || len(gs) != 1 || gs[0].Status != ledger.StatusRevoked || gs[0].RetiredAt.IsZero() {
			t.Fatalf("the removed grant after the apply: %+v, %v; want it revoked and retired", gs, err)
		}
	})

	// The other expires on time.
	env.clock.Advance(8*time.Hour + time.Minute)
	h.mustRun("apply", "-input=false", "-auto-approve")
	if got := h.stateAttr("governed_grant.second", "status"); got != ledger.StatusExpired {
		t.Errorf("governed_grant.second after the apply past its expiry: status %v, want expired", got)
	}
}
