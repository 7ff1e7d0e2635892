// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden (check the diff by hand)")

const (
	idA = "559aead08264d5795d3909718cdd05abd49572e84fe55590eef31a88a08fdffd" // docker, both fixtures
	idB = "df7e70e5021544f4834bbee64a9e3789febc4be81470df629cad6ddb03320a5c" // pod 1111..., shares netns with C
	idC = "6b23c0d5f35d1b11f9b683f0b0a617355deb11277d91ae091d399c655b87940d"
	idD = "3f39d5c348e5b79d06e842c114e6cc571583bbf44e4b0ebfda1a01ec05745d43" // crio, host network (v2)
	idE = "a9f51566bd6705f7ea6ad54bb9deb449f795582d6529a0e22207b8981233ec58" // podman, pid in container/
)

const pod1 = "pod11112222-3333-4444-5555-666677778888_"

// The fixture trees are hand-written hosts (see the golden files for what
// each container publishes); raw mode shows the values as read.
func TestFixtureGolden(t *testing.T) {
	for _, dir := range []string{"v2", "v1"} {
		t.Run(dir, func(t *testing.T) {
			got, _, err := collectOnce(t, newTest(t, fixtureHost(dir), Options{}), 1000, true, collect.State{})
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", dir+".golden")
			if *update {
				os.WriteFile(golden, []byte(strings.Join(got, "\n")+"\n"), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			wantLines(t, got, strings.Split(strings.TrimSuffix(string(want), "\n"), "\n")...)
		})
	}
}

// Spot checks of the golden output, so its meaning is stated in code.
func TestFixtureV2Semantics(t *testing.T) {
	got, _, err := collectOnce(t, newTest(t, fixtureHost("v2"), Options{}), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	a := "containers." + idA[:12] + "."
	wantLines(t, filter(got, a+"memory"),
		a+"memory.usage_byte 52428800", a+"memory.working_set_byte 48234496", // 52428800 - inactive_file 4194304
		a+"memory.rss_byte 41943040", a+"memory.cache_byte 8388608", a+"memory.oom_kills 0") // memory.max "max": no limit_byte
	wantLines(t, filter(got, a+"io"), // summed over 8:0 and 253:0
		a+"io.read_byte_per_second 100112", a+"io.write_byte_per_second 4096",
		a+"io.reads_per_second 8", a+"io.writes_per_second 1")
	// lo is not published; the second pid of A shares the namespace.
	wantLines(t, filter(got, a+"network.eth0.rx_"),
		a+"network.eth0.rx_byte 1000", a+"network.eth0.rx_packets 10", a+"network.eth0.rx_errors 1", a+"network.eth0.rx_drop 2")
	if l := filter(got, a+"network.lo"); len(l) != 0 {
		t.Errorf("lo published: %v", l)
	}
	// B and C share one netns: counted once, for the first by name (C).
	if n := len(filter(got, "containers."+pod1+idC[:12]+".network.eth0.")); n != 8 {
		t.Errorf("C network lines = %d, want 8", n)
	}
	if l := filter(got, "containers."+pod1+idB[:12]+".network"); len(l) != 0 {
		t.Errorf("B shares C's netns but published %v", l)
	}
	// D runs in the host's namespace; crio-conmon is not a container.
	if l := filter(got, "containers.pod99990000-aaaa-bbbb-cccc-ddddeeeeffff_"+idD[:12]+".network"); len(l) != 0 {
		t.Errorf("host-network container published %v", l)
	}
	// nspawn: payload/ is read, its pid found in a child cgroup; machined
	// names unescaped; podman's pid found in container/; dots in interface
	// names become '_'.
	for _, want := range []string{
		"containers.web.cpu.total 7000", "containers.web.network.host0.rx_byte 300",
		"containers.my-box.network.host0.tx_byte 2",
		"containers." + idE[:12] + ".network.eth1_100.rx_byte 30",
		"containers.running_count 7", "containers.skipped_count 0",
	} {
		if len(filter(got, want)) != 1 {
			t.Errorf("missing %q", want)
		}
	}
}

// v1: the same relative path under each controller; total_* memory keys;
// Read/Write lines summed; the v1 "unlimited" limit is not published; a
// container present in one controller only still publishes that one.
func TestFixtureV1Semantics(t *testing.T) {
	got, _, err := collectOnce(t, newTest(t, fixtureHost("v1"), Options{}), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	a := "containers." + idA[:12] + "."
	wantLines(t, filter(got, a+"cpu"), // µs: ns/1000 and ticks*10000
		a+"cpu.total 5000000", a+"cpu.user 3000000", a+"cpu.system 2000000",
		a+"cpu.throttled_periods 2", a+"cpu.throttled_seconds 150000")
	wantLines(t, filter(got, a+"io"),
		a+"io.read_byte_per_second 90120", a+"io.write_byte_per_second 4096",
		a+"io.reads_per_second 6", a+"io.writes_per_second 1")
	if l := filter(got, a+"memory.limit"); len(l) != 0 {
		t.Errorf("unlimited limit published: %v", l)
	}
	f := "containers.f67ab10ad4e4."
	for _, want := range []string{f + "memory.limit_byte 268435456", f + "memory.oom_kills 2", "containers.running_count 4"} {
		if len(filter(got, want)) != 1 {
			t.Errorf("missing %q", want)
		}
	}
	d := "containers.pod99990000-aaaa-bbbb-cccc-ddddeeeeffff_" + idD[:12] + "."
	if n := len(filter(got, d)); n != 3+8 {
		t.Errorf("cpuacct-only container: %d lines, want 3 cpu + 8 network", n)
	}
}

// Two cycles 60 s apart: exact rates; a decrease publishes nothing; a
// vanished container is gone, and so is its counter state.
func TestRatesAndVanish(t *testing.T) {
	h, root := copyHost(t, "v2")
	c := newTest(t, h, Options{})
	cg := filepath.Join(root, "sys/fs/cgroup/system.slice/docker-"+idA+".scope")
	_, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// +30 s of CPU in 60 s = 50 %; user +18 s = 30 %; throttled +3 periods,
	// +0.6 s; io +6000 bytes read, +60 writes; eth0 rx +600 bytes.
	write(filepath.Join(cg, "cpu.stat"), "usage_usec 35000000\nuser_usec 21000000\nsystem_usec 1000000\nnr_throttled 5\nthrottled_usec 750000\n")
	write(filepath.Join(cg, "io.stat"), "8:0 rbytes=96112 wbytes=4096 rios=6 wios=61\n253:0 rbytes=10000 wbytes=0 rios=2 wios=0\n")
	dev, _ := os.ReadFile(filepath.Join(root, "proc/100/net/dev"))
	write(filepath.Join(root, "proc/100/net/dev"), strings.Replace(string(dev), "   1000      10", "   1600      10", 1))
	got, st, err := collectOnce(t, c, 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	a := "containers." + idA[:12] + "."
	wantLines(t, filter(got, a+"cpu"),
		a+"cpu.total 50", a+"cpu.user 30", // system went down: reset, nothing
		a+"cpu.throttled_periods 0.05", a+"cpu.throttled_seconds 0.01")
	wantLines(t, filter(got, a+"io"),
		a+"io.read_byte_per_second 100", a+"io.write_byte_per_second 0",
		a+"io.reads_per_second 0", a+"io.writes_per_second 1")
	wantLines(t, filter(got, a+"network.eth0.rx_byte"), a+"network.eth0.rx_byte 10")

	for k := range st.Counters {
		if !strings.HasPrefix(k, "containers.") {
			t.Errorf("unexpected state key %q", k)
		}
	}
	if err := os.RemoveAll(cg); err != nil {
		t.Fatal(err)
	}
	got, st, err = collectOnce(t, c, 1120, false, st)
	if err != nil {
		t.Fatal(err)
	}
	if l := filter(got, a); len(l) != 0 {
		t.Errorf("vanished container still published: %v", l)
	}
	for k := range st.Counters {
		if strings.Contains(k, idA[:12]) {
			t.Errorf("state of vanished container kept: %q", k)
		}
	}
	if cc := c.(*collector); len(cc.byKey) != 6 {
		t.Errorf("cache holds %d containers, want 6", len(cc.byKey))
	}
	wantLines(t, filter(got, "containers.running"), "containers.running_count 6")
}

type fakeNamer map[string]Info

func (f fakeNamer) Lookup(id string) (Info, bool) { i, ok := f[id]; return i, ok }

func TestNamerAndMax(t *testing.T) {
	namer := fakeNamer{
		idA:   {Name: "/web.frontend"},              // Docker's leading '/' dropped, dots -> '_'
		idE:   {Name: "web.frontend"},               // a duplicate: gets its short id
		idB:   {Name: "kube/api-7f9/api", Pid: 201}, // Info.Pid used for the netns
		"web": {Name: "nspawn-web"},
	}
	got, _, err := collectOnce(t, newTest(t, fixtureHost("v2"), Options{Namer: namer, MaxContainers: 3}), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, l := range got {
		p := strings.Split(l, ".")
		if len(p) > 2 && p[1] != "running_count 7" && p[1] != "skipped_count 4" {
			nodes[p[1]] = true
		}
	}
	// Sorted names: kube/api-7f9/api, my-box, nspawn-web, pod..., web.frontend x2:
	// the first three are published.
	want := []string{"kube_api-7f9_api", "my-box", "nspawn-web"}
	if len(nodes) != 3 || !nodes[want[0]] || !nodes[want[1]] || !nodes[want[2]] {
		t.Errorf("published %v, want %v", nodes, want)
	}
	wantLines(t, filter(got, "containers.s"), "containers.skipped_count 4")

	got, _, err = collectOnce(t, newTest(t, fixtureHost("v2"), Options{Namer: namer}), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		// equal names: ordered by runtime/id, docker/A before podman/E
		"containers.web_frontend.cpu.total 5000000",
		"containers.web_frontend_" + idE[:12] + ".cpu.total 100",
		"containers.kube_api-7f9_api.network.eth0.rx_byte 5000", // B (by Info.Pid) now sorts before C
	} {
		if len(filter(got, want)) != 1 {
			t.Errorf("missing %q", want)
		}
	}
	if l := filter(got, "containers."+pod1+idC[:12]+".network"); len(l) != 0 {
		t.Errorf("C published the shared netns again: %v", l)
	}
}

func TestNoCgroupAndMalformed(t *testing.T) {
	empty := collect.Host{Proc: t.TempDir(), Sys: t.TempDir(), Root: "/"}
	if _, _, err := collectOnce(t, newTest(t, empty, Options{}), 1000, false, collect.State{}); !errors.Is(err, collect.ErrNoData) {
		t.Errorf("no cgroup tree: err = %v, want ErrNoData", err)
	}
	h, root := copyHost(t, "v2")
	cg := filepath.Join(root, "sys/fs/cgroup/system.slice/docker-"+idA+".scope")
	os.WriteFile(filepath.Join(cg, "memory.current"), []byte("garbage\n"), 0o644)
	os.WriteFile(filepath.Join(cg, "io.stat"), []byte("8:0 rbytes=zz\n"), 0o644)
	got, _, err := collectOnce(t, newTest(t, h, Options{}), 1000, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "parse "+filepath.Join(cg, "memory.current")) || !strings.Contains(err.Error(), "io.stat") {
		t.Errorf("err = %v, want parse errors naming the files", err)
	}
	a := "containers." + idA[:12] + "."
	if len(filter(got, a+"memory.usage")) != 0 || len(filter(got, a+"cpu.total 5000000")) != 1 {
		t.Errorf("malformed memory.current: got %v", filter(got, a))
	}
}

// Two containers whose names sanitise alike never share a node, and a
// container keeps its node when a namesake appears later: web.1 publishes
// containers.web_1 alone, and keeps it when another container is named
// web_1 (that one gets its short id). The container tag is the node.
func TestNameCollisionStable(t *testing.T) {
	namer := fakeNamer{idA: {Name: "/web.1"}}
	c := newTest(t, fixtureHost("v2"), Options{Namer: namer, Tags: true, Hostname: "h"})
	s := collect.NewSample(time.Unix(1000, 0), true, collect.State{})
	if err := c.Collect(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	wantNode := func(s *collect.Sample, node, id string) {
		t.Helper()
		plain, tagged := false, false
		for m := range s.All() {
			plain = plain || strings.HasPrefix(m.FullPath(), "containers."+node+".cpu.")
		}
		for _, m := range s.Tagged() {
			tagged = tagged || strings.Contains(m.Path, ";container="+node+";") && strings.HasPrefix(m.Path, "container.cpu.")
		}
		if !plain || !tagged {
			t.Errorf("%s: no containers.%s.cpu.* (%v) or tagged container=%s (%v)", id[:12], node, plain, node, tagged)
		}
	}
	wantNode(s, "web_1", idA)
	namer[idE] = Info{Name: "web_1"}
	s.Reset(time.Unix(1001, 0))
	if err := c.Collect(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	wantNode(s, "web_1", idA)
	wantNode(s, "web_1_"+idE[:12], idE)
}

// The list handed to Known is the cycle before's while nothing in it
// changed (the services collector compares it without building anything),
// a new one when a container goes; a reader's list stays as it was.
func TestKnownListKeptWhileUnchanged(t *testing.T) {
	h, root := copyHost(t, "v2")
	known := NewKnown()
	c := newTest(t, h, Options{Known: known})
	collectOnce(t, c, 1000, false, collect.State{})
	first := known.Running()
	collectOnce(t, c, 1060, false, collect.State{})
	if again := known.Running(); len(first) == 0 || len(again) != len(first) || &again[0] != &first[0] {
		t.Fatalf("unchanged containers: a new list (%d, then %d)", len(first), len(again))
	}
	if err := os.RemoveAll(filepath.Join(root, "sys/fs/cgroup/system.slice/docker-"+idA+".scope")); err != nil {
		t.Fatal(err)
	}
	collectOnce(t, c, 1120, false, collect.State{})
	after := known.Running()
	if len(after) != len(first)-1 {
		t.Fatalf("%d containers after one went, want %d", len(after), len(first)-1)
	}
	had := false
	for i := range after {
		if after[i].ID == idA {
			t.Errorf("the container that went is still listed")
		}
	}
	for i := range first {
		had = had || first[i].ID == idA
	}
	if !had {
		t.Errorf("the reader's list changed: %v", first)
	}
}
