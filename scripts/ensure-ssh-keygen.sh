#!/usr/bin/env bash
# Makes sure OpenSSH's ssh-keygen, which the tests of signed approvals and the
# demo run, is installed, installing Debian's openssh-client package when it is
# not.
set -euo pipefail

command -v ssh-keygen >/dev/null && exit 0

echo "ssh-keygen not found; installing the openssh-client package" >&2
# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"
apt_install "OpenSSH (ssh-keygen 8.2 or later)" openssh-client
command -v ssh-keygen >/dev/null || { echo "openssh-client was installed but ssh-keygen was not found" >&2; exit 1; }
