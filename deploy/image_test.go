// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var artifacts = []string{"nodemetrics.tar.gz", "nodemetrics-oci.tar", "nodemetrics-docker.tar"}

// TestImageReproducible builds the image a second time into another
// directory and wants byte-identical artifacts, each <= 10 MB.
func TestImageReproducible(t *testing.T) {
	a := builtImage(t)
	b := filepath.Join(t.TempDir(), "again")
	if out, err := buildImage(b); err != nil {
		t.Fatalf("image/build.sh: %v\n%s", err, out)
	}
	for _, f := range artifacts {
		x, y := readFile(t, filepath.Join(a, f)), readFile(t, filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds (%d and %d bytes)", f, len(x), len(y))
		}
		if len(x) > maxImage {
			t.Errorf("%s is %d bytes, over the 10 MB target", f, len(x))
		}
		t.Logf("%s: %d bytes", f, len(x))
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, r io.Reader) (names []string, m map[string]tarEntry) {
	t.Helper()
	m = map[string]tarEntry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, m
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		m[h.Name] = tarEntry{h, b}
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestImageContents checks the nspawn tarball: fixed owners and mtimes, the
// static stripped version-stamped binary, os-release and the minimal /etc.
func TestImageContents(t *testing.T) {
	dir := builtImage(t)
	names, m := readTar(t, bytes.NewReader(gunzip(t, readFile(t, filepath.Join(dir, "nodemetrics.tar.gz")))))
	epoch, _ := strconv.ParseInt(testEpoch, 10, 64)
	for _, n := range names {
		h := m[n].hdr
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.ModTime.Unix() != epoch {
			t.Errorf("%s: owner %d:%d (%q:%q) mtime %d, want 0:0 numeric at %d", n, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime.Unix(), epoch)
		}
		if strings.HasPrefix(n, "./") || strings.HasPrefix(n, "/") {
			t.Errorf("%s: names must be relative without ./", n)
		}
	}
	for _, n := range []string{"usr/bin/collector", "usr/lib/os-release", "etc/os-release", "etc/passwd", "etc/group",
		"etc/nsswitch.conf", "etc/hosts", "host/proc/", "host/sys/", "host/root/", "host/run/", "tmp/"} {
		if _, ok := m[n]; !ok {
			t.Errorf("image has no %s (has %q)", n, names)
		}
	}
	bin := m["usr/bin/collector"]
	if bin.hdr.Mode&0o777 != 0o755 {
		t.Errorf("collector mode %o", bin.hdr.Mode)
	}
	if !bytes.Contains(bin.data, []byte(testVersion)) {
		t.Errorf("collector does not carry version %q", testVersion)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("collector is dynamically linked (%v)", p.Type)
		}
	}
	if ef.Section(".symtab") != nil {
		t.Error("collector is not stripped (.symtab present)")
	}
	if osr := string(m["usr/lib/os-release"].data); !strings.Contains(osr, "ID=nodemetrics\n") || !strings.Contains(osr, `VERSION_ID="`+testVersion+`"`) {
		t.Errorf("os-release:\n%s", osr)
	}
	if l := m["etc/os-release"].hdr; l.Typeflag != tar.TypeSymlink || l.Linkname != "../usr/lib/os-release" {
		t.Errorf("etc/os-release: %v -> %q", l.Typeflag, l.Linkname)
	}
}

// TestOCILayout follows index.json -> manifest -> config and layer, and
// checks every digest and size, and that the layer is the nspawn tarball.
func TestOCILayout(t *testing.T) {
	dir := builtImage(t)
	_, m := readTar(t, bytes.NewReader(readFile(t, filepath.Join(dir, "nodemetrics-oci.tar"))))
	if got := string(m["oci-layout"].data); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", got)
	}
	blob := func(d descriptor) []byte {
		t.Helper()
		hexd, ok := strings.CutPrefix(d.Digest, "sha256:")
		e, found := m["blobs/sha256/"+hexd]
		if !ok || !found {
			t.Fatalf("no blob for %s", d.Digest)
		}
		if digest(e.data) != hexd || int64(len(e.data)) != d.Size {
			t.Fatalf("blob %s: digest %s size %d, want size %d", d.Digest, digest(e.data), len(e.data), d.Size)
		}
		return e.data
	}
	var index struct {
		SchemaVersion int
		MediaType     string
		Manifests     []descriptor
	}
	unmarshal(t, m["index.json"].data, &index)
	if index.SchemaVersion != 2 || len(index.Manifests) != 1 || index.Manifests[0].MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Fatalf("index.json: %+v", index)
	}
	if ref := index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; ref != testVersion {
		t.Errorf("ref.name %q", ref)
	}
	var manifest struct {
		SchemaVersion int
		Config        descriptor
		Layers        []descriptor
	}
	unmarshal(t, blob(index.Manifests[0]), &manifest)
	if manifest.Config.MediaType != "application/vnd.oci.image.config.v1+json" || len(manifest.Layers) != 1 ||
		manifest.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Fatalf("manifest: %+v", manifest)
	}
	cfg := imageConfig(t, blob(manifest.Config))
	layer := blob(manifest.Layers[0])
	if !bytes.Equal(layer, readFile(t, filepath.Join(dir, "nodemetrics.tar.gz"))) {
		t.Error("the OCI layer is not nodemetrics.tar.gz")
	}
	if want := "sha256:" + digest(gunzip(t, layer)); len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != want {
		t.Errorf("diff_ids %q, want [%s]", cfg.RootFS.DiffIDs, want)
	}
}

// TestDockerArchive checks the docker-archive layout, then `docker load`s it
// into the local daemon and runs `IMAGE --list`.
func TestDockerArchive(t *testing.T) {
	requireRoot(t)
	dir := builtImage(t)
	arch := filepath.Join(dir, "nodemetrics-docker.tar")
	_, m := readTar(t, bytes.NewReader(readFile(t, arch)))
	var manifest []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	unmarshal(t, m["manifest.json"].data, &manifest)
	tag := testImage + ":" + testVersion
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != tag || len(manifest[0].Layers) != 1 {
		t.Fatalf("manifest.json: %+v", manifest)
	}
	cfgData := m[manifest[0].Config].data
	if manifest[0].Config != digest(cfgData)+".json" {
		t.Errorf("config %s has digest %s", manifest[0].Config, digest(cfgData))
	}
	cfg := imageConfig(t, cfgData)
	// The layer is stored gzip-compressed; its diff_id is the digest of
	// the uncompressed tar, as docker load computes it.
	if want := "sha256:" + digest(gunzip(t, m[manifest[0].Layers[0]].data)); cfg.RootFS.DiffIDs[0] != want {
		t.Errorf("diff_id %s, layer digest %s", cfg.RootFS.DiffIDs[0], want)
	}

	if out, err := runErr(nil, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Fatalf("the Docker daemon is not reachable: %v\n%s", err, out)
	}
	out := run(t, nil, "docker", "load", "-i", arch)
	t.Cleanup(func() { runErr(nil, "docker", "rmi", "-f", tag) })
	if !strings.Contains(out, "Loaded image: "+tag) {
		t.Fatalf("docker load: %s", out)
	}
	out = run(t, nil, "docker", "run", "--rm", tag, "--list")
	if !regexp.MustCompile(`(?m)^cpu\s+cpu\.total\.`).MatchString(out) {
		t.Errorf("docker run %s --list:\n%s", tag, out)
	}
	// The image's default Cmd points the collector at /host/...: one sample
	// through read-only binds, as a DaemonSet pod would run it.
	out = run(t, nil, "docker", "run", "--rm", "--net=host", "--pid=host",
		"-v", "/proc:/host/proc:ro", "-v", "/sys:/host/sys:ro", "-v", "/:/host/root:ro",
		tag, "--procfs", "/host/proc", "--sysfs", "/host/sys", "--rootfs", "/host/root",
		"--once", "--output", "-", "--hostname", "dockertest", "--collectors", "loadavg")
	if !strings.Contains(out, "servers.dockertest.loadavg.01 ") {
		t.Errorf("docker run --once: no loadavg line:\n%s", out)
	}
}

type descriptor struct {
	MediaType   string
	Digest      string
	Size        int64
	Annotations map[string]string
}

type ociConfig struct {
	Architecture, OS string
	Config           struct{ Entrypoint, Cmd []string }
	RootFS           struct {
		Type    string
		DiffIDs []string `json:"diff_ids"`
	}
}

func imageConfig(t *testing.T, b []byte) ociConfig {
	t.Helper()
	var c ociConfig
	unmarshal(t, b, &c)
	if c.OS != "linux" || c.Architecture == "" || fmt.Sprint(c.Config.Entrypoint) != "[/usr/bin/collector]" || c.RootFS.Type != "layers" {
		t.Errorf("image config: %+v", c)
	}
	return c
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}
