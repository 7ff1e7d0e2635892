// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func compatLines(t *testing.T, f func(collect.Deps) (collect.Collector, error), h collect.Host) []string {
	t.Helper()
	c, err := f(collect.Deps{Host: h})
	if err != nil {
		t.Fatal(err)
	}
	s := collect.NewSample(time.Unix(100, 0), false, collect.State{})
	if err := c.Collect(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var out []string
	for m := range s.All() {
		out = append(out, m.Path+" "+strconv.FormatFloat(m.Value(), 'f', -1, 64))
	}
	sort.Strings(out)
	return out
}

// Diamond's paths (docs/metrics.md) over a v1 tree with the root,
// docker/<id> and system.slice/foo.service.
func TestCgroupCompat(t *testing.T) {
	root := t.TempDir()
	h := collect.Host{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Root: root}
	cg := filepath.Join(root, "sys/fs/cgroup")
	writeFile(t, cg+"/cpuacct/cpuacct.stat", "user 100\nsystem 50\n")
	writeFile(t, cg+"/cpuacct/docker/abc/cpuacct.stat", "user 7\nsystem 3\n")
	writeFile(t, cg+"/cpuacct/system.slice/foo.service/cpuacct.stat", "user 1\nsystem 2\n")
	writeFile(t, cg+"/memory/memory.stat", "cache 10\nrss 20\nswap 30\nmapped_file 1\ntotal_cache 11\ntotal_rss 21\ntotal_swap 31\n")
	writeFile(t, cg+"/memory/docker/abc/memory.stat", "cache 1\nrss 2\ntotal_cache 1\ntotal_rss 2\n")
	got := compatLines(t, newCpuacctCgroup, h)
	want := []string{
		"sys.fs.cgroup.cpuacct.docker.abc.system 3", "sys.fs.cgroup.cpuacct.docker.abc.user 7",
		"sys.fs.cgroup.cpuacct.system.slice.foo.service.system 2", "sys.fs.cgroup.cpuacct.system.slice.foo.service.user 1",
		"sys.fs.cgroup.cpuacct.system.system 50", "sys.fs.cgroup.cpuacct.system.user 100",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cpuacct:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = compatLines(t, newMemoryCgroup, h)
	want = []string{
		"memory_cgroup.docker.abc.cache 1", "memory_cgroup.docker.abc.rss 2",
		"memory_cgroup.docker.abc.total_cache 1", "memory_cgroup.docker.abc.total_rss 2",
		"memory_cgroup.system.cache 10", "memory_cgroup.system.rss 20", "memory_cgroup.system.swap 30",
		"memory_cgroup.system.total_cache 11", "memory_cgroup.system.total_rss 21", "memory_cgroup.system.total_swap 31",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("memory:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A v2 host: nothing, not an error.
	v2 := t.TempDir()
	writeFile(t, v2+"/sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
	c, _ := newMemoryCgroup(collect.Deps{Host: collect.Host{Sys: v2 + "/sys"}})
	if err := c.Collect(context.Background(), collect.NewSample(time.Unix(1, 0), false, collect.State{})); err != collect.ErrNoData {
		t.Errorf("v2: %v, want ErrNoData", err)
	}
}

// Hostile cgroup names keep Diamond's levels but pass the naming rules, and
// cgroups named alike (a/b and a.b, semi; and semi_, the root and a cgroup
// "system") keep distinct series, the unchanged name keeping its own.
func TestCgroupCompatHostileNames(t *testing.T) {
	root := t.TempDir()
	h := collect.Host{Sys: filepath.Join(root, "sys")}
	mem := filepath.Join(root, "sys/fs/cgroup/memory")
	for _, d := range []string{"", "x;tagged=1", "a.b", "a/b", "semi;", "semi_", "system", "nb\u00a0sp"} {
		writeFile(t, filepath.Join(mem, d, "memory.stat"), "rss 1\n")
	}
	got := compatLines(t, newMemoryCgroup, h)
	var nodes []string
	for _, l := range got {
		nodes = append(nodes, strings.TrimSuffix(strings.TrimPrefix(l, "memory_cgroup."), ".rss 1"))
	}
	// The tie-break suffix: the first 12 hex digits of the SHA-256 of the
	// relative cgroup path (the collision rule of the names package).
	hash := func(rel string) string { h := sha256.Sum256([]byte(rel)); return hex.EncodeToString(h[:])[:12] }
	want := []string{"a.b", "a.b_" + hash("a/b"), "nb_sp", "semi_", "semi__" + hash("semi;"), "system", "system_" + hash("system"), "x_tagged_1"}
	sort.Strings(want)
	if strings.Join(nodes, " ") != strings.Join(want, " ") {
		t.Errorf("got  %q\nwant %q", nodes, want)
	}
}

// The real host tree (cgroup v1 here) gives the root as "system".
func TestCgroupCompatRealHost(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/cpuacct/cpuacct.stat"); err != nil {
		t.Skip("no cgroup v1 cpuacct hierarchy")
	}
	got := compatLines(t, newCpuacctCgroup, collect.DefaultHost())
	if !strings.Contains(strings.Join(got, "\n"), "sys.fs.cgroup.cpuacct.system.user ") {
		t.Errorf("no root cgroup in %v", got)
	}
}

// Any stat file content: only the known keys with numeric values come out,
// under the collector's prefix; a bad value is an error, never a panic.
func FuzzCgroupCompat(f *testing.F) {
	f.Add("user 100\nsystem 50\n", "cache 1\nrss 2\ntotal_swap x\n")
	f.Add("user\n\n system 1", "rss 18446744073709551616\n")
	f.Fuzz(func(t *testing.T, cpuacct, memory string) {
		root := t.TempDir()
		writeFile(t, root+"/sys/fs/cgroup/cpuacct/cpuacct.stat", cpuacct)
		writeFile(t, root+"/sys/fs/cgroup/memory/memory.stat", memory)
		h := collect.Host{Proc: root + "/proc", Sys: root + "/sys", Root: root}
		for _, newC := range []func(collect.Deps) (collect.Collector, error){newCpuacctCgroup, newMemoryCgroup} {
			c, _ := newC(collect.Deps{Host: h})
			s := collect.NewSample(time.Unix(100, 0), false, collect.State{})
			c.Collect(context.Background(), s)
			for m := range s.All() {
				if !strings.HasPrefix(m.Path, "sys.fs.cgroup.cpuacct.system.") && !strings.HasPrefix(m.Path, "memory_cgroup.system.") {
					t.Fatalf("path %q", m.Path)
				}
			}
		}
	})
}
