# Every active grant that expires within the next day.
data "governed_grants" "expiring" {
  status          = "active"
  expiring_before = timeadd(plantimestamp(), "24h")
}

output "expiring_grants" {
  value = [for g in data.governed_grants.expiring.grants : "${g.principal} ${g.entitlement} until ${g.expires_at}"]
}
