#!/usr/bin/env bash
# Installs what `make test` and `make run` need on a fresh Debian machine.
# Idempotent: a second call only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in iproute2 ca-certificates systemd-container python3-yaml e2fsprogs; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
scripts/graphite.sh install
