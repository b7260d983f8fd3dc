# Members of governed PostgreSQL roles that no active grant covers: access
# that was given outside governed. Fail a scheduled run when there is any.
data "governed_unmanaged_memberships" "all" {}

check "no_unmanaged_access" {
  assert {
    condition     = length(data.governed_unmanaged_memberships.all.memberships) == 0
    error_message = "Access outside governance: ${join(", ", [for m in data.governed_unmanaged_memberships.all.memberships : "${m.principal} holds ${m.role} in ${m.target}"])}"
  }
}
