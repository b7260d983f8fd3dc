#!/usr/bin/env bash
# Plans the configuration in the current directory and reviews its grant diff,
# as the pull-request jobs of examples/ci run it:
#
#   terraform plan -json -out=OUT/tfplan   > OUT/plan.jsonl   (the log, refusals included)
#   terraform show -json OUT/tfplan        > OUT/plan.json    (when a plan file was written)
#   governed review ...                    > OUT/review.md, review.json, review.sarif
#
# and prints the review's GitHub workflow annotations on stdout. Where
# GITHUB_STEP_SUMMARY is set, the Markdown review is added to the step summary.
# Exits with governed review's code: 0 nothing blocks, 1 something blocks,
# 2 bad input. Extra arguments go to terraform plan.
#
# Usage: review-plan.sh OUT [terraform plan arguments...]
# Environment: TERRAFORM (default terraform), GOVERNED (default governed),
#              GOVERNED_EXPIRING_WITHIN (default 3d).
set -uo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT [terraform plan arguments...]" >&2
  exit 2
fi
out=$1
shift
terraform=${TERRAFORM:-terraform}
governed=${GOVERNED:-governed}
mkdir -p "$out" || exit 2
rm -f "$out/tfplan" "$out/plan.json"

# A refused plan exits 1 and may still write a plan file marked errored: the
# review reads both, and blocks on the refusals in the log.
"$terraform" plan -input=false -no-color -json -out="$out/tfplan" "$@" >"$out/plan.jsonl"
plan_exit=$?
within=${GOVERNED_EXPIRING_WITHIN:-3d}
if [ -f "$out/tfplan" ]; then
  "$terraform" show -json "$out/tfplan" >"$out/plan.json" || exit 2
elif [ "$plan_exit" -eq 0 ]; then
  echo "$0: terraform plan succeeded but wrote no plan file" >&2
  exit 2
fi
review() {
  if [ -f "$out/plan.json" ]; then
    "$governed" review --plan "$out/plan.json" --plan-log "$out/plan.jsonl" --expiring-within "$within" --format "$1"
  else
    "$governed" review --plan-log "$out/plan.jsonl" --expiring-within "$within" --format "$1"
  fi
}

review md >"$out/review.md"
code=$?
if [ "$code" -ne 0 ] && [ "$code" -ne 1 ]; then
  exit "$code"
fi
review json >"$out/review.json"
review sarif >"$out/review.sarif"
review github
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  cat "$out/review.md" >>"$GITHUB_STEP_SUMMARY"
fi
if [ "$plan_exit" -ne 0 ] && [ "$code" -eq 0 ]; then
  # A plan that failed and left nothing the review recognises still blocks.
  echo "$0: terraform plan failed (exit $plan_exit); see $out/plan.jsonl" >&2
  exit 1
fi
exit "$code"
