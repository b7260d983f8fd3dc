#!/usr/bin/env bash
# What the governed provider costs on top of Terraform itself, at scale.
#
# For N resources (default 1000) it measures:
#   - the wall time of `terraform apply` from an empty state, and of the
#     `terraform plan` that follows it (which must find nothing to do), for N
#     governed_grant resources and for N terraform_data resources that carry the
#     same values. terraform_data is built into Terraform, so the baseline is
#     Terraform's own cost for N resources, without a plugin process, policy or
#     ledger;
#   - the provider process's peak resident memory (VmHWM) during those runs;
#   - the Go benchmarks of the policy and the ledger, including verification
#     throughput.
#
# Absolute times depend on the machine and on whatever else it is doing, so the
# figures that carry meaning are the ratios governed/baseline. Both sides are
# measured in the same invocation, with the same flags, and interleaved run by
# run (alternating which goes first) so that drift and noise hit both alike.
#
# Usage: make bench, or   N=1000 RUNS=5 ./scripts/bench.sh
# Settings (environment): N, RUNS, PARALLELISM (passed to both sides as
# -parallelism), KEEP_WORK=1 to keep the scratch directory, GO.
# The report goes to stdout and to bench/results/latest.txt; progress to stderr.
set -euo pipefail
export LC_ALL=C

N=${N:-1000}
RUNS=${RUNS:-5}
PARALLELISM=${PARALLELISM:-10}
KEEP_WORK=${KEEP_WORK:-0}
GO=${GO:-go}

# Targets. A miss is reported, not treated as a failure: this is a measurement.
APPLY_TARGET=1.50     # governed/baseline, median apply time
PLAN_TARGET=1.25      # governed/baseline, median plan time
RSS_TARGET_MIB=100    # provider peak RSS
VERIFY_TARGET=500000  # ledger verification, events/s (BenchmarkVerify)

# The same commands, with the same flags, for both sides.
APPLY_CMD=(terraform apply -auto-approve -input=false -no-color "-parallelism=$PARALLELISM")
PLAN_CMD=(terraform plan -input=false -detailed-exitcode -no-color "-parallelism=$PARALLELISM")

ENTITLEMENT=bench-read
SAMPLE_INTERVAL=0.1   # seconds between RSS samples

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-tfbench.XXXXXX")
provider_bin=$work/bin/terraform-provider-governed
times=$work/times.tsv # kind phase run seconds peak_kib provider_processes

progress() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$?
  if [[ $rc -ne 0 || $KEEP_WORK == 1 ]]; then
    printf 'bench: scratch files kept in %s\n' "$work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# --- setup ---------------------------------------------------------------

build_provider() {
  progress "Building the provider"
  "$GO" build -C "$root" -o "$provider_bin" .
  provider_bin=$(readlink -f "$provider_bin") # as /proc/PID/exe shows it
}

# A throwaway CLI configuration that makes Terraform use the fresh build, with
# no `terraform init`.
write_cli_config() {
  cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$(dirname "$provider_bin")"
  }
  direct {}
}
RC
  export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
  unset TF_LOG TF_LOG_PROVIDER TF_LOG_CORE
}

write_policy() {
  cat >"$work/policy.hcl" <<HCL
entitlement "$ENTITLEMENT" {
  max_ttl        = "7d"
  approvers      = ["alice@example.com", "bob@example.com"]
  principals     = ["svc-*"]
  ticket_pattern = "^SEC-[0-9]+\$"
}
HCL
}

# gen_governed COUNT: COUNT governed_grant resources (the provider block is
# written per run, since it names that run's ledger).
gen_governed() {
  local count=$1 i
  cat <<HCL
terraform {
  required_providers {
    governed = {
      source = "governed-entitlements/governed"
    }
  }
}
HCL
  for ((i = 1; i <= count; i++)); do
    printf '
resource "governed_grant" "g%d" {
  principal   = "svc-%d"
  entitlement = "%s"
  ticket_id   = "SEC-%d"
  approvers   = ["alice@example.com"]
  ttl         = "8h"
}
' "$i" "$i" "$ENTITLEMENT" "$i"
  done
}

# gen_baseline COUNT: COUNT terraform_data resources with the same values as input.
gen_baseline() {
  local count=$1 i
  for ((i = 1; i <= count; i++)); do
    printf 'resource "terraform_data" "g%d" {
  input = {
    principal   = "svc-%d"
    entitlement = "%s"
    ticket_id   = "SEC-%d"
    approvers   = ["alice@example.com"]
    ttl         = "8h"
  }
}

' "$i" "$i" "$ENTITLEMENT" "$i"
  done
}

# new_run_dir KIND NAME: a fresh directory (no state, no ledger) holding the
# KIND configuration from $work/configs/KIND-SIZE; prints its path.
new_run_dir() {
  local kind=$1 name=$2 size=$3 dir
  dir=$work/runs/$kind-$name
  mkdir -p "$dir"
  cp "$work/configs/$kind-$size.tf" "$dir/main.tf"
  if [[ $kind == governed ]]; then
    cat >"$dir/provider.tf" <<HCL
provider "governed" {
  ledger      = "$dir/governed.db"
  policy_file = "$work/policy.hcl"
  requester   = "dev@example.com"
}
HCL
  fi
  printf '%s\n' "$dir"
}

generate_configs() {
  local size
  mkdir -p "$work/configs"
  for size in "$@"; do
    gen_governed "$size" >"$work/configs/governed-$size.tf"
    gen_baseline "$size" >"$work/configs/baseline-$size.tf"
  done
}

# --- measuring -------------------------------------------------------------

# watch_provider TFPID: until TFPID exits, every SAMPLE_INTERVAL finds its
# children whose executable is the provider build and reads their VmHWM.
# Terraform starts the provider more than once per command (for the schema,
# then for the walk), so every such child counts. Prints "PEAK_KIB PROCESSES".
# Per sample only pgrep and sleep are started; the rest are builtins, to keep
# its own cost small. It runs during the baseline too, so that cost hits both.
watch_provider() {
  local tfpid=$1 peak=0 pid key value rest
  local -A providers=()
  while kill -0 "$tfpid" 2>/dev/null; do
    for pid in $(pgrep -P "$tfpid" || true); do
      # -ef compares the files /proc/PID/exe and the build point to. A child
      # seen between fork and exec is still terraform, so only a match is
      # remembered.
      if [[ -z ${providers[$pid]:-} ]]; then
        [[ /proc/$pid/exe -ef $provider_bin ]] 2>/dev/null || continue
        providers[$pid]=1
      fi
      while read -r key value rest; do
        if [[ $key == VmHWM: ]]; then
          ((value > peak)) && peak=$value
          break
        fi
      done 2>/dev/null <"/proc/$pid/status" || true
    done
    sleep "$SAMPLE_INTERVAL"
  done
  printf '%s %s\n' "$peak" "${#providers[@]}"
}

# usecs_to_secs MICROSECONDS: prints seconds with six decimals.
usecs_to_secs() {
  printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000))
}

# measure KIND PHASE RUN DIR: runs the phase's terraform command in DIR, times
# it, watches the provider, and appends a line to $times. A plan must report no
# changes (exit code 0).
measure() {
  local kind=$1 phase=$2 run=$3 dir=$4 log=$4/$2.log
  local -a cmd=("${APPLY_CMD[@]}")
  [[ $phase == plan ]] && cmd=("${PLAN_CMD[@]}")

  local start end rc=0 tfpid watcher sample
  start=${EPOCHREALTIME/./}
  (cd "$dir" && exec "${cmd[@]}") >"$log" 2>&1 &
  tfpid=$!
  watch_provider "$tfpid" >"$dir/$phase.rss" &
  watcher=$!
  wait "$tfpid" || rc=$?
  end=${EPOCHREALTIME/./}
  wait "$watcher"
  read -r sample <"$dir/$phase.rss"

  if [[ $rc -ne 0 ]]; then
    tail -n 40 "$log" >&2
    case $phase-$rc in
      plan-2) die "$kind plan in run $run reports changes after a fresh apply; see $log" ;;
      *) die "$kind $phase in run $run failed with exit code $rc; see $log" ;;
    esac
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$phase" "$run" "$(usecs_to_secs $((end - start)))" "${sample// /$'\t'}" >>"$times"
  progress "run $run: $kind $phase $(usecs_to_secs $((end - start)))s"
}

# run_pair KIND RUN SIZE: apply from empty, then plan, in a fresh directory.
run_pair() {
  local kind=$1 run=$2 size=$3 dir
  dir=$(new_run_dir "$kind" "$run" "$size")
  measure "$kind" apply "$run" "$dir"
  measure "$kind" plan "$run" "$dir"
}

# A small untimed round first: proves the setup works before the long runs and
# brings both binaries into the page cache.
warm_up() {
  progress "Warm-up (5 resources each, not counted)"
  local saved=$times
  times=$work/warmup.tsv
  run_pair governed warmup 5
  run_pair baseline warmup 5
  times=$saved
}

run_all() {
  local run kind order
  : >"$times"
  for ((run = 1; run <= RUNS; run++)); do
    # Alternate which side goes first, so neither always runs on a warmer machine.
    if ((run % 2)); then order="governed baseline"; else order="baseline governed"; fi
    for kind in $order; do
      run_pair "$kind" "$run" "$N"
    done
    [[ $KEEP_WORK == 1 ]] || rm -rf "$work/runs/"*-"$run"
  done
}

# --- reporting -------------------------------------------------------------

# summarise: numbers on stdin -> "MEDIAN MIN MAX".
summarise() {
  sort -g | awk '{ v[NR] = $1 }
    END {
      if (NR == 0) exit 1
      m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
      printf "%.3f %.3f %.3f\n", m, v[1], v[NR]
    }'
}

# seconds KIND PHASE: the times measured for one side and phase.
seconds() {
  awk -v k="$1" -v p="$2" '$1 == k && $2 == p { print $4 }' "$times"
}

# verdict VALUE TARGET: PASS when VALUE <= TARGET (or >= with a third argument "min").
verdict() {
  awk -v v="$1" -v t="$2" -v dir="${3:-max}" 'BEGIN {
    ok = dir == "min" ? v >= t : v <= t
    print ok ? "PASS" : "MISS"
  }'
}

report_header() {
  local commit
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  echo "governed provider benchmark"
  echo "  date          $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "  source        working tree at HEAD $commit (uncommitted changes included)"
  echo "  terraform     $(terraform version | sed -n 1p)"
  echo "  go            $("$GO" env GOVERSION)"
  echo "  cpus          $(nproc)"
  echo "  resources     N=$N per configuration, RUNS=$RUNS runs of each"
  echo "  apply         ${APPLY_CMD[*]}   (from an empty state and an empty ledger)"
  echo "  plan          ${PLAN_CMD[*]}   (must exit 0: no changes)"
  echo
}

report_times() {
  local phase kind lo hi ratio target
  local -A median=()
  echo "Wall time, seconds (governed_grant vs terraform_data, same values)"
  printf '  %-6s %-9s %9s %9s %9s\n' phase side median min max
  for phase in apply plan; do
    for kind in governed baseline; do
      read -r "median[$kind-$phase]" lo hi < <(seconds "$kind" "$phase" | summarise)
      printf '  %-6s %-9s %9s %9s %9s\n' "$phase" "$kind" "${median[$kind-$phase]}" "$lo" "$hi"
    done
  done
  echo
  echo "Ratio governed/baseline (medians)"
  for phase in apply plan; do
    target=$APPLY_TARGET
    [[ $phase == plan ]] && target=$PLAN_TARGET
    ratio=$(awk -v g="${median[governed-$phase]}" -v b="${median[baseline-$phase]}" 'BEGIN { printf "%.2f", g / b }')
    printf '  %-6s %5sx   target <= %sx   %s\n' "$phase" "$ratio" "$target" "$(verdict "$ratio" "$target")"
  done
  echo
}

report_memory() {
  local phase peak_kib peak_mib procs
  echo "Provider peak RSS (VmHWM of the provider processes, sampled every ${SAMPLE_INTERVAL}s)"
  for phase in apply plan all; do
    peak_kib=$(awk -v p="$phase" '$1 == "governed" && (p == "all" || $2 == p) { if ($5 > m) m = $5 } END { print m + 0 }' "$times")
    peak_mib=$(awk -v k="$peak_kib" 'BEGIN { printf "%.1f", k / 1024 }')
    if [[ $phase == all ]]; then
      printf '  max over all governed runs   %6s MiB   target <= %s MiB   %s\n' \
        "$peak_mib" "$RSS_TARGET_MIB" "$(verdict "$peak_mib" "$RSS_TARGET_MIB")"
    else
      procs=$(awk -v p="$phase" '$1 == "governed" && $2 == p { print $6 }' "$times" | sort -un | paste -sd, -)
      printf '  max during %-5s             %6s MiB   (provider processes sampled per %s: %s)\n' \
        "$phase" "$peak_mib" "$phase" "$procs"
    fi
  done
  if [[ $peak_kib == 0 ]]; then
    echo "  (no provider process was sampled: the runs were shorter than one sample, or"
    echo "   the provider is not started as a direct child of terraform)"
  fi
  echo
}

report_runs() {
  echo "Per run (in the order they ran)"
  printf '  %-4s %-9s %-6s %10s %12s\n' run side phase seconds "peak MiB"
  awk '{ printf "  %-4s %-9s %-6s %10.3f %12s\n", $3, $1, $2, $4, $1 == "governed" ? sprintf("%.1f", $5 / 1024) : "-" }' "$times"
  echo
}

# The Go benchmarks of the domain packages. When they do not build or one
# fails, it prints the output and leaves $work/go-failed, so that the script
# still writes the report and then exits non-zero.
report_go_benchmarks() {
  local raw=$work/gobench.txt rc=0 verify median lo hi
  progress "Go benchmarks (count 5)"
  echo "Go benchmarks: go test -run '^\$' -bench . -benchmem -count 5 ./internal/policy/ ./internal/ledger/"
  (cd "$root" && "$GO" test -run '^$' -bench . -benchmem -count 5 ./internal/policy/ ./internal/ledger/) >"$raw" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    sed 's/^/  /' "$raw"
    echo "  FAILED (exit code $rc)"
    : >"$work/go-failed"
    return 0
  fi
  # benchstat labels its column with the file name it is given, hence the cd.
  if ! (cd "$work" && timeout 300 "$GO" run golang.org/x/perf/cmd/benchstat@latest "$(basename "$raw")") 2>/dev/null | sed 's/^/  /'; then
    echo "  (benchstat unavailable; raw results)"
    grep -E '^(goos|goarch|pkg|cpu|Benchmark)' "$raw" | sed 's/^/  /'
  fi
  echo
  # BenchmarkVerify reports its throughput as a custom "events/s" metric.
  verify=$(awk '$1 ~ /^BenchmarkVerify(-[0-9]+)?$/ { for (i = 2; i < NF; i++) if ($(i + 1) == "events/s") print $i }' "$raw" | summarise || true)
  if [[ -z $verify ]]; then
    echo "  ledger verification: no BenchmarkVerify events/s figure found   MISS"
  else
    read -r median lo hi <<<"$verify"
    printf '  ledger verification (BenchmarkVerify) median %.0f events/s (min %.0f, max %.0f)   target >= %s   %s\n' \
      "$median" "$lo" "$hi" "$VERIFY_TARGET" "$(verdict "$median" "$VERIFY_TARGET" min)"
  fi
}

main() {
  [[ $N =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ ]] || die "N and RUNS must be positive integers"
  build_provider
  write_cli_config
  write_policy
  progress "Generating configurations (N=$N)"
  generate_configs 5 "$N"
  warm_up
  run_all

  report_header
  report_times
  report_memory
  report_runs
  report_go_benchmarks
}

mkdir -p "$root/bench/results"
main | tee "$work/report.txt"
cp "$work/report.txt" "$root/bench/results/latest.txt"
progress "Report written to bench/results/latest.txt"
[[ ! -e $work/go-failed ]] || die "the Go benchmarks failed; see the report"
