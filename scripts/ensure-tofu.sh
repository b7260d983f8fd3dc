#!/usr/bin/env bash
# Makes sure the OpenTofu CLI the acceptance tests run on is built, and prints
# its path. Debian and npm do not carry OpenTofu; the Go module proxy serves
# its source, which builds with `go build ./cmd/tofu` when it is the main
# module (its replace directives then apply). The first build takes minutes;
# the binary is kept in the cache directory and later runs reuse it.
#
#   TOFU_VERSION   the module version to build (default below: the latest
#                  v1.11 patch that the proxy serves and the Go checksum
#                  database verifies; the proxy's version list omits the v1.11
#                  series, so it is pinned here)
#   TOFU_CACHE_DIR where builds are kept (default
#                  ${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-governed)
set -euo pipefail

VERSION=${TOFU_VERSION:-v1.11.6}
cache=${TOFU_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/terraform-provider-governed}
dir=$cache/tofu-$VERSION
bin=$dir/tofu
GO=${GO:-go}

if [[ -x $bin ]] && "$bin" version 2>/dev/null | grep -q "^OpenTofu ${VERSION}\$"; then
  echo "$bin"
  exit 0
fi

echo "building OpenTofu $VERSION into $dir (once; later runs reuse it)" >&2
mkdir -p "$dir"
work=$(mktemp -d "$dir/build.XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# The module cache is read-only: copy the module out before building it.
info=$(cd "$work" && GOFLAGS=-mod=mod "$GO" mod download -json "github.com/opentofu/opentofu@$VERSION")
src=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")
if [[ -z $src || ! -d $src ]]; then
  echo "go mod download github.com/opentofu/opentofu@$VERSION gave no directory:" >&2
  sed -n 's/^[[:space:]]*"Error": //p' <<<"$info" >&2
  exit 1
fi
cp -R "$src" "$work/src"
chmod -R u+w "$work/src"

# The binary reports the version in its version/VERSION file, marked -dev
# unless built as a release is (version.dev=no).
(cd "$work/src" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 "$GO" build -trimpath \
  -ldflags "-X github.com/opentofu/opentofu/version.dev=no" -o "$work/tofu" ./cmd/tofu)
mv "$work/tofu" "$bin"
"$bin" version >&2
echo "$bin"
