#!/usr/bin/env bash
# Whether a plan slows with the ledger's history: a plan of 10 new grants
# against a ledger of EVENTS events (default 1,000,000) against the same plan
# against a new ledger, both with a signed checkpoint of their ledger in
# GOVERNED_CHECKPOINT, as the anchoring guide sets a pipeline up. With the
# checkpoint, the provider verifies only what was appended since; without
# one it verifies the whole ledger, which this script also times, once, for
# comparison. The sides are planned in turn, RUNS times each (default 5),
# rotating which goes first, and the medians compared (target <= 1.2x).
#
# Usage: make bench-history, or EVENTS=1000000 RUNS=5 ./scripts/bench-history.sh
set -euo pipefail
export LC_ALL=C

EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-5}
GRANTS=${GRANTS:-10}
GO=${GO:-go}
TARGET=1.20

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-history-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
progress() { printf '==> %s\n' "$*" >&2; }

progress "Building the provider, the command and the history writer"
"$GO" build -C "$root" -o "$work/bin/terraform-provider-governed" .
"$GO" build -C "$root" -o "$work/governed" ./cmd/governed
"$GO" build -C "$root" -o "$work/write-history" ./bench/history
cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$work/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

cat >"$work/access-policy.hcl" <<'HCL'
entitlement "history-read" {
  target        = "ledger"
  max_ttl       = "1d"
  approvers     = ["alice@example.com"]
  min_approvals = 1
  principals    = ["svc-*"]
}
HCL

"$work/governed" checkpoint keygen --name checkpoints.bench.example --signer-key "$work/checkpoint.key" \
  --verifier-key "$work/checkpoint.pub" >/dev/null

for side in history new; do
  mkdir -p "$work/$side"
  if [[ $side == history ]]; then
    progress "Writing a ledger of $EVENTS events"
    "$work/write-history" -ledger "$work/$side/governed.db" -events "$EVENTS"
  else
    "$work/write-history" -ledger "$work/$side/governed.db" -events 0
  fi
  progress "Signing a checkpoint of the $side ledger (a whole verification)"
  start=$(date +%s.%N)
  "$work/governed" checkpoint sign --key "$work/checkpoint.key" --ledger "$work/$side/governed.db" \
    --out "$work/$side/checkpoint" >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l >"$work/$side.sign"
  {
    cat <<TF
terraform {
  required_providers {
    governed = { source = "governed-entitlements/governed" }
  }
}

provider "governed" {
  ledger      = "$work/$side/governed.db"
  policy_file = "$work/access-policy.hcl"
  requester   = "dev@example.com"
}
TF
    for ((i = 0; i < GRANTS; i++)); do
      cat <<TF

resource "governed_grant" "g$i" {
  principal   = "svc-bench-$i"
  entitlement = "history-read"
  ticket_id   = "SEC-$i"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}
TF
    done
  } >"$work/$side/main.tf"
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
plan() {
  local side=$1 start end
  start=$(date +%s.%N)
  (cd "$work/$side" && terraform plan -input=false -no-color >"$work/$side.plan") ||
    { tail -20 "$work/$side.plan" >&2; exit 1; }
  end=$(date +%s.%N)
  grep -q "Plan: $GRANTS to add" "$work/$side.plan" || { tail -5 "$work/$side.plan" >&2; exit 1; }
  echo "$end - $start" | bc -l
}

for side in history new; do
  export GOVERNED_CHECKPOINT=$work/$side/checkpoint GOVERNED_CHECKPOINT_KEY=$work/checkpoint.pub
  plan "$side" >/dev/null # warm-up: caches, page cache
done
for ((run = 1; run <= RUNS; run++)); do
  if ((run % 2)); then order="history new"; else order="new history"; fi
  for side in $order; do
    export GOVERNED_CHECKPOINT=$work/$side/checkpoint GOVERNED_CHECKPOINT_KEY=$work/checkpoint.pub
    seconds=$(plan "$side")
    progress "run $run: $side plan ${seconds}s"
    echo "$seconds" >>"$work/$side.times"
  done
done
unset GOVERNED_CHECKPOINT GOVERNED_CHECKPOINT_KEY
progress "One plan against the long ledger without a checkpoint (whole verification)"
unanchored=$(plan history)

history=$(median <"$work/history.times")
new=$(median <"$work/new.times")
ratio=$(echo "$history / $new" | bc -l)
verdict=met
if (($(echo "$ratio > $TARGET" | bc -l))); then verdict=missed; fi
printf 'plan of %d grants, median of %d runs, with a checkpoint: %d-event ledger %.2fs, new ledger %.2fs, ratio %.2fx (target <= %.2fx: %s)\n' \
  "$GRANTS" "$RUNS" "$EVENTS" "$history" "$new" "$ratio" "$TARGET" "$verdict"
printf 'the same plan without a checkpoint (whole verification, one run): %.2fs\n' "$unanchored"
printf 'signing the checkpoint of the %d-event ledger (whole verification): %.2fs\n' "$EVENTS" "$(cat "$work/history.sign")"
