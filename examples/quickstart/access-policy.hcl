# The entitlement catalogue: what may be granted, to whom, approved by whom,
# and for how long. Keep it apart from the grants (CODEOWNERS).

ticket_pattern   = "^(SEC|OPS)-[0-9]+$"
approval_max_age = "7d"

approver_group "security" {
  members = ["alice@example.com", "bob@example.com"]
}

entitlement "payments-db-read" {
  description    = "Read-only access to the payments database"
  target         = "ledger"
  role           = "payments_read"
  max_ttl        = "7d"
  approvers      = ["group:security", "carol@example.com"]
  min_approvals  = 1
  principals     = ["svc-payments-*"]
  ticket_pattern = "^SEC-[0-9]+$"

  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}

entitlement "ci-deploy" {
  description   = "Deploy rights for CI runners"
  role          = "deployer"
  max_ttl       = "30d"
  approvers     = ["group:security"]
  min_approvals = 2
  principals    = ["ci-runner-*"]
}
