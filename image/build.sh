#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# image/build.sh OUTDIR
#
# Builds the nodemetrics image without any container engine, reproducibly:
# the same source, VERSION and SOURCE_DATE_EPOCH give byte-identical files.
#
#   OUTDIR/rootfs/                     the image tree (nspawn -D, machinectl)
#   OUTDIR/nodemetrics.tar.gz          that tree as a tarball (nspawn-container,
#                                      machinectl import-tar, Butane storage.files)
#   OUTDIR/nodemetrics-oci.tar         OCI image layout (skopeo, podman, containerd,
#                                      `docker load` from Docker 25 on)
#   OUTDIR/nodemetrics-docker.tar      docker-archive: `docker load` of any version
#   OUTDIR/SHA256SUMS                  for `machinectl pull-tar` and downloads
#
# Environment:
#   VERSION            stamped into the binary, os-release and the image tag
#                      (default: git describe, else "dev")
#   SOURCE_DATE_EPOCH  every mtime and the image "created" time
#                      (default: the last commit's time, else 0)
#   COLLECTOR          use this already built binary instead of building one
#   IMAGE_NAME         repository of the image tag (default: nodemetrics)
#   GOARCH             target architecture (default: go env GOARCH)
set -euo pipefail
export LC_ALL=C TZ=UTC

die() { echo "image/build.sh: $*" >&2; exit 2; }
[[ $# -eq 1 && $1 != -* ]] || die "usage: image/build.sh OUTDIR"
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
for tool in tar gzip sha256sum; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

cd "$src"
VERSION=${VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be epoch seconds, got '$SOURCE_DATE_EPOCH'"
[[ $VERSION =~ ^[A-Za-z0-9_.+-]+$ ]] || die "VERSION may only hold [A-Za-z0-9_.+-], got '$VERSION'"
IMAGE_NAME=${IMAGE_NAME:-nodemetrics}
arch=${GOARCH:-$(go env GOARCH 2>/dev/null || echo amd64)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
tag="$IMAGE_NAME:${VERSION//+/_}" # docker tags allow no '+'

work="$out/.work"
rm -rf "$work" "$out/rootfs"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

# --- the binary: static, stripped, version stamped, no build paths, net/http
# without HTTP/2 (the Makefile's TAGS say why) -------------------------------
root="$out/rootfs"
mkdir -p "$root/usr/bin"
if [[ -n ${COLLECTOR:-} ]]; then
	cp "$COLLECTOR" "$root/usr/bin/collector"
else
	CGO_ENABLED=0 GOARCH=$arch GOFLAGS=-buildvcs=false go build -trimpath \
		-tags nethttpomithttp2 -ldflags "-s -w -X main.version=$VERSION" -o "$root/usr/bin/collector" ./cmd/collector
fi

# --- the minimum tree ------------------------------------------------------
# nspawn wants usr/ and (for machinectl, --boot, nspawn@.service) os-release;
# it creates dev, proc, sys, run, tmp and etc/resolv.conf itself. The agent
# needs only name resolution for --graphite: nsswitch.conf + hosts (Go's
# pure resolver), resolv.conf comes from nspawn/Docker/Kubernetes.
mkdir -p "$root"/{usr/lib,etc,dev,proc,sys,run,tmp,var/tmp,var/lib/nodemetrics} "$root"/host/{proc,sys,root,run}
cat >"$root/usr/lib/os-release" <<EOF
NAME="nodemetrics"
ID=nodemetrics
VERSION_ID="$VERSION"
PRETTY_NAME="nodemetrics $VERSION (Diamond-compatible node metrics agent)"
HOME_URL="https://github.com/nodemetrics/nodemetrics"
EOF
ln -s ../usr/lib/os-release "$root/etc/os-release"
printf 'root:x:0:0:root:/:/usr/bin/collector\nnobody:x:65534:65534:nobody:/nonexistent:/usr/bin/collector\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
: >"$root/etc/machine-id" # empty: nspawn/systemd fill in a transient one

# Fixed modes (independent of umask), then fixed mtimes on everything.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/bin/collector"
chmod 1777 "$root/tmp" "$root/var/tmp"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# reprotar DIR OUT: a tar of DIR's contents with names relative to DIR
# ("usr/bin/collector", no "./"), sorted, root-owned, fixed mtime.
reprotar() {
	local dir=$1 dst=$2 names
	mapfile -t names < <(cd "$dir" && ls -A | sort)
	tar --create --file="$dst" --directory="$dir" --format=gnu --sort=name \
		--mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
		--no-acls --no-xattrs --no-selinux -- "${names[@]}"
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

# --- nspawn tarball ----------------------------------------------------------
reprotar "$root" "$work/layer.tar"
gzip -n -9 <"$work/layer.tar" >"$out/nodemetrics.tar.gz"

# --- image config (shared by OCI and docker-archive) --------------------------
diff_id=$(sha "$work/layer.tar")
cat >"$work/config.json" <<EOF
{"architecture":"$arch","config":{"Cmd":["--procfs","/host/proc","--sysfs","/host/sys","--rootfs","/host/root"],"Entrypoint":["/usr/bin/collector"],"Env":["PATH=/usr/bin"],"Labels":{"org.opencontainers.image.source":"https://github.com/nodemetrics/nodemetrics","org.opencontainers.image.title":"nodemetrics","org.opencontainers.image.version":"$VERSION"},"StopSignal":"SIGTERM","WorkingDir":"/"},"created":"$created","history":[{"created":"$created","created_by":"image/build.sh"}],"os":"linux","rootfs":{"diff_ids":["sha256:$diff_id"],"type":"layers"}}
EOF
printf '%s' "$(cat "$work/config.json")" >"$work/config.min.json" # no trailing newline
config_sha=$(sha "$work/config.min.json")

# --- OCI image layout ----------------------------------------------------------
oci="$work/oci"
mkdir -p "$oci/blobs/sha256"
cp "$out/nodemetrics.tar.gz" "$work/layer.tar.gz"
layer_sha=$(sha "$work/layer.tar.gz")
cp "$work/layer.tar.gz" "$oci/blobs/sha256/$layer_sha"
cp "$work/config.min.json" "$oci/blobs/sha256/$config_sha"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config_sha\",\"size\":$(size "$work/config.min.json")},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$layer_sha\",\"size\":$(size "$work/layer.tar.gz")}],\"annotations\":{\"org.opencontainers.image.created\":\"$created\",\"org.opencontainers.image.version\":\"$VERSION\"}}" >"$work/manifest.json"
manifest_sha=$(sha "$work/manifest.json")
cp "$work/manifest.json" "$oci/blobs/sha256/$manifest_sha"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$manifest_sha\",\"size\":$(size "$work/manifest.json"),\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/$tag\",\"org.opencontainers.image.ref.name\":\"${tag#*:}\"},\"platform\":{\"architecture\":\"$arch\",\"os\":\"linux\"}}]}" >"$oci/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
find "$oci" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
find "$oci" -type f -exec chmod 0644 {} + && find "$oci" -type d -exec chmod 0755 {} +
reprotar "$oci" "$out/nodemetrics-oci.tar"

# --- docker-archive (what `docker load` of Docker 20.10 reads) ----------------
# The layer goes in gzip-compressed, as in the OCI layout: `docker load`
# decompresses layers it reads (the diff_id stays the uncompressed digest),
# and the archive stays the size of the compressed image, not of the binary.
dock="$work/docker"
mkdir -p "$dock/$diff_id"
cp "$work/layer.tar.gz" "$dock/$diff_id/layer.tar.gz"
cp "$work/config.min.json" "$dock/$config_sha.json"
printf '%s' "[{\"Config\":\"$config_sha.json\",\"RepoTags\":[\"$tag\"],\"Layers\":[\"$diff_id/layer.tar.gz\"]}]" >"$dock/manifest.json"
find "$dock" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
find "$dock" -type f -exec chmod 0644 {} + && find "$dock" -type d -exec chmod 0755 {} +
reprotar "$dock" "$out/nodemetrics-docker.tar"

(cd "$out" && sha256sum nodemetrics.tar.gz nodemetrics-oci.tar nodemetrics-docker.tar >SHA256SUMS)
printf '%s\n' "$tag" >"$out/IMAGE_TAG"
echo "image/build.sh: $tag in $out: nodemetrics.tar.gz $(size "$out/nodemetrics.tar.gz") bytes, OCI $(size "$out/nodemetrics-oci.tar"), docker-archive $(size "$out/nodemetrics-docker.tar")"
