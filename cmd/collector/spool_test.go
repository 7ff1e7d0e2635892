// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/carbon"
	"github.com/nodemetrics/nodemetrics/config"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	return probe.Addr().String()
}

// pointTimes are the timestamps with a value in series.
func pointTimes(series []graphitetest.Series) map[int64]bool {
	have := map[int64]bool{}
	for _, s := range series {
		for _, p := range s.Points {
			if p.Value != nil {
				have[p.Time] = true
			}
		}
	}
	return have
}

// collectorLines are the lines of stderr that are not log records: the
// one-line messages a cron mail shows.
func collectorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "collector: ") {
			out = append(out, l)
		}
	}
	return out
}

// --once against a real carbon-cache, up and down, with and without a
// spool: what a cron user can rely on.
func TestOnceSemantics(t *testing.T) {
	g := graphitetest.Start(t)
	spool := t.TempDir()
	now := time.Now().Unix()
	t0, t1, t2 := now-120, now-60, now-30
	once := func(ts int64, extra ...string) (int, string, time.Duration) {
		args := append([]string{"--once", "--graphite", g.CarbonAddr, "--hostname", "cron", "--collectors", "memory",
			"--timestamp", strconv.FormatInt(ts, 10)}, extra...)
		began := time.Now()
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return code, errb.String(), time.Since(began)
	}
	// Carbon up, no spool: exit 0, the sample is in Carbon.
	if code, stderr, _ := once(t0); code != 0 {
		t.Fatalf("Carbon up, no spool: exit %d\n%s", code, stderr)
	}
	g.WaitFor(t, "servers.cron.memory.MemTotal", "-10min", func(s []graphitetest.Series) bool { return pointTimes(s)[t0] }, 30*time.Second)

	g.StopCarbon(t)
	// Carbon down, no spool: a bounded wait, exit 1, one line with the count.
	code, stderr, took := once(t1)
	lost := regexp.MustCompile(`^collector: carbon \S+: ([0-9]+) lines not written, lost`)
	cl := collectorLines(stderr)
	if code != 1 || len(cl) != 1 || !lost.MatchString(cl[0]) {
		t.Fatalf("Carbon down, no spool: exit %d, lines %q, want exit 1 and one line with the count\n%s", code, cl, stderr)
	}
	if took > flushTimeout+5*time.Second {
		t.Fatalf("Carbon down, no spool: took %v", took)
	}
	// Carbon down, with a spool: the sample is on disk, exit 0 without
	// waiting out the flush timeout.
	code, stderr, took = once(t1, "--spool-dir", spool)
	if code != 0 || took > flushTimeout/2 {
		t.Fatalf("Carbon down, spool: exit %d after %v, want 0 at once\n%s", code, took, stderr)
	}
	g.StartCarbon(t)
	// Carbon up, with the spool: this run's sample and the one the last
	// run spooled both arrive, with their own timestamps.
	if code, stderr, _ := once(t2, "--spool-dir", spool); code != 0 {
		t.Fatalf("Carbon up, spool: exit %d\n%s", code, stderr)
	}
	g.WaitFor(t, "servers.cron.memory.MemTotal", "-10min", func(s []graphitetest.Series) bool {
		h := pointTimes(s)
		return h[t0] && h[t1] && h[t2]
	}, 30*time.Second)
	sp, err := carbon.OpenSpool(filepath.Join(spool, url.PathEscape(g.CarbonAddr)), 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if n := sp.Lines(); n != 0 {
		t.Fatalf("%d lines still in the spool after a delivered run: the next run would send them again", n)
	}
}

// The agent is SIGKILLed at random moments while Carbon (a real
// carbon-cache) is down, three times. After Carbon is back every cycle
// each run collected is in Carbon with its timestamp, except the one being
// collected at each kill.
func TestCrashDuringOutageRepeated(t *testing.T) {
	bin := agentBinary(t)
	g := graphitetest.Start(t)
	spool := t.TempDir()
	logs := &syncbuf.Buffer{}
	args := []string{"--graphite", g.CarbonAddr, "--interval", "1s", "--hostname", "crash",
		"--collectors", "memory,loadavg", "--spool-dir", spool}
	type life struct{ from, to int64 } // ticks every run must have delivered
	var lives []life
	starts := 0
	start := func() (*exec.Cmd, int64) {
		cmd := exec.Command(bin, args...)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Ticks are counted from the first whole second after the agent
		// says it is running (its start-up on a loaded machine may take
		// longer than a tick: those ticks were never due).
		starts++
		for up := time.Now().Add(30 * time.Second); strings.Count(logs.String(), "msg=starting") < starts; {
			if time.Now().After(up) {
				t.Fatalf("the agent did not start:\n%s", logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		return cmd, time.Now().Unix() + 1
	}
	agent, from := start()
	defer func() {
		if agent.ProcessState == nil {
			agent.Process.Kill()
			agent.Wait()
		}
	}()
	const target = "servers.crash.memory.MemTotal"
	g.WaitFor(t, target, "-5min", func(s []graphitetest.Series) bool { return len(pointTimes(s)) > 0 }, 30*time.Second)
	g.StopCarbon(t)
	for i := 0; i < 3; i++ {
		time.Sleep(3*time.Second + rand.N(2*time.Second))
		killed := time.Now().Unix() // the tick of this second may be the one being collected
		agent.Process.Signal(syscall.SIGKILL)
		agent.Wait()
		lives = append(lives, life{from, killed - 1})
		agent, from = start()
	}
	time.Sleep(1500 * time.Millisecond)
	g.StartCarbon(t)
	back := time.Now().Unix()
	lives = append(lives, life{from, back + 2})
	var missing []int64
	g.WaitFor(t, target, "-5min", func(s []graphitetest.Series) bool {
		have := pointTimes(s)
		missing = missing[:0]
		for _, l := range lives {
			for ts := l.from; ts <= l.to; ts++ {
				if !have[ts] {
					missing = append(missing, ts)
				}
			}
		}
		return len(missing) == 0
	}, 60*time.Second)
	agent.Process.Signal(syscall.SIGTERM)
	if err := agent.Wait(); err != nil {
		t.Fatalf("agent after SIGTERM: %v\n%s", err, logs.String())
	}
	n := 0
	for _, l := range lives[1:3] {
		n += int(l.to - l.from + 1)
	}
	if n < 3 {
		t.Fatalf("only %d ticks checked in the runs started during the outage: %v", n, lives)
	}
	t.Logf("3 kills at random moments during the outage; every tick of %v present", lives)
}

// A graceful restart after the spool was delivered sends nothing again:
// the orderly close had Carbon confirm it read everything.
func TestRestartAfterDrainedSpoolSendsNothingAgain(t *testing.T) {
	tap := tapOn(t, "127.0.0.1:0")
	spool := t.TempDir()
	runFor := func(d time.Duration) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		logs := &syncbuf.Buffer{}
		if code := run(ctx, []string{"--graphite", tap.ln.Addr().String(), "--interval", "1s", "--hostname", "rs",
			"--collectors", "memory,loadavg", "--spool-dir", spool}, logs, logs); code != 0 {
			t.Fatalf("exit %d\n%s", code, logs.String())
		}
	}
	runFor(3500 * time.Millisecond)
	first := len(tap.snapshot())
	runFor(2500 * time.Millisecond)
	seen := map[string]int{}
	dups := 0
	for _, l := range tap.snapshot() {
		seen[l]++
		if seen[l] == 2 {
			dups++
		}
	}
	if first == 0 || dups != 0 {
		t.Fatalf("first run delivered %d lines; %d lines were sent again after the restart", first, dups)
	}
}

// The watchdog's exit flushes first: with Carbon up the queue reaches it,
// with Carbon down it stays in the spool for the next run; then exit 3.
func TestWatchdogFlushesBeforeExit(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil))
	batch := func(i int) []byte { return []byte(fmt.Sprintf("wd.m %d 100\nwd.n %d 100\n", i, i)) }
	for _, up := range []bool{true, false} {
		cfg := config.Defaults()
		cfg.SpoolDir = t.TempDir()
		var tap *lineTap
		if up {
			tap = tapOn(t, "127.0.0.1:0")
			cfg.Graphite = tap.ln.Addr().String()
		} else {
			cfg.Graphite = deadAddr(t)
		}
		st, err := openSenders(&cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		st.start()
		for i := 0; i < 50; i++ {
			st.senders.Enqueue(batch(i), 2)
		}
		code := -1
		stallExit(st, log, func(c int) { code = c })(time.Minute)
		if code != 3 {
			t.Fatalf("exit %d, want 3", code)
		}
		sp, err := carbon.OpenSpool(filepath.Join(cfg.SpoolDir, url.PathEscape(cfg.Graphite)), 1<<20, log)
		if err != nil {
			t.Fatal(err)
		}
		left := sp.Lines()
		sp.Close()
		if up {
			if got := len(tap.snapshot()); got != 100 || left != 0 {
				t.Fatalf("Carbon up: %d of 100 lines delivered before the exit, %d left in the spool", got, left)
			}
		} else if left != 100 {
			t.Fatalf("Carbon down: %d of 100 lines in the spool after the exit", left)
		}
	}
}

// Spool misconfigurations are one line and exit 2 at start, even with
// --once; the default spool is used when its directory exists, and "off"
// turns it off.
func TestSpoolStartupChecks(t *testing.T) {
	dead := deadAddr(t)
	// The same destination twice.
	code, _, stderr := runArgs(t, "--once", "--graphite", dead+","+strings.ToUpper(dead), "--spool-dir", t.TempDir())
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "twice") {
		t.Errorf("duplicate destination: exit %d, stderr %q", code, stderr)
	}
	// A read-only spool whose per-destination directory exists.
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (the tests run as root): %v %s", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
	os.MkdirAll(filepath.Join(mnt, "spool", url.PathEscape(dead)), 0o700)
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	code, _, stderr = runArgs(t, "--once", "--graphite", dead, "--collectors", "memory", "--spool-dir", filepath.Join(mnt, "spool"))
	if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "read-only") {
		t.Errorf("read-only spool: exit %d, stderr %q", code, stderr)
	}
	// The default spool, when its directory exists: --once with Carbon
	// down keeps the sample there and exits 0.
	state := t.TempDir()
	defer func(old string) { defaultStateDir = old }(defaultStateDir)
	defaultStateDir = state
	code, _, stderr = runArgs(t, "--once", "--graphite", dead, "--collectors", "memory")
	if code != 0 {
		t.Fatalf("default spool, Carbon down: exit %d\n%s", code, stderr)
	}
	sp, err := carbon.OpenSpool(filepath.Join(state, "spool", url.PathEscape(dead)), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := sp.Lines()
	sp.Close()
	if n == 0 {
		t.Fatalf("default spool holds nothing after --once with Carbon down\n%s", stderr)
	}
	// --spool-dir off: no spool even where the default exists.
	tap := tapOn(t, "127.0.0.1:0")
	code, _, stderr = runArgs(t, "--once", "--graphite", tap.ln.Addr().String(), "--collectors", "memory", "--spool-dir", "off")
	if _, err := os.Stat(filepath.Join(state, "spool", url.PathEscape(tap.ln.Addr().String()))); code != 0 || !os.IsNotExist(err) {
		t.Fatalf("--spool-dir off: exit %d, spool directory: %v\n%s", code, err, stderr)
	}
}

// The agent spooling on a full disk (a 40 KiB tmpfs) while Carbon is
// down: the oldest cycles go, counted and logged, and once Carbon is back
// what arrives is the newest cycles without a gap.
func TestFullSpoolDiskDropsOldest(t *testing.T) {
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (the tests run as root): %v %s", err, out)
	}
	defer exec.Command("umount", "-l", mnt).Run()
	addr := deadAddr(t)
	args := []string{"--graphite", addr, "--interval", "1s", "--hostname", "full",
		"--collectors", "cpu,memory,loadavg,interrupts,vmstat", "--spool-dir", mnt}
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if code := run(ctx, args, logs, logs); code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "disk full: oldest spool segment dropped") {
		t.Fatalf("8 s of cycles on a 40 KiB disk dropped nothing:\n%s", logs.String())
	}
	tap := tapOn(t, addr)
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if code := run(ctx, args, logs, logs); code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	var ticks []int64
	dropped := 0.0
	for _, l := range tap.snapshot() {
		f := strings.Fields(l)
		switch {
		case len(f) != 3:
		case f[0] == "servers.full.memory.MemTotal":
			ts, _ := strconv.ParseInt(f[2], 10, 64)
			ticks = append(ticks, ts)
		case f[0] == "servers.full.agent.carbon.dropped":
			v, _ := strconv.ParseFloat(f[1], 64)
			dropped = max(dropped, v)
		}
	}
	if len(ticks) < 3 {
		t.Fatalf("%d cycles arrived", len(ticks))
	}
	for i := 1; i < len(ticks); i++ {
		if ticks[i] != ticks[i-1]+1 {
			t.Fatalf("cycles arrived with a gap or out of order (the oldest must go first): %v", ticks)
		}
	}
	if dropped == 0 {
		t.Fatal("agent.carbon.dropped did not count the lines the full disk cost")
	}
	t.Logf("cycles %d..%d arrived without a gap; agent.carbon.dropped %v", ticks[0], ticks[len(ticks)-1], dropped)
}
