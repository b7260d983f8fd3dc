#!/usr/bin/env bash
# Runs each fuzz test of the given packages for FUZZTIME (a duration, such as
# 5s). A finding fails the run: go test writes the failing input under the
# package's testdata/fuzz/<name>, where every later go test runs it.
#
# Go 1.26's fuzzing coordinator can end a -fuzztime run that found nothing with
# a bare "context deadline exceeded" failure when the deadline races a busy
# worker (go.dev/issue/75804, fixed in Go 1.27). Such a run wrote no failing
# input, so it is run again, at most twice; any other failure, or a run that
# wrote an input, fails at once.
set -euo pipefail

fuzztime="${FUZZTIME:-5s}"
go="${GO:-go}"
[ "$#" -gt 0 ] || { echo "usage: FUZZTIME=5s $0 PACKAGE..." >&2; exit 2; }

# The inputs kept for one fuzz test, one path per line (none yet: nothing).
inputs() { if [ -d "$1" ]; then find "$1" -type f | sort; fi; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

for p in "$@"; do
	for f in $("$go" test "$p" -list '^Fuzz' | grep '^Fuzz'); do
		corpus="$p/testdata/fuzz/$f"
		for attempt in 1 2 3; do
			echo "fuzz $p $f (attempt $attempt)"
			before="$(inputs "$corpus")"
			if "$go" test "$p" -run '^$' -fuzz "^$f\$" -fuzztime "$fuzztime" 2>&1 | tee "$log"; then
				break
			fi
			after="$(inputs "$corpus")"
			if [ "$attempt" -lt 3 ] && [ "$before" = "$after" ] &&
				grep -q 'context deadline exceeded' "$log" &&
				! grep -qE 'Failing input written|panic:' "$log"; then
				echo "fuzz $p $f: the run ended on the fuzzing deadline with no failing input (go.dev/issue/75804); running it again" >&2
				continue
			fi
			echo "fuzz $p $f failed" >&2
			exit 1
		done
	done
done
