package provider

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"
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
			`UPDATE grants SET data = json_set(data, '$.expires_at', '2027-06-01T00:00:00Z') WHERE json_extract(data, '$.ticket_id') = 'SEC-601'`,
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
		`UPDATE grants SET data = json_set(data, '$.expires_at', '2027-06-01T00:00:00Z')`)

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
