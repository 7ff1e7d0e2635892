#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine; with "run", only
# what `make run` needs (Graphite, systemd-nspawn; Docker optional).
# Idempotent: a second call only checks.
#   scripts/deps.sh [run]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}
pkgs=(iproute2 ca-certificates systemd-container)
# busybox-static: the one-binary rootfs of the containerd (ctr) tests.
if [[ $mode != run ]]; then pkgs+=(python3-yaml e2fsprogs busybox-static); fi
need=()
for pkg in "${pkgs[@]}"; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# Carbon, graphite-web, and for the cluster (scripts/cluster.sh) carbon-c-relay and socat.
scripts/graphite.sh install

if [[ $mode == run ]]; then
	if ! docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
		echo "deps.sh: no Docker daemon here: make run works, containers are named by their short id" >&2
	fi
	exit 0
fi

# The services tests run real nginx, redis, memcached and postgresql, each
# started by the test itself. The packages' own services must not start
# (they would hold the default ports and a postgres cluster): a
# policy-rc.d refusing every start is in place during the install (and
# left as it was found), and units a systemd host started anyway are
# stopped and disabled.
svc=()
for pkg in nginx-light redis-server memcached postgresql; do
	dpkg -s "$pkg" >/dev/null 2>&1 || svc+=("$pkg")
done
if ((${#svc[@]})); then
	own_policy=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${svc[@]}" || {
		[[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
		exit 1
	}
	[[ -z $own_policy ]] || rm -f /usr/sbin/policy-rc.d
	if [[ -d /run/systemd/system ]]; then
		for unit in nginx redis-server memcached postgresql; do
			systemctl disable --now "$unit" >/dev/null 2>&1 || true
		done
	fi
fi

# The container tests need the real Docker Engine (it runs on the project's
# machines; there is no registry, the tests build their images locally).
# A missing daemon fails here, loudly, instead of skipping those tests.
if ! command -v docker >/dev/null 2>&1; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io
fi
# ctr, containerd's CLI, drives the Docker Engine's containerd in the
# Kubernetes-shaped tests.
if ! command -v ctr >/dev/null 2>&1; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd
fi
if ! docker version --format '{{.Server.APIVersion}}' >/dev/null 2>&1; then
	echo "deps.sh: the Docker daemon is not reachable (docker version failed); the container tests need it" >&2
	exit 1
fi
