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
#   - the same two commands against the protocol floor (bench/protofloor, side
#     "protocol"): the same governed_grant schema served by a provider that is
#     written on terraform-plugin-go directly and does nothing. It is what
#     Terraform and the plugin protocol cost any external provider, and the
#     floor that the plan target is set against;
#   - the same two commands against the framework floor (bench/floor): a
#     provider served like governed, with the same governed_grant schema, that
#     does no policy and no ledger work, run on the same configuration text.
#     floor/baseline is what any plugin-framework provider with this schema
#     costs over a built-in resource (plugin process, gRPC, the framework's
#     per-request work); governed/floor is what governed adds on top of that.
#     These are context for the targets, which stay governed/baseline;
#   - the same two commands for N grants on a PostgreSQL target with a
#     PostgreSQL ledger (side "pg"): every grant is a real GRANT in a
#     PostgreSQL server that the script starts (bench/pgserver, fsync on), and
#     every event a durable commit. PG=0 leaves this side out;
#   - the provider process's peak resident memory (VmHWM) during those runs,
#     for governed and for the floors;
#   - plans of governed against ledgers with long histories (run_history:
#     HISTORY, default "0 10000 100000 1000000" events of other grants added
#     to the ledger after the apply), so that what a plan costs as the ledger
#     grows is seen; HISTORY= leaves it out;
#   - the Go benchmarks of the policy and the ledger, including verification
#     throughput.
#
# Absolute times depend on the machine and on whatever else it is doing, so the
# figures that carry meaning are the ratios governed/baseline (and, as context,
# floor/baseline and governed/floor). All sides are measured in the same
# invocation, with the same flags, and interleaved run by run (rotating which
# goes first) so that drift and noise hit all sides alike.
#
# Usage: make bench, or   N=1000 RUNS=5 ./scripts/bench.sh
# Settings (environment): N, RUNS, PARALLELISM (passed to every side as
# -parallelism), PG=0 to skip the PostgreSQL side, HISTORY (event counts of
# the ledger-history side; empty to skip it), KEEP_WORK=1 to keep the scratch
# directory, GOBENCH=0 to skip the Go benchmarks, GO.
# The report goes to stdout and to bench/results/latest.txt; progress to stderr.
set -euo pipefail
export LC_ALL=C

N=${N:-1000}
RUNS=${RUNS:-5}
PARALLELISM=${PARALLELISM:-10}
KEEP_WORK=${KEEP_WORK:-0}
PG=${PG:-1}
HISTORY=${HISTORY-0 10000 100000 1000000}
GOBENCH=${GOBENCH:-1}
GO=${GO:-go}

# Targets. A miss is reported, not treated as a failure: this is a measurement.
APPLY_TARGET=1.15     # governed/baseline, median apply time
PLAN_TARGET=1.30      # governed/protocol (the protocol floor), median plan time
PG_TARGET=1.50        # pg/baseline, median apply and plan time
RSS_TARGET_MIB=100    # provider peak RSS
VERIFY_TARGET=500000  # ledger verification, events/s (BenchmarkVerify)

# The same commands, with the same flags, for every side.
APPLY_CMD=(terraform apply -auto-approve -input=false -no-color "-parallelism=$PARALLELISM")
PLAN_CMD=(terraform plan -input=false -detailed-exitcode -no-color "-parallelism=$PARALLELISM")

ENTITLEMENT=bench-read
SAMPLE_INTERVAL=0.1   # seconds between RSS samples

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-tfbench.XXXXXX")
provider_bin=$work/bin/terraform-provider-governed
# The floor goes in a directory of its own under the same file name, since
# dev_overrides names a directory and Terraform looks for the provider's name in it.
floor_bin=$work/floor/terraform-provider-governed
protocol_bin=$work/protocol/terraform-provider-governed
times=$work/times.tsv # kind phase run seconds peak_kib provider_processes

progress() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

cleanup() {
  local rc=$?
  stop_postgres
  if [[ $rc -ne 0 || $KEEP_WORK == 1 ]]; then
    printf 'bench: scratch files kept in %s\n' "$work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# --- setup ---------------------------------------------------------------

# The commit the binaries are built from, read when they are built: the tree
# may move on during a long run.
source_commit=unknown

build_provider() {
  progress "Building the provider, the framework floor and the protocol floor"
  source_commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  "$GO" build -C "$root" -o "$provider_bin" .
  "$GO" build -C "$root" -o "$floor_bin" ./bench/floor
  "$GO" build -C "$root" -o "$protocol_bin" ./bench/protofloor
  [[ -z $HISTORY ]] || "$GO" build -C "$root" -o "$work/history" ./bench/history
  [[ $PG == 1 ]] && "$GO" build -C "$root" -o "$work/pgserver" ./bench/pgserver
  # As /proc/PID/exe shows them.
  provider_bin=$(readlink -f "$provider_bin")
  floor_bin=$(readlink -f "$floor_bin")
  protocol_bin=$(readlink -f "$protocol_bin")
}

# cli_config BINARY: a throwaway CLI configuration, printed, that makes
# Terraform use BINARY as the governed provider, with no `terraform init`.
cli_config() {
  cat <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$(dirname "$1")"
  }
  direct {}
}
RC
}

# One CLI configuration per binary; measure picks one per side. The baseline
# uses governed's (it starts no provider, so either would do).
write_cli_config() {
  cli_config "$provider_bin" >"$work/terraformrc"
  cli_config "$floor_bin" >"$work/terraformrc-floor"
  cli_config "$protocol_bin" >"$work/terraformrc-protocol"
  export TF_CLI_CONFIG_FILE=$work/terraformrc TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
  unset TF_LOG TF_LOG_PROVIDER TF_LOG_CORE
}

# start_postgres: starts bench/pgserver with a database pair per run and reads
# the URLs it prints into PG_TARGET_URL_<run> and PG_LEDGER_URL_<run>. The
# server lives while file descriptor 9 (its standard input) is open.
pg_pid=
start_postgres() {
  [[ $PG == 1 ]] || return 0
  progress "Starting PostgreSQL (bench/pgserver, $N principals)"
  local runs=warmup i
  for ((i = 1; i <= RUNS; i++)); do runs+=",$i"; done
  mkfifo "$work/pg.in"
  "$work/pgserver" -n "$N" -runs "$runs" <"$work/pg.in" >"$work/pg.env" 2>"$work/pg.log" &
  pg_pid=$!
  exec 9>"$work/pg.in"
  until grep -q '^READY$' "$work/pg.env" 2>/dev/null; do
    kill -0 "$pg_pid" 2>/dev/null || { cat "$work/pg.log" >&2; die "bench/pgserver failed to start"; }
    sleep 0.2
  done
  # shellcheck disable=SC1090
  source <(grep '^PG_' "$work/pg.env")
}

stop_postgres() {
  [[ -n $pg_pid ]] || return 0
  exec 9>&-
  wait "$pg_pid" 2>/dev/null || true
  pg_pid=
}

# side_binary KIND: the provider binary that side runs (the baseline runs none,
# but is watched for governed's, so that the watcher costs it the same).
side_binary() {
  case $1 in
    floor) printf '%s\n' "$floor_bin" ;;
    protocol) printf '%s\n' "$protocol_bin" ;;
    *) printf '%s\n' "$provider_bin" ;;
  esac
}

# side_cli_config KIND: the CLI configuration file for that side.
side_cli_config() {
  case $1 in
    floor | protocol) printf '%s\n' "$work/terraformrc-$1" ;;
    *) printf '%s\n' "$work/terraformrc" ;;
  esac
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

# new_run_dir KIND NAME SIZE: a fresh directory (no state, no ledger) holding
# the KIND configuration from $work/configs/KIND-SIZE.tf; prints its path. The
# floor gets governed's configuration and provider block, unchanged; pg gets
# governed's configuration with a provider block and policy of its own.
new_run_dir() {
  local kind=$1 name=$2 size=$3 dir config=$1
  [[ $kind == floor || $kind == protocol || $kind == pg || $kind == history-* ]] && config=governed
  dir=$work/runs/$kind-$name
  mkdir -p "$dir"
  cp "$work/configs/$config-$size.tf" "$dir/main.tf"
  if [[ $kind == pg ]]; then
    local target_url ledger_url
    target_url=PG_TARGET_URL_$name ledger_url=PG_LEDGER_URL_$name
    cat >"$dir/policy.hcl" <<HCL
entitlement "$ENTITLEMENT" {
  target         = "postgres.bench"
  role           = "bench_read_$name"
  max_ttl        = "7d"
  approvers      = ["alice@example.com", "bob@example.com"]
  principals     = ["svc-*"]
  ticket_pattern = "^SEC-[0-9]+\$"
}
HCL
    cat >"$dir/provider.tf" <<HCL
provider "governed" {
  ledger           = "${!ledger_url}"
  policy_file      = "$dir/policy.hcl"
  requester        = "dev@example.com"
  postgres_targets = { bench = { url = "${!target_url}" } }
}
HCL
  elif [[ $config == governed ]]; then
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

# watch_provider TFPID BINARY: until TFPID exits, every SAMPLE_INTERVAL finds
# its children whose executable is BINARY and reads their VmHWM.
# Terraform starts the provider more than once per command (for the schema,
# then for the walk), so every such child counts. Prints "PEAK_KIB PROCESSES".
# Per sample only pgrep and sleep are started; the rest are builtins, to keep
# its own cost small. It runs during the baseline too, so that cost hits all sides.
watch_provider() {
  local tfpid=$1 binary=$2 peak=0 pid key value rest
  local -A providers=()
  while kill -0 "$tfpid" 2>/dev/null; do
    for pid in $(pgrep -P "$tfpid" || true); do
      # -ef compares the files /proc/PID/exe and the build point to. A child
      # seen between fork and exec is still terraform, so only a match is
      # remembered.
      if [[ -z ${providers[$pid]:-} ]]; then
        [[ /proc/$pid/exe -ef $binary ]] 2>/dev/null || continue
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

  local start end rc=0 tfpid watcher sample binary rc_file
  binary=$(side_binary "$kind")
  rc_file=$(side_cli_config "$kind")
  start=${EPOCHREALTIME/./}
  (cd "$dir" && TF_CLI_CONFIG_FILE=$rc_file exec "${cmd[@]}") >"$log" 2>&1 &
  tfpid=$!
  watch_provider "$tfpid" "$binary" >"$dir/$phase.rss" &
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

# The sides, in the order of the first run.
SIDES=(governed protocol floor baseline)
[[ $PG == 1 ]] && SIDES+=(pg)

# A small untimed round first: proves the setup works before the long runs and
# brings every binary into the page cache.
warm_up() {
  progress "Warm-up (5 resources each, not counted)"
  local saved=$times kind
  times=$work/warmup.tsv
  for kind in "${SIDES[@]}"; do
    run_pair "$kind" warmup 5
  done
  times=$saved
}

run_all() {
  local run i
  : >"$times"
  for ((run = 1; run <= RUNS; run++)); do
    # Rotate the order by one side per run, so that no side always runs first
    # or always follows the same one on a warmer machine.
    for ((i = 0; i < ${#SIDES[@]}; i++)); do
      run_pair "${SIDES[(run - 1 + i) % ${#SIDES[@]}]}" "$run" "$N"
    done
    [[ $KEEP_WORK == 1 ]] || rm -rf "$work/runs/"*-"$run"
  done
}

# run_history: the ledger-history side. For each event count E in HISTORY, a
# directory where governed applies N grants on a new ledger, untimed; then
# bench/history appends E events of other grants to that ledger (issued,
# expired and retired over a year and a half) and the plan with no changes is
# timed, RUNS times, the sizes interleaved. E=0 is the new ledger that the
# others are compared with. Kept apart from run_all, so that other
# measurements of long ledgers can sit beside it.
run_history() {
  [[ -n $HISTORY ]] || return 0
  local events run i dir rc_file
  local -a sizes
  read -r -a sizes <<<"$HISTORY"
  rc_file=$(side_cli_config governed)
  for events in "${sizes[@]}"; do
    [[ $events =~ ^[0-9]+$ ]] || die "HISTORY holds $events, not an event count"
    dir=$(new_run_dir "history-$events" hist "$N")
    progress "history: applying $N grants, then adding $events events to the ledger"
    (cd "$dir" && TF_CLI_CONFIG_FILE=$rc_file exec "${APPLY_CMD[@]}") >"$dir/apply.log" 2>&1 ||
      { tail -n 40 "$dir/apply.log" >&2; die "history-$events apply failed; see $dir/apply.log"; }
    if ((events > 0)); then
      "$work/history" -ledger "$dir/governed.db" -events "$events" || die "bench/history failed for $events events"
    fi
  done
  for ((run = 1; run <= RUNS; run++)); do
    for ((i = 0; i < ${#sizes[@]}; i++)); do
      events=${sizes[(run - 1 + i) % ${#sizes[@]}]}
      measure "history-$events" plan "$run" "$work/runs/history-$events-hist"
    done
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
  echo "governed provider benchmark"
  echo "  date          $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "  source        working tree at HEAD $source_commit when built (uncommitted changes included)"
  echo "  terraform     $(terraform version | sed -n 1p)"
  echo "  go            $("$GO" env GOVERSION)"
  echo "  cpus          $(nproc)"
  echo "  resources     N=$N per configuration, RUNS=$RUNS runs of each"
  echo "  protocol      bench/protofloor: governed_grant's schema in a provider on terraform-plugin-go that does nothing"
  echo "  floor         bench/floor: governed_grant's schema in a framework provider that does nothing, same configuration"
  [[ $PG == 1 ]] && echo "  pg            the same grants on a PostgreSQL target (GRANT per grant) with a PostgreSQL ledger; fsync on"
  echo "  apply         ${APPLY_CMD[*]}   (from an empty state and an empty ledger)"
  echo "  plan          ${PLAN_CMD[*]}   (must exit 0: no changes)"
  echo
}

report_times() {
  local phase kind lo hi ratio target
  local -A median=()
  echo "Wall time, seconds (governed_grant vs the protocol floor vs the framework floor vs terraform_data, same values)"
  printf '  %-6s %-9s %9s %9s %9s\n' phase side median min max
  for phase in apply plan; do
    for kind in "${SIDES[@]}"; do
      read -r "median[$kind-$phase]" lo hi < <(seconds "$kind" "$phase" | summarise)
      printf '  %-6s %-9s %9s %9s %9s\n' "$phase" "$kind" "${median[$kind-$phase]}" "$lo" "$hi"
    done
  done
  echo
  echo "Targets (ratios of medians): apply against terraform_data, plan against the protocol floor"
  ratio=$(awk -v g="${median[governed-apply]}" -v b="${median[baseline-apply]}" 'BEGIN { printf "%.2f", g / b }')
  printf '  apply  governed/baseline %5sx   target <= %sx   %s\n' "$ratio" "$APPLY_TARGET" "$(verdict "$ratio" "$APPLY_TARGET")"
  ratio=$(awk -v g="${median[governed-plan]}" -v b="${median[protocol-plan]}" 'BEGIN { printf "%.2f", g / b }')
  printf '  plan   governed/protocol %5sx   target <= %sx   %s\n' "$ratio" "$PLAN_TARGET" "$(verdict "$ratio" "$PLAN_TARGET")"
  if [[ $PG == 1 ]]; then
    echo
    echo "Ratio pg/baseline (medians): grants on a PostgreSQL target with a PostgreSQL ledger"
    for phase in apply plan; do
      ratio=$(awk -v g="${median[pg-$phase]}" -v b="${median[baseline-$phase]}" 'BEGIN { printf "%.2f", g / b }')
      printf '  %-6s %5sx   target <= %sx   %s
' "$phase" "$ratio" "$PG_TARGET" "$(verdict "$ratio" "$PG_TARGET")"
    done
  fi
  echo
  echo "Against the floors (medians; context, no target)"
  echo "  protocol/baseline: the protocol floor, what any external provider with this schema costs"
  echo "  floor/protocol:    what the plugin framework adds to it"
  echo "  governed/floor:    governed's own cost, what governed adds to the framework floor"
  echo "  governed/baseline: governed against Terraform's built-in terraform_data"
  for phase in apply plan; do
    awk -v p="$phase" -v g="${median[governed-$phase]}" -v f="${median[floor-$phase]}" -v b="${median[baseline-$phase]}" -v r="${median[protocol-$phase]}" 'BEGIN {
      printf "  %-6s protocol/baseline %5.2fx (%+.3fs)   protocol floor\n", p, r / b, r - b
      printf "  %-6s floor/protocol    %5.2fx (%+.3fs)   framework\n", p, f / r, f - r
      printf "  %-6s governed/floor    %5.2fx (%+.3fs)   governed'"'"'s own cost\n", p, g / f, g - f
      printf "  %-6s governed/baseline %5.2fx (%+.3fs)\n", p, g / b, g - b
    }'
  done
  echo
}

report_memory() {
  local kind phase peak_kib peak_mib procs label sampled=0
  echo "Provider peak RSS (VmHWM of the provider processes, sampled every ${SAMPLE_INTERVAL}s)"
  for kind in governed protocol floor; do
    label=
    [[ $kind != governed ]] && label="$kind "
    for phase in apply plan all; do
      peak_kib=$(awk -v k="$kind" -v p="$phase" '$1 == k && (p == "all" || $2 == p) { if ($5 > m) m = $5 } END { print m + 0 }' "$times")
      peak_mib=$(awk -v k="$peak_kib" 'BEGIN { printf "%.1f", k / 1024 }')
      ((peak_kib > 0)) && sampled=1
      if [[ $phase == all && $kind == governed ]]; then
        printf '  max over all governed runs   %6s MiB   target <= %s MiB   %s\n' \
          "$peak_mib" "$RSS_TARGET_MIB" "$(verdict "$peak_mib" "$RSS_TARGET_MIB")"
      elif [[ $phase == all ]]; then
        printf '  %-28s %6s MiB   (context, no target)\n' "max over all $kind runs" "$peak_mib"
      else
        procs=$(awk -v k="$kind" -v p="$phase" '$1 == k && $2 == p { print $6 }' "$times" | sort -un | paste -sd, -)
        printf '  %-28s %6s MiB   (provider processes sampled per %s: %s)\n' \
          "${label}max during $phase" "$peak_mib" "$phase" "$procs"
      fi
    done
  done
  if ((!sampled)); then
    echo "  (no provider process was sampled: the runs were shorter than one sample, or"
    echo "   the provider is not started as a direct child of terraform)"
  fi
  echo
}

# report_history: the plans against long ledgers, each against the new
# ledger's (HISTORY's first count, normally 0) in the same run.
report_history() {
  [[ -n $HISTORY ]] || return 0
  local events first median lo hi peak_kib
  local -a sizes
  read -r -a sizes <<<"$HISTORY"
  first=${sizes[0]}
  local first_median
  read -r first_median lo hi < <(seconds "history-$first" plan | summarise)
  echo "Plans of N=$N grants against a ledger with a long history (events added after the apply; medians of $RUNS)"
  printf '  %12s %9s %9s %9s %14s %10s\n' events median min max "vs $first events" "peak MiB"
  for events in "${sizes[@]}"; do
    read -r median lo hi < <(seconds "history-$events" plan | summarise)
    peak_kib=$(awk -v k="history-$events" '$1 == k { if ($5 > m) m = $5 } END { print m + 0 }' "$times")
    awk -v e="$events" -v m="$median" -v lo="$lo" -v hi="$hi" -v f="$first_median" -v p="$peak_kib" 'BEGIN {
      printf "  %12d %9.3f %9.3f %9.3f %13.2fx %10.1f\n", e, m, lo, hi, m / f, p / 1024 }'
  done
  echo
}

report_runs() {
  echo "Per run (in the order they ran)"
  printf '  %-4s %-15s %-6s %10s %12s\n' run side phase seconds "peak MiB"
  awk '{ printf "  %-4s %-15s %-6s %10.3f %12s\n", $3, $1, $2, $4, $1 != "baseline" ? sprintf("%.1f", $5 / 1024) : "-" }' "$times"
  echo
}

# The Go benchmarks of the domain packages. When they do not build or one
# fails, it prints the output and leaves $work/go-failed, so that the script
# still writes the report and then exits non-zero.
report_go_benchmarks() {
  local raw=$work/gobench.txt rc=0 verify median lo hi
  progress "Go benchmarks (count 5)"
  echo "Go benchmarks: go test -run '^\$' -bench . -benchmem -count 5 ./internal/policy/ ./internal/ledger/ ./internal/review/"
  (cd "$root" && "$GO" test -run '^$' -bench . -benchmem -count 5 ./internal/policy/ ./internal/ledger/ ./internal/review/) >"$raw" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    sed 's/^/  /' "$raw"
    echo "  FAILED (exit code $rc)"
    : >"$work/go-failed"
    return 0
  fi
  # benchstat is the version go.mod's tool block pins; the label keeps the
  # column's heading to the file's name rather than its path.
  if ! timeout 300 "$GO" -C "$root" tool benchstat "$(basename "$raw")=$raw" 2>/dev/null | sed 's/^/  /'; then
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
  start_postgres
  warm_up
  run_all
  run_history
  stop_postgres

  report_header
  report_times
  report_memory
  report_history
  report_runs
  [[ $GOBENCH == 0 ]] || report_go_benchmarks
}

mkdir -p "$root/bench/results"
main | tee "$work/report.txt"
cp "$work/report.txt" "$root/bench/results/latest.txt"
progress "Report written to bench/results/latest.txt"
[[ ! -e $work/go-failed ]] || die "the Go benchmarks failed; see the report"
