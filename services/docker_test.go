// SPDX-License-Identifier: Apache-2.0

package services

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/internal/dockertest"
)

// dockerSvc is a real Docker container running memcached with no network
// but its own lo (--network none): reachable only through its namespace.
type dockerSvc struct {
	short string // the collector's name for it (no Docker API client here)
	ns    string // <procfs>/<pid>/ns/net
}

// startDockerMemcached builds an image locally (no registry): Debian's
// memcached binary and the libraries it links, imported from a tarball.
func startDockerMemcached(t *testing.T) dockerSvc {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files := []string{bin}
	ldd, err := exec.Command("ldd", bin).Output()
	if err != nil {
		t.Fatalf("ldd: %v", err)
	}
	for _, line := range strings.Split(string(ldd), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f) // the link's target, saved under the linked name
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/:/nologin\nnobody:x:65534:65534::/:/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", root, "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v %s", err, out)
	}
	suffix := randHex(4)
	tag := "nmsvc-memcached-" + suffix + ":test"
	dockertest.Cmd(t, "import", "--change", `ENTRYPOINT ["`+bin+`"]`, tarball, tag)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	name := "nmsvc-memcached-" + suffix
	id := dockertest.Cmd(t, "run", "-d", "--network", "none", "--name", name, tag, "-u", "nobody", "-l", "127.0.0.1", "-p", "11211")
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
	pid := dockertest.Cmd(t, "inspect", "-f", "{{.State.Pid}}", id)
	d := dockerSvc{short: id[:12], ns: "/proc/" + pid + "/ns/net"}
	waitDial(t, d.ns, "127.0.0.1:11211")
	return d
}
