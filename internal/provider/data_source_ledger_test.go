package provider

import (
	"database/sql"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
)

const grantAndLedger = `
resource "governed_grant" "g" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-501"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}

data "governed_ledger" "this" {
  depends_on = [governed_grant.g]
}
`

const secondGrant = `
resource "governed_grant" "second" {
  principal   = "svc-payments-worker"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-502"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}
`

// tamper rewrites the first event behind the ledger's back, as someone with
// write access to the file could.
func tamper(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{
		`DROP TRIGGER events_no_update`,
		`UPDATE events SET data = replace(data, 'SEC-501', 'SEC-999') WHERE seq = 1`,
	} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func TestAccLedgerDataSource_verifiesAndRefusesOnTamper(t *testing.T) {
	env := newTestEnv(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: env.config(grantAndLedger),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("data.governed_ledger.this", "verified", knownvalue.Bool(true)),
					expectAttr("data.governed_ledger.this", "head_seq", knownvalue.Int64Exact(1)),
					expectAttr("data.governed_ledger.this", "events", knownvalue.Int64Exact(1)),
					expectAttr("data.governed_ledger.this", "head_hash", knownvalue.StringRegexp(regexp.MustCompile(`^[0-9a-f]{64}$`))),
					expectAttr("data.governed_ledger.this", "first_bad_seq", knownvalue.Null()),
				},
			},
			{
				// Nothing new is granted on a ledger that does not verify, and the
				// refusal says where the chain breaks.
				PreConfig:   func() { tamper(t, env.ledger) },
				Config:      env.config(grantAndLedger + secondGrant),
				ExpectError: regexp.MustCompile(`(?s)Ledger does not verify.*sequence number 1`),
			},
			{
				// The data source reports the break, and removing the grant (which
				// removes access) still goes through.
				Config: env.config(`data "governed_ledger" "this" {}`),
				ConfigStateChecks: []statecheck.StateCheck{
					expectAttr("data.governed_ledger.this", "verified", knownvalue.Bool(false)),
					expectAttr("data.governed_ledger.this", "first_bad_seq", knownvalue.Int64Exact(1)),
				},
			},
		},
	})
}
