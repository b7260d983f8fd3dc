# Approvals count only when their approvers signed them with an SSH key that
# approvers.allowed_signers lists for them. Keep this file, and the signers
# file, under CODEOWNERS: whoever can change them decides whose signature counts.

ticket_pattern   = "^SEC-[0-9]+$"
approval_max_age = "7d"

approval_signatures {
  allowed_signers = "approvers.allowed_signers" # OpenSSH allowed_signers, relative to this file
  # revoked_keys  = "approvers.revoked"         # public keys that no longer count
}

entitlement "payments-db-read" {
  description = "Read-only access to the payments database"
  role        = "payments_read"
  max_ttl     = "7d"
  approvers   = ["alice@example.com", "bob@example.com"]
  principals  = ["svc-payments-*"]

  break_glass {
    max_ttl       = "4h"
    min_approvals = 0
  }
}
