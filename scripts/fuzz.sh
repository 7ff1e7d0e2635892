#!/usr/bin/env bash
# Runs every Fuzz* target of the module for $1 each: a count ("5000x", the
# short run of `make test`) or a duration ("30m", a long run).
# A failing input is saved under the package's testdata/fuzz/ by go test.
set -euo pipefail
fuzztime=${1:-5000x}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	for fn in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $fn ($fuzztime)"
		for try in 1 2; do
			if go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
				break
			fi
			# go's fuzz coordinator sometimes ends a run on a loaded machine
			# with "context deadline exceeded" and no failing input: retry
			# that once; a real failure names its input and is reported.
			if [[ $try == 1 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input' "$log"; then
				continue
			fi
			cat "$log"
			exit 1
		done
	done
done
