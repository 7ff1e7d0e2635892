// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/collectors"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/events"
)

// BenchmarkSoak24h compresses 24 hours of a 1 s agent (86,400 cycles, a
// fake clock) with container churn (one container stops and a new one
// starts every cycle: 86,400 starts and stops, with tagged series and
// lifecycle events) into one run, over the e2e
// fixture host plus a synthetic cgroup v2 tree, and reports RSS,
// goroutines, open files and heap at the start, the middle and the end:
// they must stay flat. Run it with `make soak` (-benchtime=1x); SOAK_CYCLES
// shortens it.
func BenchmarkSoak24h(b *testing.B) {
	cycles := 86400
	if v, err := strconv.Atoi(os.Getenv("SOAK_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	root := b.TempDir()
	fixture, _ := filepath.Abs(filepath.Join("..", "collectors", "testdata", "e2e", "t1"))
	cg := filepath.Join(root, "sys", "fs", "cgroup")
	must(b, os.MkdirAll(filepath.Join(cg, "system.slice"), 0o755))
	must(b, os.WriteFile(filepath.Join(cg, "cgroup.controllers"), []byte("cpu io memory pids\n"), 0o644))
	const live = 20
	for i := 0; i < live; i++ {
		addContainer(b, cg, i)
	}
	// Host files from the fixture, cgroups from the synthetic tree.
	must(b, os.Symlink(filepath.Join(fixture, "sys", "devices"), filepath.Join(root, "sys", "devices")))
	host := collect.Host{Proc: filepath.Join(fixture, "proc"), Sys: filepath.Join(root, "sys"), Root: filepath.Join(root, "absent")}
	// Tags and lifecycle events on: their per-container state (tagged
	// paths) and the event counts must not grow with churn either.
	disp, err := events.New(events.Options{Host: "soak"})
	if err != nil {
		b.Fatal(err)
	}
	factories := append(collectors.Registry(nil), containers.Factory(func() (containers.Options, error) {
		return containers.Options{Tags: true, Hostname: "soak", Events: disp}, nil
	}))
	a, err := New(Options{Host: host, Factories: factories, Prefix: "servers", Hostname: "soak",
		Interval: time.Second, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Unix(1700000000, 0)
	type snap struct{ rssKB, goroutines, fds, heapKB float64 }
	measure := func() snap {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fds, _ := os.ReadDir("/proc/self/fd")
		return snap{rssKB: rssKB(), goroutines: float64(runtime.NumGoroutine()), fds: float64(len(fds)), heapKB: float64(ms.HeapInuse) / 1024}
	}
	var first, mid snap
	b.ResetTimer()
	for i := 0; i < cycles; i++ {
		t := t0.Add(time.Duration(i) * time.Second)
		a.Cycle(ctx, t, t.Unix(), time.Second, discard{})
		// Churn: the oldest container goes, a new one comes.
		must(b, os.RemoveAll(containerDir(cg, i)))
		addContainer(b, cg, i+live)
		switch i {
		case 1000:
			first = measure()
		case cycles / 2:
			mid = measure()
		}
	}
	b.StopTimer()
	last := measure()
	b.ReportMetric(float64(cycles), "cycles")
	b.ReportMetric(first.rssKB, "rss_kB_start")
	b.ReportMetric(mid.rssKB, "rss_kB_mid")
	b.ReportMetric(last.rssKB, "rss_kB_end")
	b.ReportMetric(first.heapKB, "heap_kB_start")
	b.ReportMetric(last.heapKB, "heap_kB_end")
	b.ReportMetric(last.goroutines-first.goroutines, "goroutines_growth")
	b.ReportMetric(last.fds-first.fds, "fds_growth")
	if cycles > 2000 && (last.goroutines > first.goroutines || last.fds > first.fds || last.heapKB > 2*first.heapKB+1024) {
		b.Fatalf("not flat: after 1000 cycles %+v, at the end %+v", first, last)
	}
}

func containerDir(cg string, i int) string {
	return filepath.Join(cg, "system.slice", fmt.Sprintf("docker-%064x.scope", i+1))
}

func addContainer(b *testing.B, cg string, i int) {
	d := containerDir(cg, i)
	must(b, os.MkdirAll(d, 0o755))
	for name, content := range map[string]string{
		"cpu.stat":       fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n", i*1000, i*600, i*400),
		"memory.current": "10485760\n",
		"memory.stat":    "anon 8388608\nfile 2097152\ninactive_file 1048576\n",
		"memory.max":     "max\n",
		"memory.events":  "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n",
		"io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
		"pids.current":   "3\n",
		"cgroup.procs":   "",
	} {
		must(b, os.WriteFile(filepath.Join(d, name), []byte(content), 0o644))
	}
}

func rssKB() float64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return v
		}
	}
	return 0
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
