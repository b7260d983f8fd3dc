package provider

import (
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

const twoGrantsAndQueries = `
resource "governed_grant" "payments" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-401"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}

resource "governed_grant" "deploy" {
  principal   = "ci-runner-1"
  entitlement = "ci-deploy"
  ticket_id   = "OPS-402"
  approvers   = ["alice@example.com", "bob@example.com"]
  ttl         = "3d"
}

data "governed_grants" "payments" {
  entitlement = "payments-db-read"
  depends_on  = [governed_grant.payments, governed_grant.deploy]
}

data "governed_grants" "by_principal" {
  principal  = " CI-Runner-1 "
  depends_on = [governed_grant.payments, governed_grant.deploy]
}

data "governed_grants" "expiring_soon" {
  expiring_before = "2026-11-29T00:00:00Z"
  depends_on      = [governed_grant.payments, governed_grant.deploy]
}

data "governed_grants" "expired" {
  status     = "expired"
  depends_on = [governed_grant.payments, governed_grant.deploy]
}
`

func TestAccGrantsDataSource_filters(t *testing.T) {
	env := newTestEnv(t)
	size := func(name string, n int) statecheck.StateCheck {
		return statecheck.ExpectKnownValue("data.governed_grants."+name, tfjsonpath.New("grants"), knownvalue.ListSizeExact(n))
	}
	first := func(name, attr string, v knownvalue.Check) statecheck.StateCheck {
		return statecheck.ExpectKnownValue("data.governed_grants."+name, tfjsonpath.New("grants").AtSliceIndex(0).AtMapKey(attr), v)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: env.config(twoGrantsAndQueries),
				ConfigStateChecks: []statecheck.StateCheck{
					size("payments", 1),
					first("payments", "ticket_id", knownvalue.StringExact("SEC-401")),
					first("payments", "expires_at", knownvalue.StringExact(at(8*time.Hour))),
					size("by_principal", 1),
					first("by_principal", "entitlement", knownvalue.StringExact("ci-deploy")),
					size("expiring_soon", 1),
					first("expiring_soon", "principal", knownvalue.StringExact("svc-payments-api")),
					size("expired", 0),
				},
			},
			{
				PreConfig: func() { env.clock.Advance(9 * time.Hour) },
				Config:    env.config(twoGrantsAndQueries),
				ConfigStateChecks: []statecheck.StateCheck{
					size("expired", 1),
					first("expired", "ticket_id", knownvalue.StringExact("SEC-401")),
					first("expired", "active", knownvalue.Bool(false)),
				},
			},
		},
	})
}
