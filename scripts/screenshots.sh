#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/screenshots.sh [DIR] [SECONDS]
#
# Pictures of the main dashboard panels for the README: starts a real
# carbon-cache + graphite-web on free 127.0.0.1 ports (scripts/graphite.sh,
# state in a temporary folder) and the check's real test containers
# (cgroups with processes, needs root), runs the agent at a 1 s interval
# for SECONDS (default 60) with a host CPU burst and disk writes in the
# middle, then renders each panel's Graphite targets, as in the dashboard
# JSON, through graphite-web's /render?format=png (800 x 300) into DIR
# (default docs/img): host-cpu, host-load, host-memory, host-disk-io,
# containers-top-cpu, containers-top-memory, containers-network,
# containers-group-cpu, agent-collectors (.png) and the composite
# overview.png (two pictures a row) that README.md shows.
#
# It is the check's set-up (dashboards/live_test.go) with a longer run:
# go test ./dashboards -run TestScreenshots with NODEMETRICS_SCREENSHOTS=DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$ROOT/docs/img}"
SECONDS_RUN="${2:-60}"
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

cd "$ROOT"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! NODEMETRICS_SCREENSHOTS="$DIR" NODEMETRICS_SCREENSHOT_SECONDS="$SECONDS_RUN" \
	go test -count=1 -run '^TestScreenshots$' -timeout 15m -v ./dashboards >"$log" 2>&1; then
	grep -v ' series \[' "$log" | tail -40 >&2
	echo "screenshots.sh: failed" >&2
	exit 1
fi
grep -E '\.png' "$log" | sed 's/^ *screenshots_test.go:[0-9]*: //'
