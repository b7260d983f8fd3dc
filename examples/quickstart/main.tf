terraform {
  required_providers {
    governed = {
      source = "governed-entitlements/governed"
    }
  }
}

# The ledger defaults to governed.db in this directory.
provider "governed" {
  policy_file = "access-policy.hcl"
  requester   = "dev@example.com"
}

variable "show_refusal" {
  description = "Add a grant that breaks policy, to see the plan refuse it."
  type        = bool
  default     = false
}

# The approval, recorded once. Its expiry is fixed when it is first planned.
resource "governed_approval_record" "reconciler" {
  ticket_id     = "SEC-1042"
  entitlement   = "payments-db-read"
  principal     = "svc-payments-reconciler"
  approvers     = ["alice@example.com"]
  justification = "Month-end reconciliation reads settled payments"
  expires_at    = timeadd(plantimestamp(), "72h")

  lifecycle {
    ignore_changes = [expires_at]
  }
}

resource "governed_grant" "reconciler" {
  principal   = "svc-payments-reconciler"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-1042"
  approvers   = ["alice@example.com"]
  approval_id = governed_approval_record.reconciler.id
  ttl         = "24h"
}

resource "governed_grant" "deploy" {
  principal   = "ci-runner-eu-1"
  entitlement = "ci-deploy"
  ticket_id   = "OPS-77"
  approvers   = ["alice@example.com", "bob@example.com"]
  ttl         = "7d"
}

# Alice asks for access and lists herself among the approvers: refused, because
# nobody may approve their own request (rule approvers.separation).
resource "governed_grant" "refused" {
  count       = var.show_refusal ? 1 : 0
  principal   = "svc-payments-api"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-1050"
  requester   = "alice@example.com"
  approvers   = ["alice@example.com", "bob@example.com"]
  ttl         = "1h"
}

# Stands in for whatever uses the access; it exists only while the grant is active.
resource "terraform_data" "reconciliation_job" {
  count = governed_grant.reconciler.active ? 1 : 0
  input = governed_grant.reconciler.id
}

output "grants" {
  value = {
    reconciler = "${governed_grant.reconciler.status}, expires ${governed_grant.reconciler.expires_at}"
    deploy     = "${governed_grant.deploy.status}, expires ${governed_grant.deploy.expires_at}"
  }
}
