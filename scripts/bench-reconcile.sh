#!/usr/bin/env bash
# What `governed reconcile` costs against Terraform revoking the same grants.
#
# - reconcile: a SQLite ledger of TOTAL grants (default 100,000), ORPHANS of
#   them (default 1,000) past their expiry and still recorded active, as the
#   grants of a configuration that is gone are (bench/reconcile writes it).
#   `governed reconcile` must find them through the ledger's indexes and
#   record each expiry; the wall time of that one command is measured.
# - terraform: ORPHANS governed_grant resources with a short ttl, applied,
#   then, once they have expired, the `terraform apply` that revokes them all
#   through the grants' own expiry path; the wall time of that apply is
#   measured.
#
# Both record one expiry per grant in a ledger with fsync per append; neither
# has a target to call. Usage: make bench-reconcile, or
# TOTAL=100000 ORPHANS=1000 ./scripts/bench-reconcile.sh
set -euo pipefail
export LC_ALL=C

TOTAL=${TOTAL:-100000}
ORPHANS=${ORPHANS:-1000}
TTL_SECONDS=${TTL_SECONDS:-60}
GO=${GO:-go}

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-reconcile-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
progress() { printf '==> %s\n' "$*" >&2; }
seconds() { date +%s.%N; }

progress "Building the provider, governed and the ledger writer"
"$GO" build -C "$root" -o "$work/bin/terraform-provider-governed" .
"$GO" build -C "$root" -o "$work/bin/governed" ./cmd/governed
"$GO" build -C "$root" -o "$work/write-ledger" ./bench/reconcile

progress "Writing a ledger of $TOTAL grants, $ORPHANS of them orphaned and past their expiry"
"$work/write-ledger" -ledger "$work/reconcile.db" -total "$TOTAL" -orphans "$ORPHANS"

progress "governed reconcile"
start=$(seconds)
"$work/bin/governed" reconcile --ledger "$work/reconcile.db" >"$work/reconcile.out"
end=$(seconds)
reconcile_s=$(echo "$end - $start" | bc -l)
revoked=$(grep -c 'grt_' "$work/reconcile.out" || true)
[[ $revoked -eq $ORPHANS ]] || { echo "reconcile listed $revoked grants, want $ORPHANS" >&2; exit 1; }
expired=$("$work/bin/governed" grants --ledger "$work/reconcile.db" --status expired --json | grep -c '"expired_not_revoked":false' || true)
[[ $expired -eq $ORPHANS ]] || { echo "$expired grants recorded expired, want $ORPHANS" >&2; exit 1; }
"$work/bin/governed" reconcile --ledger "$work/reconcile.db" --dry-run >/dev/null || { echo "a second reconcile found work left" >&2; exit 1; }

progress "Terraform: $ORPHANS grants with a ${TTL_SECONDS}s ttl"
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$work/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
mkdir "$work/tf"
cat >"$work/tf/policy.hcl" <<HCL
entitlement "bench-read" {
  max_ttl    = "1d"
  approvers  = ["alice@example.com"]
  principals = ["svc-*"]
}
HCL
{
  cat <<HCL
terraform {
  required_providers {
    governed = { source = "governed-entitlements/governed" }
  }
}
provider "governed" {
  ledger      = "$work/tf/governed.db"
  policy_file = "$work/tf/policy.hcl"
  requester   = "dev@example.com"
}
HCL
  for ((i = 1; i <= ORPHANS; i++)); do
    printf 'resource "governed_grant" "g%d" {\n  principal   = "svc-%d"\n  entitlement = "bench-read"\n  ticket_id   = "SEC-%d"\n  approvers   = ["alice@example.com"]\n  ttl         = "%ds"\n}\n' \
      "$i" "$i" "$i" "$TTL_SECONDS"
  done
} >"$work/tf/main.tf"
(cd "$work/tf" && terraform apply -auto-approve -input=false -no-color >/dev/null)
progress "Waiting for the grants to expire"
sleep "$((TTL_SECONDS + 5))"
progress "terraform apply that revokes them"
start=$(seconds)
(cd "$work/tf" && terraform apply -auto-approve -input=false -no-color >"$work/tf/apply.out")
end=$(seconds)
terraform_s=$(echo "$end - $start" | bc -l)
grep -q "0 added, $ORPHANS changed, 0 destroyed" "$work/tf/apply.out" || { tail -5 "$work/tf/apply.out" >&2; exit 1; }

ratio=$(echo "$reconcile_s / $terraform_s" | bc -l)
printf '\nreconcile of %d orphans among %d grants: %.2f s\n' "$ORPHANS" "$TOTAL" "$reconcile_s"
printf 'terraform apply revoking %d expired grants: %.2f s\n' "$ORPHANS" "$terraform_s"
printf 'ratio reconcile/terraform: %.2fx   target <= 1.50x   %s\n' "$ratio" "$(echo "$ratio <= 1.5" | bc -l | sed 's/1/PASS/; s/0/MISS/')"
