#!/usr/bin/env bash
# The quickstart, end to end: build the provider and the governed command, point
# a throwaway Terraform CLI configuration at the build, apply examples/quickstart
# against a local SQLite ledger, show a plan that policy refuses, and verify the
# ledger. Everything happens in a temporary directory, which is left for you to
# look around in.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/governed-demo.XXXXXX")
# Bold headings and Terraform's colours on a terminal; plain text into a pipe
# or a file, or with NO_COLOR set.
if [[ -t 1 && -z ${NO_COLOR:-} ]]; then
  say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  say() { printf '\n==> %s\n' "$*"; }
  export TF_CLI_ARGS="-no-color${TF_CLI_ARGS:+ $TF_CLI_ARGS}"
fi

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

say "governed evidence: per grant, authorised, time bound and revoked on time (exit 1 on a finding)"
"$work/bin/governed" evidence --ledger governed.db --format md || true

say "Signed approvals: examples/signed-approvals, with an SSH key made for Alice"
cp -R "$root/examples/signed-approvals" "$work/signed-approvals"
cd "$work/signed-approvals"
ssh-keygen -q -t ed25519 -N '' -C alice@example.com -f "$work/alice_ed25519"
printf 'alice@example.com %s\n' "$(cat "$work/alice_ed25519.pub")" >>approvers.allowed_signers
# The approval's expiry is written out, three days from now: the statement
# Alice signs names it. (GNU date, else BSD date.)
TF_VAR_approval_expires_at=$(date -u -d '+3 days' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+3d +%Y-%m-%dT%H:%M:%SZ)
export TF_VAR_approval_expires_at

say "terraform plan before Alice signed: refused, with the command that signs"
if plan=$(terraform plan -input=false -no-color -var signed=false 2>&1); then
  echo "expected the plan to be refused" >&2
  exit 1
fi
printf '%s\n' "$plan" | sed -n '/Rule signature.missing/,/ssh-keygen -Y sign/p' |
  sed 's/^│\? *//; s/\(echo [A-Za-z0-9+/=]\{24\}\)[A-Za-z0-9+/=]*/\1…/'
sign=$(printf '%s\n' "$plan" | grep -o 'echo [A-Za-z0-9+/=]* | base64 -d | ssh-keygen -Y sign .*alice\.sig')

say "Alice runs that command with her key"
mkdir -p approvals/SEC-1042
eval "${sign/\~\/.ssh\/id_ed25519/$work/alice_ed25519}"
head -1 approvals/SEC-1042/alice.sig

say "terraform apply: the signed approval counts, and the grant is issued"
terraform apply -input=false -auto-approve

say "ssh-keygen -Y verify: anyone can check Alice's signature with stock OpenSSH"
terraform output -raw statement | ssh-keygen -Y verify -f approvers.allowed_signers -I alice@example.com \
  -n governed-approval -s approvals/SEC-1042/alice.sig

say "Done. The demo's files are in $work/quickstart and $work/signed-approvals"
