terraform {
  required_providers {
    governed = {
      source = "governed-entitlements/governed"
    }
  }
}

# The policy file is owned apart from the grants (for example under
# CODEOWNERS), so that a grant's author cannot loosen the rules in the same
# change. In CI, set GOVERNED_REQUESTER to the pull request's author.
provider "governed" {
  ledger      = "governed.db"
  policy_file = "access-policy.hcl"
}
