// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// diamondStyle is the README's example ("Coming from Diamond"): the
// choices of a diamond.conf as the agent's sections.
const diamondStyle = `[network]
interfaces = "eth, wlan"

[diskspace]
filesystems = "ext4, xfs"
exclude_filters = "^/$, ^/mnt"

[iostat]
devices = "nvme[0-9]+n[0-9]+$|md[0-9]+$"

[containers]
exclude_names = "pod*/*, web"
`

// TestDiamondStyleFiltersEndToEnd runs the agent once with the README's
// diamond.conf-style sections over one fixture host (the collectors' and
// containers' fixture trees put together) and checks what each selects.
func TestDiamondStyleFiltersEndToEnd(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte(diamondStyle)) {
		t.Errorf("README.md does not show the example this test runs:\n%s", diamondStyle)
	}
	dir := t.TempDir()
	cp := func(src, dst string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755)
		if out, err := exec.Command("cp", "-a", filepath.Join(repoRoot(t), src), filepath.Join(dir, dst)).CombinedOutput(); err != nil {
			t.Fatalf("cp %s: %v %s", src, err, out)
		}
	}
	cp("containers/testdata/v2/proc", "proc")
	cp("containers/testdata/v2/sys", "sys")
	cp("collectors/testdata/network/t0/proc/net", "proc/net")
	cp("collectors/testdata/iostat/edge/t0/proc/diskstats", "proc/diskstats")
	cp("collectors/testdata/diskspace/edge/proc/1/mountinfo", "proc/1/mountinfo")
	for _, d := range []string{"mnt/a b", "var/lib/docker", "export/home"} {
		os.MkdirAll(filepath.Join(dir, "root", d), 0o755)
	}
	conf := filepath.Join(dir, "nodemetrics.toml")
	os.WriteFile(conf, []byte(diamondStyle), 0o644)
	var out, logs syncbuf.Buffer
	code := run(t.Context(), []string{"--config", conf, "--once", "--output", "-", "--counters", "--hostname", "h",
		"--procfs", filepath.Join(dir, "proc"), "--sysfs", filepath.Join(dir, "sys"), "--rootfs", filepath.Join(dir, "root"),
		"--collectors", "network,diskspace,iostat,containers",
		"--docker-host", "unix://" + filepath.Join(dir, "none.sock")}, &out, &logs)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	got := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		p := strings.Split(strings.Fields(l + " x")[0], ".")
		if len(p) > 4 && p[3] != "running_count" && p[3] != "skipped_count" && p[3] != "events" {
			got[p[2]] += p[3] + " "
		}
	}
	norm := func(s string) string {
		f := strings.Fields(s)
		sort.Strings(f)
		return strings.Join(slices.Compact(f), " ")
	}
	for coll, want := range map[string]string{
		// eth* and wlan*, not bond0, ens3, veth, docker0.
		"network": "eth0 eth0_100 wlan0",
		// ext4 and xfs; / and /mnt excluded: /var/lib/docker (same device
		// as /, so Diamond's device rule had published / alone) is next.
		"diskspace": "_var_lib_docker",
		"iostat":    "md0 nvme0n1",
		// web and the pod containers (named pod<uid>/<id> here) left out.
		"containers": "559aead08264 a9f51566bd67 my-box",
	} {
		if g := norm(got[coll]); g != want {
			t.Errorf("%s: %s, want %s", coll, g, want)
		}
	}
}
