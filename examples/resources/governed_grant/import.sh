# A grant is imported by its id in the ledger (see `governed grants`).
terraform import governed_grant.reconciliation grt_0123456789abcdef0123
