# A grant for one working day, under a recorded approval.
resource "governed_grant" "reconciliation" {
  principal   = "svc-payments-reconciler"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-1042"
  approvers   = ["alice@example.com"]
  approval_id = governed_approval_record.reconciliation.id
  ttl         = "8h"
}

# A break-glass grant: the entitlement's emergency rules apply, and the
# justification is required.
resource "governed_grant" "incident" {
  principal     = "svc-payments-api"
  entitlement   = "payments-db-read"
  ticket_id     = "SEC-1043"
  approvers     = []
  break_glass   = true
  justification = "INC-311: settlement batch stuck, need to inspect locks"
  ttl           = "2h"
}

# Anything that depends on the access is gated on it, and is removed in the
# same apply that revokes an expired grant.
resource "terraform_data" "reconciliation_job" {
  count = governed_grant.reconciliation.active ? 1 : 0
  input = governed_grant.reconciliation.id
}
