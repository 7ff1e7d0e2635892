// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// copyTree copies the e2e fixture tree t1 into a temp dir.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := filepath.Join("..", "..", "collectors", "testdata", "e2e", "t1")
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// hostCollectors are the default collectors that publish metrics from the
// e2e fixture tree, by their path's first node.
var hostCollectors = []string{"cpu", "memory", "loadavg", "vmstat", "diskspace", "iostat", "network",
	"sockets", "tcp", "entropy", "files", "interrupts", "uptime", "proc"}

// runWithFIFO runs the agent (every default collector, 1 s interval) for
// about 4.5 s over a copy of the fixture tree whose <procfs>/1/mountinfo
// (diskspace's mount table) is a FIFO; feed, when set, serves the FIFO.
// It returns the output grouped by timestamp.
func runWithFIFO(t *testing.T, feed func(fifo string, stop <-chan struct{})) map[string]map[string]string {
	t.Helper()
	tree := copyTree(t)
	fifo := filepath.Join(tree, "proc", "1", "mountinfo")
	table, err := os.ReadFile(fifo)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(fifo)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		if feed != nil {
			feed(fifo, stop)
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-fed
		// Unblock a hung open so the collector's goroutine can go.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Write(table)
			f.Close()
		}
	})
	out := &syncbuf.Buffer{}
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 4500*time.Millisecond)
	defer cancel()
	code := run(ctx, []string{"--output", "-", "--interval", "1s", "--hostname", "h", "--counters",
		"--procfs", filepath.Join(tree, "proc"), "--sysfs", filepath.Join(tree, "sys"), "--rootfs", tree,
		"--docker-host", filepath.Join(tree, "no-docker.sock")}, out, logs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, logs.String())
	}
	byTS := map[string]map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		if byTS[f[2]] == nil {
			byTS[f[2]] = map[string]string{}
		}
		byTS[f[2]][f[0]] = f[1]
	}
	if len(byTS) < 3 {
		t.Fatalf("%d cycles in 4.5 s, want >= 3:\n%s", len(byTS), logs.String())
	}
	return byTS
}

// checkOthers: in every cycle, every collector but skip reports success 1
// and every host collector but skip published.
func checkOthers(t *testing.T, byTS map[string]map[string]string, skip string) {
	t.Helper()
	for ts, m := range byTS {
		n := 0
		for path, v := range m {
			name, ok := strings.CutPrefix(path, "servers.h.agent.collectors.")
			if !ok || !strings.HasSuffix(name, ".success") {
				continue
			}
			n++
			if name = strings.TrimSuffix(name, ".success"); name != skip && v != "1" {
				t.Errorf("cycle %s: %s reported success %s", ts, name, v)
			}
		}
		if n < len(hostCollectors) {
			t.Errorf("cycle %s: %d collectors reported, want >= %d", ts, n, len(hostCollectors))
		}
		for _, c := range hostCollectors {
			if c == skip {
				continue
			}
			found := false
			for path := range m {
				if strings.HasPrefix(path, "servers.h."+c+".") {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("cycle %s: nothing from %s", ts, c)
			}
		}
	}
}

// A collector that hangs (its mount table is a FIFO nobody writes: open
// blocks for ever) misses its deadline; every other collector reports
// success and publishes in every cycle, and the hung one is skipped, not
// stacked.
func TestHungCollectorDoesNotStopOthers(t *testing.T) {
	byTS := runWithFIFO(t, nil)
	checkOthers(t, byTS, "diskspace")
	skipped := false
	for ts, m := range byTS {
		if m["servers.h.agent.collectors.diskspace.success"] != "0" {
			t.Errorf("cycle %s: the hung collector was not reported failed", ts)
		}
		if m["servers.h.agent.collectors.diskspace.skipped"] != "0" {
			skipped = true
		}
		for path := range m {
			if strings.HasPrefix(path, "servers.h.diskspace.") {
				t.Errorf("cycle %s: the hung collector published %s", ts, path)
			}
		}
	}
	if !skipped {
		t.Error("the hung collector was not skipped on later ticks")
	}
}

// A collector that overruns its deadline (its mount table arrives 1.2 s
// after it is opened, the budget is 0.8 s) and then returns: every other
// collector reports success and publishes in every cycle.
func TestSlowCollectorDoesNotFailOthers(t *testing.T) {
	byTS := runWithFIFO(t, func(fifo string, stop <-chan struct{}) {
		table, _ := os.ReadFile(filepath.Join("..", "..", "collectors", "testdata", "e2e", "t1", "proc", "1", "mountinfo"))
		for {
			f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil { // no reader yet
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				continue
			}
			select {
			case <-stop:
			case <-time.After(1200 * time.Millisecond):
			}
			f.Write(table)
			f.Close()
		}
	})
	checkOthers(t, byTS, "diskspace")
	failed := 0
	for _, m := range byTS {
		if m["servers.h.agent.collectors.diskspace.success"] == "0" {
			failed++
		}
	}
	if failed == 0 {
		t.Error("the slow collector was never reported failed")
	}
}

// Carbon (a real carbon-cache) down for several cycles, then back: every
// point produced during the outage is in Carbon afterwards, with its
// original timestamp. Counted per second.
func TestCarbonOutageLosesNoPoint(t *testing.T) {
	g := graphitetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--graphite", g.CarbonAddr, "--interval", "1s", "--hostname", "outage",
			"--collectors", "memory,loadavg", "--spool-dir", t.TempDir()}, logs, logs)
	}()
	const target = "servers.outage.memory.MemTotal"
	first := g.WaitFor(t, target, "-5min", func(s []graphitetest.Series) bool { _, _, ok := lastValue(s); return ok }, 30*time.Second)
	_, firstTS, _ := lastValue(first)
	g.StopCarbon(t)
	time.Sleep(6 * time.Second) // the outage: six cycles
	g.StartCarbon(t)
	restart := time.Now().Unix()
	got := g.WaitFor(t, target, "-5min", func(s []graphitetest.Series) bool {
		_, ts, ok := lastValue(s)
		return ok && ts > restart+2
	}, 60*time.Second)
	cancel()
	<-done
	_, lastTS, _ := lastValue(got)
	have := map[int64]bool{}
	for _, s := range got {
		for _, p := range s.Points {
			if p.Value != nil {
				have[p.Time] = true
			}
		}
	}
	var missing []int64
	for ts := firstTS; ts <= lastTS; ts++ {
		if !have[ts] {
			missing = append(missing, ts)
		}
	}
	t.Logf("points %d..%d (%d s, outage of 6 s): %d missing", firstTS, lastTS, lastTS-firstTS+1, len(missing))
	if len(missing) > 0 {
		t.Fatalf("points lost across the outage at %v; log:\n%s", missing, logs.String())
	}
}

// lineTap records every line a Carbon stand-in receives, to check that no
// corrupt line ever reaches it (a real carbon-cache would only log and drop
// such a line).
type lineTap struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
}

func tapOn(t *testing.T, addr string) *lineTap { return gatedTapOn(t, addr, nil) }

// gatedTapOn accepts connections at once but reads nothing until gate is
// closed: a black hole that later recovers.
func gatedTapOn(t *testing.T, addr string, gate chan struct{}) *lineTap {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tap := &lineTap{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if gate != nil {
					<-gate
				}
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					tap.mu.Lock()
					tap.lines = append(tap.lines, sc.Text())
					tap.mu.Unlock()
				}
			}()
		}
	}()
	return tap
}

func (tp *lineTap) snapshot() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]string(nil), tp.lines...)
}

// The agent is SIGKILLed while Carbon is unreachable and it is spooling
// every cycle (a tiny memory queue). After a restart against a live Carbon
// nothing is lost but the last batch, still in memory at the kill, and no
// corrupt line reaches Carbon.
func TestSIGKILLMidSpoolThenRestart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "collector")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v %s", err, out)
	}
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := probe.Addr().String()
	probe.Close()
	spool := t.TempDir()
	args := []string{"--graphite", addr, "--interval", "1s", "--hostname", "kill", "--collectors", "cpu,memory,loadavg,interrupts",
		"--queue-lines", "20", "--spool-dir", spool}
	agent := exec.Command(bin, args...)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	// The first tick counted is the second whole second from now: the
	// process's start-up may cross a second boundary on a loaded machine,
	// and that tick was never due.
	start := time.Now().Unix() + 1
	time.Sleep(6300 * time.Millisecond)
	agent.Process.Signal(syscall.SIGKILL)
	agent.Wait()
	killed := time.Now().Unix()

	tap := tapOn(t, addr)
	again := exec.Command(bin, args...)
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { again.Process.Signal(syscall.SIGTERM); again.Wait() }()
	seen := map[int64]bool{}
	wellFormed := regexp.MustCompile(`^[A-Za-z0-9_:+@=%#~.-]+ -?[0-9]+(\.[0-9]+)? [0-9]+$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		lines := tap.snapshot()
		clear(seen)
		for _, l := range lines {
			if !wellFormed.MatchString(l) {
				t.Fatalf("corrupt line reached Carbon: %q", l)
			}
			if strings.HasPrefix(l, "servers.kill.memory.MemTotal ") {
				ts, _ := strconv.ParseInt(strings.Fields(l)[2], 10, 64)
				seen[ts] = true
			}
		}
		var missing []int64
		for ts := start + 1; ts < killed-1; ts++ { // the kill's own batch may go
			if !seen[ts] {
				missing = append(missing, ts)
			}
		}
		if len(missing) == 0 {
			t.Logf("%d lines replayed, every cycle from %d to %d present", len(lines), start+1, killed-2)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cycles lost across the SIGKILL: %v (have %v)", missing, fmt.Sprint(seen))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A Carbon that accepts and never reads, then recovers: the collection
// cadence is unchanged (every tick's lag under 1 s, no tick missing), the
// queue stays bounded, and afterwards everything arrives.
func TestBlackHoleCarbonKeepsCadence(t *testing.T) {
	gate := make(chan struct{})
	tap := gatedTapOn(t, "127.0.0.1:0", gate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--graphite", tap.ln.Addr().String(), "--interval", "1s", "--hostname", "bh"}, logs, logs)
	}()
	// Ticks are counted from the first whole second after the agent is
	// running (its start-up, Docker API warm-up included, may cross a
	// second boundary on a loaded machine: that tick was never due).
	for up := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "msg=starting"); {
		if time.Now().After(up) {
			t.Fatalf("the agent did not start:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now().Unix() + 1
	time.Sleep(8 * time.Second) // the black hole: nothing is read
	close(gate)
	blackholeEnd := time.Now().Unix()
	deadline := time.Now().Add(40 * time.Second)
	for {
		seen := map[int64]bool{}
		maxLag := 0.0
		for _, l := range tap.snapshot() {
			f := strings.Fields(l)
			if len(f) != 3 {
				continue
			}
			ts, _ := strconv.ParseInt(f[2], 10, 64)
			switch f[0] {
			case "servers.bh.memory.MemTotal":
				seen[ts] = true
			case "servers.bh.agent.tick_lag_seconds":
				v, _ := strconv.ParseFloat(f[1], 64)
				maxLag = max(maxLag, v)
			}
		}
		var missing []int64
		for ts := start + 1; ts <= blackholeEnd+1; ts++ {
			if !seen[ts] {
				missing = append(missing, ts)
			}
		}
		if len(missing) == 0 {
			if maxLag >= 1 {
				t.Fatalf("a tick started %.3f s late while Carbon was a black hole", maxLag)
			}
			t.Logf("%d ticks, all delivered after the black hole; max tick lag %.4f s", blackholeEnd+2-start, maxLag)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ticks missing after the black hole recovered: %v\n%s", missing, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// SIGTERM while a collector is running (its mount table is a FIFO that the
// test opens when the collector is waiting on it): the agent stops without
// reporting anyone failed. A collector that returns within the grace is
// reported as usual; one that does not is left out of the last batch.
func TestSIGTERMMidCycleReportsNoFailure(t *testing.T) {
	bin := agentBinary(t)
	for _, tc := range []struct {
		name    string
		answer  bool // write the mount table 200 ms after the SIGTERM
		success string
	}{{"returns", true, "1"}, {"hangs", false, ""}} {
		t.Run(tc.name, func(t *testing.T) {
			tree := copyTree(t)
			fifo := filepath.Join(tree, "proc", "1", "mountinfo")
			table, _ := os.ReadFile(fifo)
			os.Remove(fifo)
			if err := syscall.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr syncbuf.Buffer
			cmd := exec.Command(bin, "--output", "-", "--interval", "1s", "--hostname", "h", "--counters",
				"--procfs", filepath.Join(tree, "proc"), "--sysfs", filepath.Join(tree, "sys"), "--rootfs", tree,
				"--docker-host", filepath.Join(tree, "no-docker.sock"))
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			// The first open for writing that succeeds is the collector
			// waiting in its first cycle.
			var w *os.File
			for deadline := time.Now().Add(20 * time.Second); w == nil; {
				f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				if err == nil {
					w = f
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the collector never opened its FIFO:\n%s", stderr.String())
				}
				time.Sleep(2 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if tc.answer {
				time.Sleep(200 * time.Millisecond)
				w.Write(table)
				w.Close() // EOF: the collector returns
			}
			err := cmd.Wait()
			w.Close()
			if err != nil {
				t.Fatalf("exit: %v\n%s", err, stderr.String())
			}
			out := stdout.String()
			if regexp.MustCompile(`servers\.h\.agent\.collectors\.\S+\.success 0 `).MatchString(out) {
				t.Errorf("a collector was reported failed at shutdown:\n%s", out)
			}
			got := regexp.MustCompile(`servers\.h\.agent\.collectors\.diskspace\.success (\d)`).FindStringSubmatch(out)
			if tc.success == "" && got != nil || tc.success != "" && (got == nil || got[1] != tc.success) {
				t.Errorf("diskspace success %v, want %q", got, tc.success)
			}
			if !strings.Contains(out, "servers.h.agent.collectors.memory.success 1 ") {
				t.Errorf("the other collectors were not reported:\n%s", out)
			}
		})
	}
}
