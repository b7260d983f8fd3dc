terraform {
  required_providers {
    governed = {
      source = "governed-entitlements/governed"
    }
  }
}

provider "governed" {
  policy_file = "access-policy.hcl"
  requester   = "dev@example.com"
}

variable "approval_expires_at" {
  description = "The latest expiry a grant under the approval may have, as RFC 3339. It is written out, not computed: the approver signs the statement, and the statement names it."
  type        = string
}

variable "signed" {
  description = "Whether Alice has signed the approval's statement into approvals/SEC-1042/alice.sig."
  type        = bool
  default     = true
}

# Alice approved SEC-1042: her signature over the record's statement, made with
# `ssh-keygen -Y sign -n governed-approval`, is what makes the record count.
# Until she has signed, the plan refuses the record and prints the command
# that signs it.
resource "governed_approval_record" "reconciler" {
  ticket_id     = "SEC-1042"
  entitlement   = "payments-db-read"
  principal     = "svc-payments-reconciler"
  approvers     = ["alice@example.com"]
  justification = "Month-end reconciliation reads settled payments"
  expires_at    = var.approval_expires_at
  signatures    = var.signed ? { "alice@example.com" = file("approvals/SEC-1042/alice.sig") } : {}
}

resource "governed_grant" "reconciler" {
  principal   = "svc-payments-reconciler"
  entitlement = "payments-db-read"
  ticket_id   = "SEC-1042"
  approvers   = ["alice@example.com"]
  approval_id = governed_approval_record.reconciler.id
  ttl         = "24h"
}

# What Alice signed, for anyone who wants to check her signature with
# ssh-keygen -Y verify.
output "statement" {
  value = governed_approval_record.reconciler.statement
}

output "grant" {
  value = "${governed_grant.reconciler.status} until ${governed_grant.reconciler.expires_at}"
}
