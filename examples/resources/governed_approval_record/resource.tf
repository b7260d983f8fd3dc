# The approval's expiry is written out once, not computed on every plan:
# a new value would be a new approval. For example, three days ahead:
#   export TF_VAR_approval_expires_at=$(date -u -d '+3 days' +%Y-%m-%dT%H:00:00Z)
variable "approval_expires_at" {
  description = "The latest expiry a grant under the approval may have, as RFC 3339, at most the entitlement's max_ttl ahead."
  type        = string
}

resource "governed_approval_record" "reconciliation" {
  ticket_id     = "SEC-1042"
  entitlement   = "payments-db-read"
  principal     = "svc-payments-reconciler"
  approvers     = ["alice@example.com"]
  justification = "Month-end reconciliation reads settled payments"
  expires_at    = var.approval_expires_at
}
