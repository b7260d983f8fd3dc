#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) that the
# tests run are installed, installing Debian's postgresql package when they
# are not. The tests start and stop their own server; nothing is left running.
set -euo pipefail

have_server() {
  local d
  for d in "${GOVERNED_PG_BINDIR:-}" "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
    [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && return 0
  done
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null
}

if have_server; then
  exit 0
fi

echo "PostgreSQL server binaries not found; installing the postgresql package" >&2
# shellcheck source=lib/apt.sh
. "$(dirname "$0")/lib/apt.sh"
apt_install "the PostgreSQL server (initdb, pg_ctl, postgres) and set GOVERNED_PG_BINDIR" postgresql
# Debian's package starts a cluster of its own; the tests do not use it.
if command -v pg_lsclusters >/dev/null; then
  pg_lsclusters -h 2>/dev/null | while read -r version cluster _; do
    $([ "$(id -u)" -ne 0 ] && echo sudo) pg_ctlcluster "$version" "$cluster" stop 2>/dev/null || true
  done
fi
have_server || { echo "postgresql was installed but its server binaries were not found" >&2; exit 1; }
