#!/usr/bin/env bash
# What `governed evidence` costs over a ledger of TOTAL grants (default
# 100,000), each with its life (bench/evidence writes it: approvals, expiries,
# out-of-band revocations, grants overdue), against `governed verify` of the
# same ledger, which evidence runs first. Reports, for each, the wall time and
# the peak resident memory; evidence is streamed grant by grant, so its memory
# should stay near verify's whatever the size. Run at two sizes, the memory
# shows whether it grows with the ledger.
#
# On a machine shared with other work, the wall time moves with the load; the
# CPU time (user + system) is what the command itself cost.
#
# Usage: make bench-evidence, or TOTAL=100000 ./scripts/bench-evidence.sh
set -euo pipefail
export LC_ALL=C

TOTAL=${TOTAL:-100000}
SMALL=${SMALL:-$((TOTAL / 10))}
GO=${GO:-go}

root=$(cd "$(dirname "$0")/.." && pwd)
# The fixture is written through the ledger's API, one synced transaction per
# event: in memory (/dev/shm) where there is one, it takes minutes, not tens.
base=${TMPDIR:-/tmp}
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
work=$(mktemp -d "$base/governed-evidence-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
progress() { printf '==> %s\n' "$*" >&2; }

command -v /usr/bin/time >/dev/null || { echo "needs GNU time (Debian package time)" >&2; exit 2; }

progress "Building governed and the ledger writer"
"$GO" build -C "$root" -o "$work/governed" ./cmd/governed
"$GO" build -C "$root" -o "$work/write-ledger" ./bench/evidence

# measure NAME ARGS...: runs governed with ARGS, prints seconds and peak RSS.
measure() {
  local name=$1
  shift
  /usr/bin/time -f '%e %M %U %S' -o "$work/time.$name" "$work/governed" "$@" >"$work/out.$name" 2>"$work/err.$name" || true
  read -r secs kb user sys < <(tail -n 1 "$work/time.$name")
  printf '%-40s %8.2f s wall %8.2f s cpu %8.1f MB peak RSS\n' "$name" "$secs" "$(echo "$user + $sys" | bc -l)" "$(echo "$kb / 1024" | bc -l)"
}

for n in "$SMALL" "$TOTAL"; do
  progress "Writing a ledger of $n grants"
  "$work/write-ledger" -ledger "$work/l$n.db" -total "$n"
  measure "verify ($n grants)" verify --ledger "$work/l$n.db"
  measure "evidence --format csv ($n grants)" evidence --ledger "$work/l$n.db" --format csv
  rows=$(($(wc -l <"$work/out.evidence --format csv ($n grants)") - 1))
  [[ $rows -eq $n ]] || { echo "evidence wrote $rows rows, want $n" >&2; exit 1; }
  measure "evidence --format html ($n grants)" evidence --ledger "$work/l$n.db" --format html
  measure "evidence --bundle ($n grants)" evidence --ledger "$work/l$n.db" --format json --bundle "$work/bundle$n"
done
secs=$(tail -n 1 "$work/time.evidence --format csv ($TOTAL grants)" | cut -d' ' -f1)
printf '\nevidence over %d grants: %.2f s   target < 10 s   %s\n' "$TOTAL" "$secs" "$(echo "$secs < 10" | bc -l | sed 's/1/PASS/; s/0/MISS/')"
