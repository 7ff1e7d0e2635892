// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/docker"
	"github.com/nodemetrics/nodemetrics/internal/dockertest"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
)

// burnerSrc is the tiny static program the test containers run: it burns
// CPU, allocates memory, echoes TCP, as its flags say, and exits 143 on
// SIGTERM (a PID 1 ignores signals it does not handle).
const burnerSrc = `package main

import (
	"flag"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

var keep [][]byte

func main() {
	cpu := flag.Bool("cpu", false, "burn one CPU")
	alloc := flag.Int("alloc", 0, "allocate and touch MB")
	serve := flag.String("serve", "", "echo TCP on this address")
	flag.Parse()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for i := 0; i < *alloc; i++ {
		m := make([]byte, 1<<20)
		for j := range m {
			m[j] = byte(j)
		}
		keep = append(keep, m)
	}
	if *serve != "" {
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			os.Exit(2)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { io.Copy(c, c); c.Close() }()
			}
		}()
	}
	if *cpu {
		go func() {
			x := 0
			for {
				x++
			}
		}()
	}
	<-sig
	os.Exit(143)
}
`

func randSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildBurnerImage builds the burner statically and imports it as a
// one-file image FROM scratch; removed in t.Cleanup.
func buildBurnerImage(t *testing.T, tag string) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "main.go"), []byte(burnerSrc), 0o644))
	must(os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module burner\n\ngo 1.21\n"), 0o644))
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "burner", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build burner: %v\n%s", err, out)
	}
	tarball := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", dir, "--owner=0", "--group=0", "-cf", tarball, "burner").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	dockertest.Cmd(t, "import", "--change", `ENTRYPOINT ["/burner"]`, tarball, tag)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
}

type testContainers struct {
	t     *testing.T
	names []string
	ids   []string
}

// run starts a container and returns its id.
func (c *testContainers) run(name string, args ...string) string {
	c.t.Helper()
	c.names = append(c.names, name)
	id := dockertest.Cmd(c.t, append([]string{"run", "-d", "--name", name}, args...)...)
	if len(id) != 64 {
		c.t.Fatalf("docker run %s: id %q", name, id)
	}
	c.ids = append(c.ids, id)
	return id
}

func (c *testContainers) cleanup() {
	if len(c.names) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, c.names...)...).Run()
	}
}

// TestDockerEndToEnd runs the agent (in-process) against the REAL Docker
// Engine and a REAL Graphite, with --tags and --events-url: per-container
// cpu, memory and network, the Docker lifecycle events as graphite-web
// events, tagged series, the audit file; then the agent image itself as a
// Docker container names the same containers.
func TestDockerEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real containers and Graphite")
	}
	dockertest.Require(t)
	sfx := randSuffix()
	img := "nmtest" + sfx + ":1"
	host := "dock" + sfx
	buildBurnerImage(t, img)
	g := graphitetest.Start(t)

	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	logs, stopAgent := startAgent(t, "--graphite", g.CarbonAddr, "--interval", "1s", "--hostname", host, "--prefix", "test",
		"--collectors", "containers,docker", "--tags", "--tag-labels", "tier,absent",
		"--events-url", g.WebURL, "--audit-file", audit, "--log-level", "debug")
	// Let the agent's first cycle and the events stream start: containers
	// started from now on are "start"s.
	prefix := "test." + host + ".containers."
	g.WaitFor(t, prefix+"running_count", "-10min", func(s []graphitetest.Series) bool {
		_, _, ok := lastValue(s)
		return ok
	}, 30*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "docker events stream connected") {
		if time.Now().After(deadline) {
			t.Fatal("the agent never connected to the Docker events stream")
		}
		time.Sleep(50 * time.Millisecond)
	}

	cs := &testContainers{t: t}
	t.Cleanup(cs.cleanup)
	n := func(x string) string { return "nmt" + sfx + "-" + x }
	// A name cache refreshed before the containers start, as the agent's
	// is between two refreshes: a container it has not listed yet is
	// still named at once (its first cycle must not publish a stray
	// series under the short id).
	sock, err := docker.SocketPath("", "/proc")
	if err != nil {
		t.Fatal(err)
	}
	names := docker.NewCache(docker.NewClient(sock), docker.Options{Interval: time.Hour})
	if err := names.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Half a CPU: enough to see, not enough to starve the rest of the suite.
	idA := cs.run(n("a"), "--label", "tier=web", "--label", "nmtest=1", "--memory", "200m", "--cpus", "0.5", img, "-cpu", "-alloc", "30")
	cs.run(n("b"), "--network", "host", "--label", "nmtest=1", img)
	cs.run(n("c"), "--label", "nmtest=1", img, "-serve", ":7777")
	cs.run(n("d"), "--network", "container:"+n("c"), "--label", "nmtest=1", img)
	cs.run(n("e"), "--memory", "20m", "--memory-swap", "20m", "--label", "nmtest=1", img, "-alloc", "100")
	cs.run(n("f"), "--label", "nmtest=1", img)
	cs.run(n("g"), "--label", "nmtest=1", img)
	t0 := time.Now()
	if info, ok := names.Lookup(idA); !ok || info.Name != n("a") || info.Image != img || info.Pid <= 0 || info.Labels["tier"] != "web" {
		t.Errorf("a container started after the last refresh: Lookup = %+v, %v; want its name, image, labels and pid", info, ok)
	}
	if _, ok := names.Lookup(strings.Repeat("ab", 32)); ok {
		t.Error("an id the daemon does not know was named")
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("two on-demand lookups took %v", d)
	}

	// Traffic through c's (and d's) network namespace, from the host.
	ip := dockertest.Cmd(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", n("c"))
	trafficDone := make(chan struct{})
	go func() {
		defer close(trafficDone)
		buf := bytes.Repeat([]byte("x"), 64<<10)
		end := time.Now().Add(8 * time.Second)
		for time.Now().Before(end) {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, "7777"), time.Second)
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			for i := 0; i < 16; i++ {
				conn.Write(buf)
				conn.Read(buf)
			}
			conn.Close()
			time.Sleep(50 * time.Millisecond)
		}
	}()

	positive := func(s []graphitetest.Series) bool { v, _, ok := lastValue(s); return ok && v > 0 }
	checkCPU(t, g, prefix+n("a")+".cpu.total", dockerPid(t, n("a")))
	g.WaitFor(t, prefix+n("a")+".memory.usage_byte", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v > 25<<20
	}, 30*time.Second)
	g.WaitFor(t, prefix+n("a")+".memory.limit_byte", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v == 200<<20
	}, 30*time.Second)
	// Any cycle with traffic: the traffic lasts 8 s, a loaded machine may
	// take longer to reach these checks.
	hadTraffic := func(s []graphitetest.Series) bool {
		for _, x := range s {
			for _, v := range x.Values() {
				if v > 0 {
					return true
				}
			}
		}
		return false
	}
	g.WaitFor(t, prefix+n("c")+".network.eth0.rx_byte", "-10min", hadTraffic, 30*time.Second)
	g.WaitFor(t, prefix+n("c")+".network.eth0.tx_byte", "-10min", hadTraffic, 30*time.Second)
	g.WaitFor(t, prefix+n("b")+".memory.usage_byte", "-10min", positive, 30*time.Second)
	g.WaitFor(t, prefix+n("d")+".memory.usage_byte", "-10min", positive, 30*time.Second)
	<-trafficDone
	// No container of ours left a series under its short id.
	found, err := g.Find(prefix + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		for _, id := range cs.ids {
			if strings.HasSuffix(f, "."+id[:12]) {
				t.Errorf("stray series under a short id: %s (%s)", f, strings.Join(found, " "))
			}
		}
	}
	// b shares the host's namespace, d shares c's: neither has network series.
	for _, x := range []string{"b", "d"} {
		if found, err := g.Find(prefix + n(x) + ".network.*"); err != nil || len(found) > 0 {
			t.Errorf("%s has network series %v (err %v); its namespace is counted elsewhere", n(x), found, err)
		}
	}

	// Tagged series, selected by image.
	g.WaitFor(t, "seriesByTag('name=container.cpu.total','image=~nmtest"+sfx+".*')", "-10min", func(s []graphitetest.Series) bool {
		for _, x := range s {
			if x.Tags["container"] == n("a") && x.Tags["label_tier"] == "web" && x.Tags["runtime"] == "docker" && x.Tags["host"] == host {
				return true
			}
		}
		return false
	}, 60*time.Second)

	// Lifecycle: stop f (SIGTERM: exit 143), kill and remove g.
	dockertest.Cmd(t, "stop", "-t", "5", n("f"))
	dockertest.Cmd(t, "kill", n("g"))
	dockertest.Cmd(t, "rm", n("g"))

	// The events, as Grafana's annotations read them.
	want := map[string]string{ // what -> tag that must select it
		n("a") + " start":   "start",
		n("e") + " oom":     "oom",
		n("e") + " die":     "die",
		n("f") + " kill":    "kill",
		n("f") + " die":     "die",
		n("g") + " kill":    "kill",
		n("g") + " destroy": "destroy",
	}
	var evs []graphitetest.Event
	deadline = time.Now().Add(40 * time.Second)
	for {
		var err error
		evs, err = g.Events("-1h", "container host="+host)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]int{}
		for _, e := range evs {
			have[e.What]++
		}
		missing := []string{}
		for w := range want {
			if have[w] == 0 {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events missing %v; have %v", missing, have)
		}
		time.Sleep(300 * time.Millisecond)
	}
	counts := map[string]int{}
	for _, e := range evs {
		counts[e.What]++
		if e.What == n("e")+" die" && !strings.Contains(e.Data, "exit code 137") {
			t.Errorf("oom-killed die event data %q, want exit code 137", e.Data)
		}
		if e.What == n("f")+" die" && !strings.Contains(e.Data, "exit code 143") {
			t.Errorf("stopped die event data %q, want exit code 143", e.Data)
		}
	}
	// Docker's stream and the cgroup walk both see a start: one event only.
	if counts[n("a")+" start"] != 1 {
		t.Errorf("%d start events of %s, want exactly 1: %v", counts[n("a")+" start"], n("a"), counts)
	}
	for what, tag := range want {
		sel, err := g.Events("-1h", tag+" host="+host)
		if err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, e := range sel {
			ok = ok || e.What == what
		}
		if !ok {
			t.Errorf("tags=%s does not select %q", tag, what)
		}
	}
	// The per-cycle counters add up.
	g.WaitFor(t, "sum(integral(test."+host+".containers.events.oom))", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v >= 1
	}, 30*time.Second)

	// The Diamond docker.* counts.
	g.WaitFor(t, "test."+host+".docker.containers_running_count", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v >= 4
	}, 30*time.Second)
	g.WaitFor(t, "test."+host+".docker.containers."+n("a")+".cpu.total", "-10min", positive, 30*time.Second)

	// The agent itself as a Docker container, while ours still run.
	testAgentContainer(t, []string{n("a"), n("b"), n("c"), n("d")})

	stopAgent()
	// The audit trail.
	b, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r struct {
			Time, Host, ID, Name, Image, Event string
			Labels                             map[string]string
			ExitCode                           *int `json:"exit_code"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		if !strings.HasPrefix(r.Name, "nmt"+sfx) {
			continue
		}
		if r.Host != host || len(r.ID) != 64 || r.Image != img || r.Time == "" {
			t.Errorf("audit record %s", sc.Text())
		}
		key := r.Name + " " + r.Event
		if r.ExitCode != nil {
			key += fmt.Sprintf(" %d", *r.ExitCode)
		}
		seen[key] = true
		if r.Name == n("a") && r.Labels["tier"] != "web" {
			t.Errorf("audit labels of a: %v", r.Labels)
		}
	}
	for _, k := range []string{n("a") + " start", n("e") + " oom", n("e") + " die 137", n("f") + " die 143", n("g") + " destroy"} {
		if !seen[k] {
			t.Errorf("audit has no %q; has %v", k, seen)
		}
	}
}

// dockerPid is the host pid of a container's main process.
func dockerPid(t *testing.T, name string) int {
	t.Helper()
	pid, err := strconv.Atoi(dockertest.Cmd(t, "inspect", "-f", "{{.State.Pid}}", name))
	if err != nil || pid <= 0 {
		t.Fatalf("pid of %s: %v", name, err)
	}
	return pid
}

// pidTicks is utime+stime of pid (all its threads), in USER_HZ ticks.
func pidTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the ")" closing the command name: state is field 3,
	// utime 14 and stime 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return u + s
}

// checkCPU compares the agent's cpu.total of a container whose only
// process is pid (% of one CPU, one point per 1 s tick) with what the
// kernel says that process used over the same ticks: the agent must agree
// with whatever share the load on this machine let the container have.
func checkCPU(t *testing.T, g *graphitetest.Graphite, target string, pid int) {
	t.Helper()
	// A first point: the agent has a previous sample of the container.
	g.WaitFor(t, target, "-10min", func(s []graphitetest.Series) bool {
		_, _, ok := lastValue(s)
		return ok
	}, 40*time.Second)
	// The agent samples just after each whole second: so does the test.
	// Its point at tick T is the usage between the samples at T-1 and T.
	const window = 8
	atTick := func(tick int64) uint64 {
		time.Sleep(time.Until(time.Unix(tick, 0)))
		return pidTicks(t, pid)
	}
	t0 := time.Now().Unix() + 1
	ticks0 := atTick(t0)
	ticks1 := atTick(t0 + window)
	kernel := float64(ticks1-ticks0) / window // USER_HZ = 100: % of one CPU
	// Every point of the window, or the agent 2 ticks past it: a loaded
	// machine may skip a cycle, and half the points suffice (each is a
	// rate over its own interval).
	var agent float64
	var points int
	s := g.WaitFor(t, target, "-10min", func(s []graphitetest.Series) bool {
		agent, points = 0, 0
		if len(s) != 1 {
			return false
		}
		past := false
		for ts, v := range s[0].Values() {
			if ts > t0 && ts <= t0+window {
				agent += v
				points++
			}
			past = past || ts > t0+window+2
		}
		return points == window || past && points >= window/2
	}, 30*time.Second)
	agent /= float64(points)
	t.Logf("%s: agent %.1f %% over %d points, the kernel says %.1f %% (%v)", target, agent, points, kernel, s[0].Values())
	if kernel < 2 {
		t.Errorf("the container got %.1f %% of a CPU over %d s: too little to check the agent's %.1f %%", kernel, window, agent)
	}
	// The edges of the two windows differ by the agent's tick lag and the
	// tick granularity (1 %/s): a quarter, or 5 points at low usage.
	if math.Abs(agent-kernel) > max(5, kernel/4) {
		t.Errorf("%s = %.1f %%, the container's process used %.1f %% of one CPU over the same %d s", target, agent, kernel, window)
	}
}

// testAgentContainer builds the agent image with image/build.sh, loads it
// and runs it with the host's /proc, /sys and /run read-only, --pid host,
// --network host: --once --output - names the test containers.
func testAgentContainer(t *testing.T, names []string) {
	t.Helper()
	out := t.TempDir()
	script, err := filepath.Abs("../../image/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	name := "nmtest-agent" + randSuffix()
	bin := filepath.Join(t.TempDir(), "collector")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, o)
	}
	cmd := exec.Command("bash", script, out)
	cmd.Env = append(os.Environ(), "IMAGE_NAME="+name, "VERSION=test", "SOURCE_DATE_EPOCH=0", "COLLECTOR="+bin)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image/build.sh: %v\n%s", err, o)
	}
	tag := name + ":test"
	dockertest.Cmd(t, "load", "-i", filepath.Join(out, "nodemetrics-docker.tar"))
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	ctr := name + "-run"
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", ctr).Run() })
	res := dockertest.Cmd(t, "run", "--name", ctr, "--pid", "host", "--network", "host",
		"-v", "/proc:/host/proc:ro", "-v", "/sys:/host/sys:ro", "-v", "/run:/host/run:ro",
		tag, "--once", "--output", "-", "--procfs", "/host/proc", "--sysfs", "/host/sys",
		"--collectors", "containers", "--hostname", "inctr", "--log-level", "warn")
	for _, n := range names {
		if !strings.Contains(res, "servers.inctr.containers."+n+".memory.usage_byte ") {
			t.Errorf("the agent in a container does not name %s:\n%s", n, res)
		}
	}
}
