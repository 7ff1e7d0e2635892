// SPDX-License-Identifier: Apache-2.0

// Command daemon is `make bench-daemon`: the whole-process cost of the
// agent against the floor daemon (bench/floor) that only reads the same
// files at the same ticks. Each daemon runs in a cgroup of its own; its CPU
// per cycle is the delta of the cgroup's cpuacct.usage (cgroup v1) or
// cpu.stat usage_usec (cgroup v2) over N cycles, divided by N, and its
// memory the PSS of /proc/<pid>/smaps_rollup. Both run side by side in the
// same window, so a machine loaded by other work shifts both; the ratio is
// the figure to read.
//
// Three loads: the host alone; N containers made as Docker-shaped cgroups
// (docker/<64hex> in every hierarchy, each with a sleeping process, so the
// agent publishes them and the floor reads their stat files); N plain
// cgroups that are not containers (the agent walks them, publishes nothing;
// the floor reads nothing for them).
//
// Everything it creates (cgroups, processes) is written to a record file
// under -state before it is created, and removed at the end, on Ctrl-C, or
// by a later run (or -cleanup FILE) if this one was killed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	agent, floor      string
	agentArgs         []string
	interval          time.Duration
	cycles, warmup    int
	runs              int
	containers, plain int
	loads             []string
	state, cgroupBase string
	runDir            string // the daemons' output of this run
	cleanup           string
	docker            bool
	out               io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := config{out: stdout, cgroupBase: "/sys/fs/cgroup"}
	fs := flag.NewFlagSet("bench-daemon", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.agent, "agent", "bin/collector", "agent binary")
	fs.StringVar(&c.floor, "floor", "bin/floor", "floor daemon binary")
	agentArgs := fs.String("agent-args", "", "extra agent flags, space-separated")
	fs.DurationVar(&c.interval, "interval", 2*time.Second, "collection interval of both daemons")
	fs.IntVar(&c.cycles, "cycles", 12, "cycles measured per run")
	fs.IntVar(&c.warmup, "warmup", 2, "cycles run before measuring")
	fs.IntVar(&c.runs, "runs", 3, "runs per load")
	fs.IntVar(&c.containers, "containers", 1000, "containers of the containers load")
	fs.IntVar(&c.plain, "plain", 1000, "cgroups of the plain-cgroups load")
	loads := fs.String("loads", "host,containers,plain", "loads to run, comma-separated")
	fs.StringVar(&c.state, "state", ".state/bench-daemon", "`DIR` for records and daemon output")
	fs.BoolVar(&c.docker, "docker", false, "let the agent ask the host's Docker API for names (it then also lists the machine's other containers)")
	fs.StringVar(&c.cleanup, "cleanup", "", "only undo what the record `FILE` of a killed run lists")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.cleanup != "" {
		if err := cleanupRecord(c.cleanup); err != nil {
			fmt.Fprintf(stderr, "bench-daemon: %v\n", err)
			return 1
		}
		return 0
	}
	c.agentArgs = strings.Fields(*agentArgs)
	c.loads = strings.Split(*loads, ",")
	for _, l := range c.loads {
		if l != "host" && l != "containers" && l != "plain" {
			fmt.Fprintf(stderr, "bench-daemon: unknown load %q (host, containers, plain)\n", l)
			return 2
		}
	}
	if c.interval <= 0 || c.cycles < 1 || c.warmup < 1 || c.runs < 1 || c.containers < 0 || c.plain < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "bench-daemon: -interval, -cycles, -warmup and -runs must be positive, no arguments")
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "bench-daemon: run as root (it makes cgroups)")
		return 2
	}
	// The daemons run with the open-file limit the units give the agent
	// (LimitNOFILE=65536) when we may raise it: the agent keeps the
	// containers' files open within a budget below it, the floor keeps
	// every file open.
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Max < 65536 {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 65536, Max: 65536}); err != nil {
			fmt.Fprintf(stderr, "bench-daemon: open-file limit stays %d (raising it to 65536: %v)\n", rl.Max, err)
		}
	}
	if abs, err := filepath.Abs(c.state); err == nil {
		c.state = abs // the daemons get paths below it
	}
	if err := os.MkdirAll(c.state, 0o755); err != nil {
		fmt.Fprintf(stderr, "bench-daemon: %v\n", err)
		return 2
	}
	logf := func(f string, a ...any) { fmt.Fprintf(stderr, "bench-daemon: "+f+"\n", a...) }
	cleanupStale(c.state, logf)
	// Daemon output goes to run-<pid>/: the last run's stays for a look.
	olds, _ := filepath.Glob(filepath.Join(c.state, "run-*"))
	for _, o := range olds {
		os.RemoveAll(o)
	}
	c.runDir = filepath.Join(c.state, fmt.Sprintf("run-%d", os.Getpid()))
	if err := os.Mkdir(c.runDir, 0o755); err != nil {
		logf("%v", err)
		return 2
	}
	t, err := newTree(c.cgroupBase, filepath.Join(c.state, fmt.Sprintf("record-%d", os.Getpid())))
	if err != nil {
		logf("%v", err)
		return 2
	}
	results, err := c.all(ctx, t)
	if cerr := t.close(); cerr != nil {
		logf("clean-up: %v (record kept: %s)", cerr, t.rec.Name())
		err = errors.Join(err, cerr)
	}
	c.summary(results)
	if err != nil {
		logf("%v", err)
		return 1
	}
	return 0
}

// result is one daemon pair measured over one window.
type result struct {
	load               string
	run                int
	floorMS, agentMS   float64 // CPU per cycle
	floorPSS, agentPSS float64 // MB
	published          int     // the agent's containers.running_count
	floorFiles         int
	collectors         map[string]float64 // the agent's mean collector durations, ms
}

func (c *config) all(ctx context.Context, t *tree) ([]result, error) {
	top := fmt.Sprintf("nmbench-%d-%s", os.Getpid(), hexID()[:6])
	var results []result
	fmt.Fprintf(c.out, "interval %v, %d cycles measured after %d, %d runs per load; CPU per cycle of each daemon's cgroup, PSS at the end\n",
		c.interval, c.cycles, c.warmup, c.runs)
	fmt.Fprintf(c.out, "%-11s %3s %10s %10s %7s %10s %10s %11s %10s\n", "load", "run", "floor ms", "agent ms", "ratio",
		"floor PSS", "agent PSS", "floor files", "published")
	for _, load := range c.loads {
		view := top + "/view-" + load
		list, err := c.setUp(t, load, view)
		if err != nil {
			return results, fmt.Errorf("%s: set-up: %w", load, err)
		}
		for r := 1; r <= c.runs; r++ {
			res, err := c.measure(ctx, t, top, view, load, r, list)
			if err != nil {
				return results, fmt.Errorf("%s run %d: %w", load, r, err)
			}
			results = append(results, res)
			fmt.Fprintf(c.out, "%-11s %3d %10.2f %10.2f %6.1fx %7.1f MB %7.1f MB %11d %10d\n", load, r,
				res.floorMS, res.agentMS, res.agentMS/res.floorMS, res.floorPSS, res.agentPSS, res.floorFiles, res.published)
		}
		if err := c.tearDown(t, view); err != nil {
			return results, fmt.Errorf("%s: tear-down: %w", load, err)
		}
	}
	return results, nil
}

// setUp makes the view of a load: a cgroup that both daemons see as the
// root of every hierarchy (see startDaemon), with the load's cgroups in it:
// containers at docker/<id> each with a sleeping process, plain cgroups at
// plain/g<n>. It writes the floor's list of container cgroups (relative to
// the view).
func (c *config) setUp(t *tree, load, view string) (string, error) {
	list := filepath.Join(c.runDir, "containers-"+load)
	if err := t.mkdir(view); err != nil {
		return "", err
	}
	var rels []string
	switch load {
	case "containers":
		for i := 0; i < c.containers; i++ {
			id := "docker/" + hexID()
			if err := t.mkdir(view + "/" + id); err != nil {
				return "", err
			}
			if err := t.start(exec.Command("sleep", "infinity"), view+"/"+id); err != nil {
				return "", err
			}
			rels = append(rels, id)
		}
	case "plain":
		for i := 0; i < c.plain; i++ {
			if err := t.mkdir(fmt.Sprintf("%s/plain/g%05d", view, i)); err != nil {
				return "", err
			}
		}
	}
	return list, os.WriteFile(list, []byte(strings.Join(rels, "\n")), 0o644)
}

// tearDown stops the sleepers of the view and removes its cgroups.
func (c *config) tearDown(t *tree, view string) error {
	for _, pid := range slices.Clone(t.order) {
		if ch := t.procs[pid]; ch != nil && strings.HasPrefix(ch.rel, view+"/") {
			t.stop(pid, 0)
		}
	}
	return t.rmdir(view)
}

// daemon is one running daemon in its own cgroup.
type daemon struct {
	pid int
	rel string
	out string
	cpu string // usage file of its cgroup
	v2  bool
}

// startDaemon runs bin in the cgroup rel, in a mount namespace of its own
// where each hierarchy's root is the cgroup view bound over it: the daemon
// sees the benchmark's cgroups and nothing of the other containers and
// cgroups on the machine (nor its own cgroup).
func (c *config) startDaemon(t *tree, rel, view, out string, bin string, args ...string) (*daemon, error) {
	if err := t.mkdir(rel); err != nil {
		return nil, err
	}
	f, err := os.Create(out)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var script strings.Builder
	for _, r := range t.roots {
		fmt.Fprintf(&script, "mount --bind '%s/%s' '%s' && ", r, view, r)
	}
	script.WriteString(`exec "$@"`)
	cmd := exec.Command("unshare", append([]string{"-m", "--propagation", "private", "--", "sh", "-c", script.String(), "sh", bin}, args...)...)
	cmd.Stdout = f
	cmd.Stderr = f
	if err := t.start(cmd, rel); err != nil {
		return nil, err
	}
	d := &daemon{pid: cmd.Process.Pid, rel: rel, out: out}
	d.cpu, d.v2 = usageFile(t.roots, rel)
	if d.cpu == "" {
		return nil, errors.New("no cpuacct.usage or cpu.stat for the daemon's cgroup")
	}
	return d, nil
}

// usageFile is the cgroup's CPU usage file: cpuacct.usage (v1, ns) or
// cpu.stat (v2, usage_usec).
func usageFile(roots []string, rel string) (string, bool) {
	for _, r := range roots {
		if p := filepath.Join(r, rel, "cpuacct.usage"); exists(p) {
			return p, false
		}
	}
	for _, r := range roots {
		if p := filepath.Join(r, rel, "cpu.stat"); exists(p) && exists(filepath.Join(r, "cgroup.controllers")) {
			return p, true
		}
	}
	return "", false
}

// usage is the cgroup's CPU time so far, in ns.
func (d *daemon) usage() (uint64, error) {
	b, err := os.ReadFile(d.cpu)
	if err != nil {
		return 0, err
	}
	if !d.v2 {
		return strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
			u, err := strconv.ParseUint(v, 10, 64)
			return u * 1000, err
		}
	}
	return 0, fmt.Errorf("%s: no usage_usec", d.cpu)
}

// pss is the process's proportional set size in MB.
func pss(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no Pss in smaps_rollup")
}

func sleepUntil(ctx context.Context, t time.Time) error {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// measure runs the agent and the floor side by side: warm-up cycles, then
// the usage of both cgroups read half an interval after a tick and again N
// ticks later.
func (c *config) measure(ctx context.Context, t *tree, top, view, load string, r int, list string) (result, error) {
	res := result{load: load, run: r}
	tag := fmt.Sprintf("%s-%d", load, r)
	agentOut := filepath.Join(c.runDir, "agent-"+tag+".out")
	floorOut := filepath.Join(c.runDir, "floor-"+tag+".out")
	iv := c.interval.String()
	// The agent sends to Carbon as in production: a loopback sink that
	// keeps what it receives in agentOut.
	sink, err := newSink(agentOut)
	if err != nil {
		return res, err
	}
	defer sink.close()
	args := []string{"--interval", iv, "--graphite", sink.addr(), "--hostname", "nmbench", "--log-level", "error"}
	if !c.docker {
		// No Docker API: the machine's other containers are not ours.
		args = append(args, "--docker-host", "unix://"+filepath.Join(c.runDir, "no-docker.sock"))
	}
	args = append(args, c.agentArgs...)
	a, err := c.startDaemon(t, top+"/agent-"+tag, view, agentOut+".log", c.agent, args...)
	if err != nil {
		return res, err
	}
	defer t.stop(a.pid, 5*time.Second)
	fargs := []string{"-interval", iv}
	if load == "containers" {
		fargs = append(fargs, "-containers", list)
	}
	f, err := c.startDaemon(t, top+"/floor-"+tag, view, floorOut, c.floor, fargs...)
	if err != nil {
		return res, err
	}
	defer t.stop(f.pid, 5*time.Second)

	first := time.Now().Truncate(c.interval).Add(c.interval)
	from := first.Add(time.Duration(c.warmup)*c.interval + c.interval/2)
	to := from.Add(time.Duration(c.cycles) * c.interval)
	if err := sleepUntil(ctx, from); err != nil {
		return res, err
	}
	a0, err1 := a.usage()
	f0, err2 := f.usage()
	if err := sleepUntil(ctx, to); err != nil {
		return res, err
	}
	a1, err3 := a.usage()
	f1, err4 := f.usage()
	pa, err5 := pss(a.pid)
	pf, err6 := pss(f.pid)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return res, fmt.Errorf("%w (agent output: %s)", err, agentOut)
	}
	t.stop(a.pid, 5*time.Second)
	t.stop(f.pid, 5*time.Second)
	sink.close()
	n := float64(c.cycles)
	res.agentMS, res.floorMS = float64(a1-a0)/n/1e6, float64(f1-f0)/n/1e6
	res.agentPSS, res.floorPSS = pa, pf
	res.published, res.collectors = agentStats(agentOut, from.Unix(), to.Unix())
	res.floorFiles = floorFiles(floorOut)
	if err := t.rmdir(a.rel); err != nil {
		return res, err
	}
	return res, t.rmdir(f.rel)
}

// agentStats reads the agent's output: the last containers.running_count,
// and each collector's mean duration (ms) over the ticks in (from, to].
func agentStats(path string, from, to int64) (int, map[string]float64) {
	fl, err := os.Open(path)
	if err != nil {
		return -1, nil
	}
	defer fl.Close()
	running := -1
	sum, cnt := map[string]float64{}, map[string]int{}
	sc := bufio.NewScanner(fl)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		ts, _ := strconv.ParseInt(f[2], 10, 64)
		v, _ := strconv.ParseFloat(f[1], 64)
		if strings.HasSuffix(f[0], ".containers.running_count") {
			running = int(v)
		}
		if _, rest, ok := strings.Cut(f[0], ".agent.collectors."); ok && ts > from && ts <= to {
			if name, ok := strings.CutSuffix(rest, ".duration_seconds"); ok {
				sum[name] += v * 1000
				cnt[name]++
			}
		}
	}
	for k := range sum {
		sum[k] /= float64(cnt[k])
	}
	return running, sum
}

func floorFiles(path string) int {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) >= 4 && f[2] == "files" {
		n, _ := strconv.Atoi(f[3])
		return n
	}
	return -1
}

// summary prints each load's range over the runs against the targets.
func (c *config) summary(results []result) {
	if len(results) == 0 {
		return
	}
	rng := func(load string, f func(result) float64) (lo, hi float64, ok bool) {
		for _, r := range results {
			if r.load != load {
				continue
			}
			v := f(r)
			if !ok || v < lo {
				lo = v
			}
			if !ok || v > hi {
				hi = v
			}
			ok = true
		}
		return
	}
	w := c.out
	fmt.Fprintf(w, "\nsummary (min-max over %d runs):\n", c.runs)
	targets := map[string]string{"host": "target <= 1.5x", "containers": "target <= 1.5x, agent PSS <= 15 MB"}
	for _, load := range c.loads {
		flo, fhi, ok := rng(load, func(r result) float64 { return r.floorMS })
		if !ok {
			continue
		}
		alo, ahi, _ := rng(load, func(r result) float64 { return r.agentMS })
		rlo, rhi, _ := rng(load, func(r result) float64 { return r.agentMS / r.floorMS })
		plo, phi, _ := rng(load, func(r result) float64 { return r.agentPSS })
		fmt.Fprintf(w, "  %-10s floor %.2f-%.2f ms, agent %.2f-%.2f ms per cycle, ratio %.1f-%.1fx, agent PSS %.1f-%.1f MB  (%s)\n",
			load, flo, fhi, alo, ahi, rlo, rhi, plo, phi, targets[load])
	}
	// Plain cgroups: the agent's extra cost over the host-only runs.
	if _, _, ok := rng("plain", func(r result) float64 { return 0 }); ok {
		if hlo, hhi, ok := rng("host", func(r result) float64 { return r.agentMS }); ok {
			plo, phi, _ := rng("plain", func(r result) float64 { return r.agentMS })
			fmt.Fprintf(w, "  plain cgroups add %.1f to %.1f ms per cycle to the agent (target <= 5 ms)\n", plo-hhi, phi-hlo)
		}
	}
	// Where the agent's wall time goes, by collector (mean of the runs).
	for _, load := range c.loads {
		mean := map[string]float64{}
		n := 0
		for _, r := range results {
			if r.load == load {
				n++
				for k, v := range r.collectors {
					mean[k] += v
				}
			}
		}
		if n == 0 || len(mean) == 0 {
			continue
		}
		names := make([]string, 0, len(mean))
		for k := range mean {
			names = append(names, k)
		}
		slices.SortFunc(names, func(a, b string) int {
			if mean[a] > mean[b] {
				return -1
			}
			if mean[a] < mean[b] {
				return 1
			}
			return strings.Compare(a, b)
		})
		var b strings.Builder
		for i, k := range names {
			if i == 5 {
				break
			}
			fmt.Fprintf(&b, " %s %.2f", k, mean[k]/float64(n))
		}
		fmt.Fprintf(w, "  %-10s agent collectors, wall ms per cycle:%s\n", load, b.String())
	}
}

// sink is a loopback Carbon: it writes every line it receives to a file.
type sink struct {
	ln   net.Listener
	f    *os.File
	done chan struct{}
	once sync.Once
}

func newSink(path string) (*sink, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &sink{ln: ln, f: f, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		var wg sync.WaitGroup
		var mu sync.Mutex
		for {
			conn, err := ln.Accept()
			if err != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadBytes('\n')
					if len(line) > 0 && line[len(line)-1] == '\n' {
						mu.Lock()
						f.Write(line)
						mu.Unlock()
					}
					if err != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
	}()
	return s, nil
}

func (s *sink) addr() string { return s.ln.Addr().String() }

// close stops accepting and waits for the connections, which end when the
// agent (stopped before) has closed them.
func (s *sink) close() {
	s.once.Do(func() {
		s.ln.Close()
		<-s.done
		s.f.Close()
	})
}
