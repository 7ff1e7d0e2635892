#!/usr/bin/env bash
# Runs every Fuzz* target of the module for $1 (default 3s) each.
# A longer run, e.g. overnight: scripts/fuzz.sh 30m
set -euo pipefail
fuzztime=${1:-3s}
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
	for fn in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "fuzz $pkg $fn ($fuzztime)"
		go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" "$pkg" >/tmp/fuzz.$$.log 2>&1 || { cat /tmp/fuzz.$$.log; exit 1; }
	done
done
rm -f /tmp/fuzz.$$.log
