# In the configuration that a scheduled apply runs: revokes the grants that no
# governed_grant resource settles any more, such as a grant past its expiry
# whose block was replaced by a removed block, or whose state was removed.
resource "governed_reconciliation" "scheduled" {
  # Planned after the grants this configuration manages, which settle their
  # own expiry and are left out of revokes.
  depends_on = [governed_grant.reconciliation, governed_grant.incident]
}

# What the last reconciliation revoked, by grant id.
output "reconciled" {
  value = governed_reconciliation.scheduled.revokes
}
