#!/usr/bin/env bash
# The quickstart, end to end: build the provider and the governed command, point
# a throwaway Terraform CLI configuration at the build, apply examples/quickstart
# against a local SQLite ledger, show a plan that policy refuses, and verify the
# ledger. Everything happens in a temporary directory, which is left for you to
# look around in.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-demo.XXXXXX")
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Building the provider and the governed command"
go build -C "$root" -o "$work/bin/terraform-provider-governed" .
go build -C "$root" -o "$work/bin/governed" ./cmd/governed

cat >"$work/terraformrc" <<RC
provider_installation {
  dev_overrides {
    "governed-entitlements/governed" = "$work/bin"
  }
  direct {}
}
RC
export TF_CLI_CONFIG_FILE="$work/terraformrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
cp -R "$root/examples/quickstart" "$work/quickstart"
cd "$work/quickstart"

say "terraform apply: record an approval and issue two grants"
terraform apply -input=false -auto-approve

say "terraform plan: nothing to do"
terraform plan -input=false -detailed-exitcode

say "terraform plan with a self-approved grant: policy refuses it"
if terraform plan -input=false -var show_refusal=true; then
  echo "expected the plan to be refused" >&2
  exit 1
fi

say "governed verify: the ledger's hash chain"
"$work/bin/governed" verify --ledger governed.db

say "governed grants: what is granted, from the ledger"
"$work/bin/governed" grants --ledger governed.db

say "Done. The demo's files are in $work/quickstart"
