resource "governed_approval_record" "reconciliation" {
  ticket_id     = "SEC-1042"
  entitlement   = "payments-db-read"
  principal     = "svc-payments-reconciler"
  approvers     = ["alice@example.com"]
  justification = "Month-end reconciliation reads settled payments"
  expires_at    = "2026-12-03T18:00:00Z"
}
