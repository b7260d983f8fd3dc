#!/usr/bin/env bash
# What `governed review` costs on a plan of N new grants (default 1,000): the
# plan is made with the real Terraform CLI and the built provider, then
# reviewed RUNS times (default 5) in Markdown and in JSON; the median wall
# time and the largest peak resident set size are reported, next to `jq empty`
# reading the same plan as a baseline, and checked against the budget: under a
# second and under 100 MiB.
#
# Usage: make bench-review, or N=1000 RUNS=5 ./scripts/bench-review.sh
set -euo pipefail
export LC_ALL=C

N=${N:-1000}
RUNS=${RUNS:-5}
GO=${GO:-go}
BUDGET_SECONDS=1
BUDGET_KIB=$((100 * 1024))

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-review-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
progress() { printf '==> %s\n' "$*" >&2; }
[ -x /usr/bin/time ] || { echo "$0: needs /usr/bin/time (Debian's time package) for peak memory" >&2; exit 2; }

progress "Building the provider and governed"
"$GO" build -C "$root" -o "$work/bin/terraform-provider-governed" .
"$GO" build -C "$root" -o "$work/governed" ./cmd/governed
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$work/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

mkdir -p "$work/config"
cp "$root/examples/quickstart/access-policy.hcl" "$work/config/"
cat >"$work/config/main.tf" <<TF
terraform {
  required_providers {
    governed = { source = "governed-entitlements/governed" }
  }
}

provider "governed" {
  policy_file = "access-policy.hcl"
  requester   = "dev@example.com"
}

resource "governed_grant" "many" {
  for_each    = toset([for i in range($N) : format("svc-payments-%06d", i)])
  principal   = each.key
  entitlement = "payments-db-read"
  ticket_id   = "SEC-\${1000 + tonumber(substr(each.key, 13, 6))}"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}
TF
progress "Planning $N grants"
(cd "$work/config" && terraform plan -input=false -no-color -parallelism=20 -json -out=tfplan >plan.jsonl &&
  terraform show -json tfplan >plan.json) || { tail -5 "$work/config/plan.jsonl" >&2; exit 1; }
progress "plan.json is $(wc -c <"$work/config/plan.json") bytes"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
measure() { # label command...: appends "seconds kib" per run to $work/label
  local label=$1
  shift
  for ((run = 1; run <= RUNS; run++)); do
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null || [ $? -eq 3 ]
    cat "$work/time" >>"$work/$label"
  done
}
cd "$work/config"
measure baseline jq empty plan.json
measure md "$work/governed" review --plan plan.json --plan-log plan.jsonl --format md --detailed-exitcode
measure json "$work/governed" review --plan plan.json --plan-log plan.jsonl --format json --detailed-exitcode

status=0
for label in baseline md json; do
  secs=$(cut -d' ' -f1 <"$work/$label" | median)
  kib=$(cut -d' ' -f2 <"$work/$label" | sort -n | tail -1)
  printf '%-9s median %6.3fs  peak RSS %6.1f MiB\n' "$label" "$secs" "$(echo "$kib / 1024" | bc -l)"
  if [ "$label" != baseline ]; then
    if (($(echo "$secs >= $BUDGET_SECONDS" | bc -l))) || ((kib >= BUDGET_KIB)); then
      echo "  over budget: reviewing $N grants must take under ${BUDGET_SECONDS}s and 100 MiB" >&2
      status=1
    fi
  fi
done
exit "$status"
