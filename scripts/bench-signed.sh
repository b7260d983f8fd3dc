#!/usr/bin/env bash
# What signed approvals cost a plan: N approval records (default 1,000), each
# with a grant under it, planned against one ledger with and without
# approval_signatures. The signed side verifies one SSH signature per record;
# everything else is the same. The two sides are planned in turn, RUNS times
# each (default 3), and the medians compared.
#
# Usage: make bench-signed, or N=1000 RUNS=3 ./scripts/bench-signed.sh
set -euo pipefail
export LC_ALL=C

N=${N:-1000}
RUNS=${RUNS:-3}
GO=${GO:-go}
TARGET=1.20

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-signed-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
progress() { printf '==> %s\n' "$*" >&2; }

progress "Building the provider and the configuration writer"
"$GO" build -C "$root" -o "$work/bin/terraform-provider-governed" .
"$GO" build -C "$root" -o "$work/write-configs" ./bench/signed
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$work/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

expires=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+3d +%Y-%m-%dT%H:%M:%SZ)
progress "Writing $N signed and $N unsigned approval records with their grants"
"$work/write-configs" -dir "$work" -n "$N" -expires "$expires"

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
plan() {
  local side=$1 start end
  start=$(date +%s.%N)
  (cd "$work/$side" && terraform plan -input=false -no-color -parallelism=10 >"$work/$side.plan") ||
    { tail -20 "$work/$side.plan" >&2; exit 1; }
  end=$(date +%s.%N)
  grep -q "Plan: $((2 * N)) to add" "$work/$side.plan" || { tail -5 "$work/$side.plan" >&2; exit 1; }
  echo "$end - $start" | bc -l
}

plan unsigned >/dev/null # warm-up: caches, page cache
for ((run = 1; run <= RUNS; run++)); do
  if ((run % 2)); then order="signed unsigned"; else order="unsigned signed"; fi
  for side in $order; do
    seconds=$(plan "$side")
    progress "run $run: $side plan ${seconds}s"
    echo "$seconds" >>"$work/$side.times"
  done
done
signed=$(median <"$work/signed.times")
unsigned=$(median <"$work/unsigned.times")
ratio=$(echo "$signed / $unsigned" | bc -l)
printf '\nplan of %d approval records and %d grants, median of %d runs\n' "$N" "$N" "$RUNS"
printf '  signed     %.2f s\n  unsigned   %.2f s\n' "$signed" "$unsigned"
printf 'ratio signed/unsigned: %.2fx   target <= %sx   %s\n' "$ratio" "$TARGET" \
  "$(echo "$ratio <= $TARGET" | bc -l | sed 's/1/PASS/; s/0/MISS/')"
