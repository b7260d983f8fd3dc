# A team's setup: the ledger and the governed database are both PostgreSQL.
# Passwords come from PGPASSWORD or a password file, not from the URLs.

terraform {
  required_providers {
    governed = {
      source = "governed-entitlements/governed"
    }
  }
}

variable "ledger_url" {
  description = "The team's ledger, e.g. postgres://governor@ledger-db:5432/governed"
  type        = string
}

variable "payments_url" {
  description = "The payments database, as the provider's login role"
  type        = string
}

provider "governed" {
  ledger      = var.ledger_url
  policy_file = "${path.module}/access-policy.hcl"

  postgres_targets = {
    payments = {
      url                          = var.payments_url
      terminate_sessions_on_revoke = true
    }
  }
}

# GRANT payments_read TO "svc-payments-api", until it expires.
resource "governed_grant" "api_read" {
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-2001"
  approvers   = ["alice@example.com"]
  ttl         = "3d"
}

data "governed_unmanaged_memberships" "payments" {
  target     = "postgres.payments"
  depends_on = [governed_grant.api_read]
}

output "unmanaged_memberships" {
  value = data.governed_unmanaged_memberships.payments.memberships
}
