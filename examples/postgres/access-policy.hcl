# Entitlements enforced in PostgreSQL: a grant is a membership of the role.

ticket_pattern = "^SEC-[0-9]+$"

approver_group "security" {
  members = ["alice@example.com", "bob@example.com"]
}

entitlement "payments-db-read" {
  description = "Read-only access to the payments database"
  target      = "postgres.payments"
  role        = "payments_read"
  max_ttl     = "7d"
  approvers   = ["group:security"]
  principals  = ["svc-payments-*"]
}
