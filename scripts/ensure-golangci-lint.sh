#!/usr/bin/env bash
# Makes sure bin/tools/golangci-lint is the pinned version, building it with
# `go install` from the Go module proxy when it is missing or another version.
# It is kept out of go.mod: its dependency tree is far larger than the project's.
set -euo pipefail

VERSION=v2.15.0
root=$(cd "$(dirname "$0")/.." && pwd)
tools=$root/bin/tools
bin=$tools/golangci-lint

if [[ -x $bin ]] && "$bin" version 2>/dev/null | grep -q "version ${VERSION#v} "; then
  exit 0
fi

echo "installing golangci-lint $VERSION into bin/tools" >&2
mkdir -p "$tools"
GOBIN=$tools "${GO:-go}" install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$VERSION"
