#!/usr/bin/env bash
# Installs what `make test` and `make run` need on a fresh Debian machine.
# Idempotent: a second call only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
# busybox-static: the one-binary rootfs of the containerd (ctr) tests;
# containerd: its ctr CLI (the Docker Engine's containerd is the daemon).
for pkg in iproute2 ca-certificates systemd-container python3-yaml e2fsprogs busybox-static; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
scripts/graphite.sh install

# The container tests need the real Docker Engine (it runs on the project's
# machines; there is no registry, the tests build their images locally).
# A missing daemon fails here, loudly, instead of skipping those tests.
if ! command -v docker >/dev/null 2>&1; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io
fi
if ! command -v ctr >/dev/null 2>&1; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd
fi
if ! docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
	echo "deps.sh: the Docker daemon is not reachable (docker version failed); the container tests need it" >&2
	exit 1
fi
