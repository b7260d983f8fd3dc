# Members of governed PostgreSQL roles that no grant covers: access that was
# given outside governed. The postcondition fails the plan or apply when there
# is any, so that a scheduled run exits non-zero and reports it. (An assert in
# a check block would only warn: the run would go on and exit 0.)
data "governed_unmanaged_memberships" "all" {
  lifecycle {
    postcondition {
      condition     = length(self.memberships) == 0
      error_message = "Access outside governance: ${join(", ", [for m in self.memberships : "${m.principal} holds ${m.role} in ${m.target}"])}"
    }
  }
}
