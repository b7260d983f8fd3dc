#!/usr/bin/env bash
# Makes sure OpenSSH's ssh-keygen, which the tests of signed approvals and the
# demo run, is installed, installing Debian's openssh-client package when it is
# not.
set -euo pipefail

command -v ssh-keygen >/dev/null && exit 0

echo "ssh-keygen not found; installing the openssh-client package" >&2
if ! command -v apt-get >/dev/null; then
  echo "apt-get is not available: install OpenSSH (ssh-keygen 8.2 or later)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends openssh-client >/dev/null
command -v ssh-keygen >/dev/null || { echo "openssh-client was installed but ssh-keygen was not found" >&2; exit 1; }
