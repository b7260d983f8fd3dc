# An approval record is imported by its id, which is derived from its digest.
terraform import governed_approval_record.reconciliation apr_0123456789abcdef01234567
