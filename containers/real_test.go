// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/events"
	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// newRealCgroups is the test's cgroup tree (internal/cgrouptest).
func newRealCgroups(t *testing.T) *cgrouptest.Tree {
	if testing.Short() {
		t.Skip("creates real cgroups and processes")
	}
	return cgrouptest.New(t)
}

// byNode groups rendered lines by container node.
func byNode(lines []string) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, l := range lines {
		path, val, _ := strings.Cut(l, " ")
		rest, ok := strings.CutPrefix(path, "containers.")
		if !ok {
			continue
		}
		node, metric, ok := strings.Cut(rest, ".")
		if !ok {
			node, metric = "", rest
		}
		v, _ := strconv.ParseFloat(val, 64)
		if out[node] == nil {
			out[node] = map[string]float64{}
		}
		out[node][metric] = v
	}
	return out
}

// TestRealCgroups builds Docker (both drivers), Kubernetes (both drivers)
// and machined cgroups on this host with real processes in them, and
// reads them back through the collector with the default host.
func TestRealCgroups(t *testing.T) {
	r := newRealCgroups(t)
	uid := "0badc0de-" + strconv.Itoa(os.Getpid()) + "-4000-8000-000000000001"
	burner, alloc, gone, kubeA, kubeB := cgrouptest.ID(t), cgrouptest.ID(t), cgrouptest.ID(t), cgrouptest.ID(t), cgrouptest.ID(t)
	cg := map[string]string{
		"burner": "system.slice/docker-" + burner + ".scope",
		"alloc":  "docker/" + alloc,
		"gone":   "system.slice/docker-" + gone + ".scope",
		"kubeA":  "kubepods/burstable/pod" + uid + "/" + kubeA,
		"kubeB": "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
			strings.ReplaceAll(uid, "-", "_") + ".slice/cri-containerd-" + kubeB + ".scope",
		"machine": `machine.slice/machine-nmtest\x2dbox.scope`,
	}
	for _, rel := range cg {
		r.Mkdir(rel)
	}
	burnerCmd := exec.Command("sh", "-c", "while :; do :; done")
	r.Start(burnerCmd, cg["burner"])
	// dd reads 60 MB from /dev/zero into its buffer (touching every page)
	// and then blocks writing into the pipe nobody reads: 60 MB charged
	// to the cgroup it was moved into before `read` returned.
	allocIn := r.Start(exec.Command("sh", "-c", "read x; dd if=/dev/zero bs=60M count=1 2>/dev/null | sleep 120"), cg["alloc"])
	allocIn.Write([]byte("go\n"))
	goneCmd := exec.Command("sleep", "120")
	r.Start(goneCmd, cg["gone"])
	r.Start(exec.Command("sleep", "120"), cg["kubeA"])
	r.Start(exec.Command("sleep", "120"), cg["kubeB"])
	r.Start(exec.Command("sleep", "120"), cg["machine"])

	c := newTest(t, collect.DefaultHost(), Options{})
	names := map[string]string{
		"burner": burner[:12], "alloc": alloc[:12], "gone": gone[:12],
		"kubeA": "pod" + uid + "_" + kubeA[:12], "kubeB": "pod" + uid + "_" + kubeB[:12],
		"machine": "nmtest-box",
	}
	// Wait until dd holds its memory.
	deadline := time.Now().Add(10 * time.Second)
	var got []string
	var st collect.State
	var err error
	for {
		got, st, err = collectOnce(t, c, time.Now().UnixNano()/1e9, false, collect.State{})
		if byNode(got)[names["alloc"]]["memory.usage_byte"] >= 60e6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Logf("cycle error (other cgroups of the host): %v", err)
	}
	s := collect.NewSample(time.Now(), false, st)
	c.Collect(context.Background(), s)
	ticks0, at0 := procTicks(t, burnerCmd.Process.Pid), time.Now()
	st = s.Next()
	time.Sleep(1500 * time.Millisecond)
	s = collect.NewSample(time.Now(), false, st)
	c.Collect(context.Background(), s)
	ticks1, at1 := procTicks(t, burnerCmd.Process.Pid), time.Now()
	got, st = render(slices.Collect(s.All())), s.Next()
	// What the kernel says the burner itself used over the same window, in
	// % of one CPU (USER_HZ = 100): the collector must agree, whatever the
	// load on this machine lets the burner have.
	burnerPct := float64(ticks1-ticks0) / at1.Sub(at0).Seconds()
	nodes := byNode(got)
	for k, n := range names {
		if nodes[n] == nil {
			t.Errorf("%s: container %s not found", k, n)
		}
	}
	t.Logf("burner cpu.total %v user %v system %v; allocator memory.usage_byte %v working_set %v rss %v",
		nodes[names["burner"]]["cpu.total"], nodes[names["burner"]]["cpu.user"], nodes[names["burner"]]["cpu.system"],
		nodes[names["alloc"]]["memory.usage_byte"], nodes[names["alloc"]]["memory.working_set_byte"], nodes[names["alloc"]]["memory.rss_byte"])
	if v, ok := nodes[names["burner"]]["cpu.total"]; !ok || burnerPct < 5 || math.Abs(v-burnerPct) > 15 {
		t.Errorf("burner cpu.total = %v (present %v), its /proc/<pid>/stat says %.1f %% of one CPU", v, ok, burnerPct)
	}
	if u := nodes[names["burner"]]["cpu.user"]; u < burnerPct/2 {
		t.Errorf("burner cpu.user = %v, want most of its %.1f %%", u, burnerPct)
	}
	if v := nodes[names["alloc"]]["memory.usage_byte"]; v < 40e6 {
		t.Errorf("allocator memory.usage_byte = %v, want >= 40e6", v)
	}
	if v := nodes[names["alloc"]]["memory.rss_byte"]; v < 40e6 {
		t.Errorf("allocator memory.rss_byte = %v, want >= 40e6", v)
	}
	if v, ok := nodes[names["alloc"]]["pids.current"]; ok && v < 3 {
		t.Errorf("allocator pids.current = %v, want 3 (sh, dd, sleep)", v)
	}
	// All these processes share the test's network namespace. If that is
	// the host's (pid 1's), none publishes network metrics; in a sandbox
	// that runs tests in a namespace of their own, exactly the first
	// container by name does.
	self, _ := inode("/proc/self/ns/net")
	// As the collector: PID 1's link, or kthreadd's when PID 1's is
	// unreadable (a sandbox whose PID 1 is in another user namespace).
	host, err := inode("/proc/1/ns/net")
	if err != nil {
		host, _ = inode("/proc/2/ns/net")
	}
	var withNet []string
	first := ""
	for _, n := range names {
		if first == "" || n < first {
			first = n
		}
		for m := range nodes[n] {
			if strings.HasPrefix(m, "network.") {
				withNet = append(withNet, n)
				break
			}
		}
	}
	if self == host && len(withNet) != 0 {
		t.Errorf("containers in the host's network namespace published network metrics: %v", withNet)
	}
	if self != host && (len(withNet) != 1 || withNet[0] != first) {
		t.Errorf("one shared namespace: network published by %v, want only %s", withNet, first)
	}

	// One container stops: next cycle it is gone, with its state.
	r.Kill(goneCmd)
	r.Rmdir(cg["gone"])
	got, st, _ = collectOnce(t, c, time.Now().Unix()+10, false, st)
	if byNode(got)[names["gone"]] != nil {
		t.Errorf("removed container still published")
	}
	for k := range st.Counters {
		if strings.Contains(k, gone[:12]) {
			t.Errorf("state of removed container kept: %s", k)
		}
	}
}

// TestRealNetns puts two containers' processes into one real network
// namespace (a veth pair in 10.231.x.0/30, the test's own two addresses),
// sends traffic, and checks that the counters published in raw mode are
// the namespace's /proc/<pid>/net/dev and are published once.
func TestRealNetns(t *testing.T) {
	r := newRealCgroups(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command")
	}
	pid := os.Getpid()
	ns := fmt.Sprintf("nmtest%d", pid)
	vh, vc := fmt.Sprintf("nmv%dh", pid%100000), fmt.Sprintf("nmv%dc", pid%100000)
	sub := 4 * (pid % 60)
	hostIP, nsIP := fmt.Sprintf("10.231.%d.%d", pid%250, sub+1), fmt.Sprintf("10.231.%d.%d", pid%250, sub+2)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", vh).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	run("link", "add", vh, "type", "veth", "peer", "name", vc)
	run("link", "set", vc, "netns", ns)
	run("addr", "add", hostIP+"/30", "dev", vh)
	run("link", "set", vh, "up")
	run("-n", ns, "addr", "add", nsIP+"/30", "dev", vc)
	run("-n", ns, "link", "set", vc, "up")
	run("-n", ns, "link", "set", "lo", "up")

	uid := "0badc0de-" + strconv.Itoa(pid) + "-4000-8000-000000000002"
	a, b := cgrouptest.ID(t), cgrouptest.ID(t)
	relA := "kubepods/besteffort/pod" + uid + "/" + a
	relB := "kubepods/besteffort/pod" + uid + "/" + b
	r.Mkdir(relA)
	r.Mkdir(relB)
	cmdA := exec.Command("ip", "netns", "exec", ns, "sleep", "120")
	r.Start(cmdA, relA)
	cmdB := exec.Command("ip", "netns", "exec", ns, "sleep", "120")
	r.Start(cmdB, relB)
	// ip netns exec enters the namespace, then execs sleep: wait for both.
	nsIno := func(p int) uint64 { i, _ := inode(fmt.Sprintf("/proc/%d/ns/net", p)); return i }
	self := nsIno(os.Getpid())
	for i := 0; i < 200 && (nsIno(cmdA.Process.Pid) == self || nsIno(cmdB.Process.Pid) == self); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if nsIno(cmdA.Process.Pid) != nsIno(cmdB.Process.Pid) {
		t.Fatal("the two processes never shared the test namespace")
	}

	// Traffic: TCP connects to a closed port (SYN in, RST out) and UDP.
	for i := 0; i < 20; i++ {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(nsIP, "9"), time.Second); err == nil {
			conn.Close()
		}
		if conn, err := net.Dial("udp", net.JoinHostPort(nsIP, "9")); err == nil {
			conn.Write(bytes.Repeat([]byte("x"), 200))
			conn.Close()
		}
	}
	devPath := fmt.Sprintf("/proc/%d/net/dev", cmdA.Process.Pid)
	read := func() (v [len(netDevNames)]uint64) {
		bb, err := os.ReadFile(devPath)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			name, counters, rest, ok := kernfile.NextNetDevLine(bb, &n)
			if !ok {
				t.Fatalf("%s not in %s", vc, devPath)
			}
			if string(name) == vc {
				var all kernfile.NetDevCounters
				kernfile.ParseNetDevLine(name, counters, &all)
				for i, col := range netDevCols {
					v[i] = all[col]
				}
				return v
			}
			bb = rest
		}
	}
	c := newTest(t, collect.DefaultHost(), Options{})
	nA, nB := "pod"+uid+"_"+a[:12], "pod"+uid+"_"+b[:12]
	first := nA
	if nB < nA {
		first = nB
	}
	var nodes map[string]map[string]float64
	var before [len(netDevNames)]uint64
	for try := 0; try < 5; try++ { // a stray packet between the reads: again
		before = read()
		got, _, _ := collectOnce(t, c, time.Now().Unix(), true, collect.State{})
		if read() != before {
			continue
		}
		nodes = byNode(got)
		break
	}
	if nodes == nil {
		t.Fatal("counters never stable")
	}
	if before[0] == 0 || before[4] == 0 {
		t.Fatalf("no traffic: %v", before)
	}
	for i, m := range netDevNames {
		key := "network." + vc + "." + m
		if got := nodes[first][key]; got != float64(before[i]) {
			t.Errorf("%s %s = %v, want %d", first, key, got, before[i])
		}
	}
	second := nA
	if first == nA {
		second = nB
	}
	if nodes[second] == nil {
		t.Fatalf("container %s not found", second)
	}
	for m := range nodes[second] {
		if strings.HasPrefix(m, "network.") {
			t.Errorf("shared namespace counted twice: %s %s", second, m)
		}
	}
	if _, ok := nodes[first]["network.lo.rx_byte"]; ok {
		t.Errorf("lo published")
	}
}

// procTicks is utime+stime of pid, in USER_HZ ticks.
func procTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the ")" closing the command name: state is field 3,
	// utime 14 and stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.ParseUint(f[11], 10, 64)
	sys, _ := strconv.ParseUint(f[12], 10, 64)
	return u + sys
}

// TestRealCgroupEvents: the runtime-neutral lifecycle events of a real
// nspawn-style machine cgroup: it appears after the first cycle (start),
// its process is OOM-killed by its memory limit (oom), it goes (die).
// Counted per cycle as containers.events.<event> and written to the audit
// file with the machine's name.
func TestRealCgroupEvents(t *testing.T) {
	r := newRealCgroups(t)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	disp, err := events.New(events.Options{Host: "h", AuditFile: audit})
	if err != nil {
		t.Fatal(err)
	}
	defer disp.Close()
	c := newTest(t, collect.DefaultHost(), Options{Events: disp})
	counts := func() map[string]float64 {
		t.Helper()
		got, _, _ := collectOnce(t, c, time.Now().Unix(), false, collect.State{})
		return byNode(got)["events"]
	}
	if n := counts(); n["start"] != 0 || n["die"] != 0 || n["oom"] != 0 {
		t.Fatalf("first cycle counts %v: what exists at start-up is not a start", n)
	}

	name := "nmtest-evt" + strconv.Itoa(os.Getpid())
	rel := `machine.slice/machine-` + strings.ReplaceAll(name, "-", `\x2d`) + ".scope"
	r.Mkdir(rel)
	limited := false
	for _, root := range r.Roots {
		d := filepath.Join(root, rel)
		for f, v := range map[string]string{"memory.limit_in_bytes": "16777216", "memory.max": "16777216", "memory.swap.max": "0"} {
			if exists(filepath.Join(d, f)) {
				if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0o644); err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				limited = limited || f != "memory.swap.max"
			}
		}
	}
	if !limited {
		t.Fatal("no memory controller to limit the test cgroup")
	}
	cmd := exec.Command("sh", "-c", "read x; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 120")
	in := r.Start(cmd, rel)
	// Other tests may start containers meanwhile (packages run in
	// parallel): the counts are at least ours, the audit file says exactly.
	if n := counts(); n["start"] < 1 {
		t.Errorf("after the cgroup appeared: counts %v, want start 1", n)
	}
	// dd's 64 MB buffer in a 16 MB cgroup without swap: the kernel kills it.
	in.Write([]byte("go\n"))
	deadline := time.Now().Add(20 * time.Second)
	oom := 0.0
	for oom == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		oom += counts()["oom"]
	}
	if oom < 1 {
		t.Errorf("oom events %v, want 1", oom)
	}
	r.Kill(cmd)
	r.Rmdir(rel)
	if n := counts(); n["die"] < 1 {
		t.Errorf("after the cgroup went: counts %v, want die 1", n)
	}
	disp.Close()
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.Contains(line, `"name":"`+name+`"`) && strings.Contains(line, `"source":"cgroup"`) {
			_, ev, _ := strings.Cut(line, `"event":"`)
			ev, _, _ = strings.Cut(ev, `"`)
			seq = append(seq, ev)
		}
	}
	if strings.Join(seq, ",") != "start,oom,die" {
		t.Errorf("audit events of %s: %v, want start,oom,die\n%s", name, seq, b)
	}
}

// TestRealPressure: a real container cgroup (on a hybrid host its cgroup2
// part in unified/) holding more busy processes than the machine has CPUs
// shows CPU pressure; an idle one about none.
func TestRealPressure(t *testing.T) {
	r := newRealCgroups(t)
	busy, idle := "system.slice/docker-"+cgrouptest.ID(t)+".scope", "system.slice/docker-"+cgrouptest.ID(t)+".scope"
	r.Mkdir(busy)
	r.Mkdir(idle)
	// Niced: they compete with each other, not with the rest of the suite.
	for i := 0; i < runtime.NumCPU()+2; i++ {
		r.Start(exec.Command("nice", "-n", "19", "sh", "-c", "while :; do :; done"), busy)
	}
	r.Start(exec.Command("sleep", "120"), idle)
	c := newTest(t, collect.DefaultHost(), Options{})
	_, st, _ := collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	time.Sleep(2 * time.Second)
	s := collect.NewSample(time.Now(), false, st)
	c.Collect(context.Background(), s)
	nodes := byNode(render(slices.Collect(s.All())))
	nb, ni := nodes[busy[len("system.slice/docker-"):][:12]], nodes[idle[len("system.slice/docker-"):][:12]]
	t.Logf("busy: cpu some %v%% full %v%%; idle: cpu some %v%%", nb["pressure.cpu.some_percentage"],
		nb["pressure.cpu.full_percentage"], ni["pressure.cpu.some_percentage"])
	if v, ok := nb["pressure.cpu.some_percentage"]; !ok || v < 10 {
		t.Errorf("busy container cpu pressure %v (present %v), want > 10 %%", v, ok)
	}
	if v, ok := ni["pressure.cpu.some_percentage"]; !ok || v > 1 {
		t.Errorf("idle container cpu pressure %v (present %v), want about 0", v, ok)
	}
	for _, m := range []string{"pressure.memory.some_percentage", "pressure.io.full_percentage"} {
		if _, ok := ni[m]; !ok {
			t.Errorf("idle container: no %s", m)
		}
	}
}

// openBelow counts the test process's descriptors whose target contains
// s (a container id: its cgroup files kept open).
func openBelow(t *testing.T, s string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// TestRealStartStop: a container that appears between two cycles is
// published at the next one, with its cgroup files kept open; one that
// goes is gone at the next cycle and its descriptors are closed. Its pid
// is kept while it lives and found again when that process exits.
func TestRealStartStop(t *testing.T) {
	r := newRealCgroups(t)
	known := NewKnown()
	c := newTest(t, collect.DefaultHost(), Options{Known: known})
	collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	cc := c.(*collector)
	if !cc.watch.active() {
		t.Fatalf("discovery does not watch the host's cgroup hierarchies (%v)", cc.watch.err)
	}

	id := cgrouptest.ID(t)
	rel := "docker/" + id
	r.Mkdir(rel)
	first, second := exec.Command("sleep", "120"), exec.Command("sleep", "120")
	r.Start(first, rel)
	r.Start(second, rel)
	got, _, _ := collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if byNode(got)[id[:12]] == nil {
		t.Fatalf("container started between cycles not published at the next one")
	}
	if n := openBelow(t, id); n < 5 {
		t.Errorf("%d descriptors open below the container's cgroups, want its stat files kept open", n)
	}
	pidOf := func() int {
		for _, k := range known.Running() {
			if k.ID == id {
				return k.Pid
			}
		}
		return -1
	}
	if p := pidOf(); p != first.Process.Pid && p != second.Process.Pid {
		t.Errorf("pid %d, want one of the container's (%d, %d)", p, first.Process.Pid, second.Process.Pid)
	}
	// The process whose pid was kept exits: the other one is found.
	gone, other := first, second
	if pidOf() == second.Process.Pid {
		gone, other = second, first
	}
	r.Kill(gone)
	collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if p := pidOf(); p != other.Process.Pid {
		t.Errorf("after pid %d exited: pid %d, want %d", gone.Process.Pid, p, other.Process.Pid)
	}

	r.Kill(other)
	r.Rmdir(rel)
	got, _, _ = collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if byNode(got)[id[:12]] != nil {
		t.Errorf("container removed between cycles still published")
	}
	if n := openBelow(t, id); n != 0 {
		t.Errorf("%d descriptors still open below the removed container's cgroups", n)
	}
	if cc.gen != 1 {
		t.Errorf("%d walks of the hierarchies, want 1: the changes come from inotify", cc.gen)
	}
}

// TestRealNestedDiscovery: containers below cgroups that did not exist
// at the previous cycle (a pod's cgroup and its containers made between
// two cycles; a container added later to that pod) are found from the
// watches alone, and a pod that goes takes its containers with it.
func TestRealNestedDiscovery(t *testing.T) {
	r := newRealCgroups(t)
	c := newTest(t, collect.DefaultHost(), Options{})
	collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	uid := "0badc0de-" + strconv.Itoa(os.Getpid()) + "-4000-8000-000000000003"
	pod := "kubepods/besteffort/pod" + uid
	a, b := cgrouptest.ID(t), cgrouptest.ID(t)
	r.Mkdir(pod + "/" + a)
	ca := exec.Command("sleep", "120")
	r.Start(ca, pod+"/"+a)
	got, _, _ := collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	na, nb := "pod"+uid+"_"+a[:12], "pod"+uid+"_"+b[:12]
	if byNode(got)[na] == nil {
		t.Fatalf("container of a pod made between two cycles not published")
	}
	r.Mkdir(pod + "/" + b)
	cb := exec.Command("sleep", "120")
	r.Start(cb, pod+"/"+b)
	got, _, _ = collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if nodes := byNode(got); nodes[na] == nil || nodes[nb] == nil {
		t.Fatalf("second container of the pod: published %v and %v, want both", nodes[na] != nil, nodes[nb] != nil)
	}
	r.Kill(ca)
	r.Kill(cb)
	r.Rmdir(pod + "/" + a)
	r.Rmdir(pod + "/" + b)
	r.Rmdir(pod)
	got, _, _ = collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if nodes := byNode(got); nodes[na] != nil || nodes[nb] != nil {
		t.Errorf("containers of a removed pod still published")
	}
	if g := c.(*collector).gen; g != 1 {
		t.Errorf("%d walks of the hierarchies, want 1", g)
	}
}

// TestRealDiscoveryOverflow: more cgroups made between two cycles than
// the kernel queues events for (fs.inotify.max_queued_events) overflow
// the queue; the collector then walks the hierarchies again, so a
// container made after the overflow, whose events the kernel dropped, is
// still published at the next cycle, and the watching goes on.
func TestRealDiscoveryOverflow(t *testing.T) {
	r := newRealCgroups(t)
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || max > 1<<17 {
		t.Fatalf("max_queued_events %q (%v): too many cgroups to make for an overflow", b, err)
	}
	// The flood goes into one hierarchy, the cheapest to make cgroups in:
	// the cgroup2 tree (no controller enabled below the test's cgroup).
	var flood string
	for _, root := range r.Roots {
		if exists(filepath.Join(root, "cgroup.controllers")) {
			flood = root
		}
	}
	if flood == "" {
		flood = r.Roots[0]
	}
	top := "nmtest-flood" + strconv.Itoa(os.Getpid())
	r.Mkdir(top)
	c := newTest(t, collect.DefaultHost(), Options{})
	collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	cc := c.(*collector)
	if !cc.watch.active() {
		t.Fatalf("discovery does not watch the host's cgroup hierarchies (%v)", cc.watch.err)
	}
	var made []string
	t.Cleanup(func() {
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
	})
	for i := 0; i <= max+100; i++ {
		d := filepath.Join(flood, top, "g"+strconv.Itoa(i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		made = append(made, d)
	}
	id := cgrouptest.ID(t)
	r.Mkdir("docker/" + id)
	r.Start(exec.Command("sleep", "120"), "docker/"+id)
	got, _, _ := collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if byNode(got)[id[:12]] == nil {
		t.Errorf("container made after the event queue overflowed not published at the next cycle")
	}
	if cc.gen != 2 || !cc.watch.active() {
		t.Errorf("after the overflow: %d walks (want 2), watching %v", cc.gen, cc.watch.active())
	}
}

// TestRealOverBudget: beyond the process's descriptor budget a
// container's files are opened at each read: the same metrics, nothing
// kept open, the budget untouched.
func TestRealOverBudget(t *testing.T) {
	r := newRealCgroups(t)
	id := cgrouptest.ID(t)
	rel := "system.slice/docker-" + id + ".scope"
	r.Mkdir(rel)
	r.Start(exec.Command("sleep", "120"), rel)
	c := newTest(t, collect.DefaultHost(), Options{})
	b := &fdBudget{}
	b.once.Do(func() {})
	b.left.Store(3) // fewer than one container's files
	c.(*collector).fds = b
	got, _, _ := collectOnce(t, c, time.Now().Unix(), true, collect.State{})
	m := byNode(got)[id[:12]]
	for _, k := range []string{"cpu.total", "memory.usage_byte", "pids.current", "pressure.cpu.some_percentage"} {
		if _, ok := m[k]; !ok {
			t.Errorf("over the budget: no %s (got %v)", k, m)
		}
	}
	if n := openBelow(t, id); n != 0 {
		t.Errorf("over the budget: %d descriptors kept open below the container's cgroups", n)
	}
	if b.left.Load() != 3 {
		t.Errorf("budget left %d, want 3 (nothing taken)", b.left.Load())
	}
}
