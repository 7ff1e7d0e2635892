// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

// statFile generates a /proc/stat of n CPUs where every CPU has spent base
// ticks in user and system and 10*base in idle.
func statFile(cpus int, base uint64) string {
	var b strings.Builder
	n := uint64(cpus)
	fmt.Fprintf(&b, "cpu  %d 0 %d %d 0 0 0 0 0 0\n", base*n, base*n, base*n*10)
	for i := 0; i < cpus; i++ {
		fmt.Fprintf(&b, "cpu%d %d 0 %d %d 0 0 0 0 0 0\n", i, base, base, base*10)
	}
	b.WriteString("intr 1 2 3\nctxt 100\nbtime 1700000000\nprocesses 50\nprocs_running 2\nprocs_blocked 1\n")
	return b.String()
}

// Two generated snapshots 60 s apart: every CPU's user and system rose by
// 60 ticks and idle by 600, so the per-CPU rates are 1 and 10 ticks/s and
// the totals N and 10N (not normalised).
func TestCPURates(t *testing.T) {
	for _, cpus := range []int{1, 96} {
		c := newByName(t, "cpu", tempHost(t, map[string]string{"proc/stat": statFile(cpus, 1000)}))
		first, st, err := collectOnce(t, c, 1000, false, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		// No rate before a previous sample exists.
		wantLines(t, first, fmt.Sprintf("cpu.cpu_count %d", cpus))
		c2 := newByName(t, "cpu", tempHost(t, map[string]string{"proc/stat": statFile(cpus, 1060)}))
		got, _, err := collectOnce(t, c2, 1060, false, st)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{fmt.Sprintf("cpu.cpu_count %d", cpus)}
		for i := -1; i < cpus; i++ {
			node, k := "total", cpus
			if i >= 0 {
				node, k = fmt.Sprintf("cpu%d", i), 1
			}
			for _, m := range cpuModes {
				v := 0
				switch m {
				case "user", "system":
					v = k
				case "idle":
					v = 10 * k
				}
				want = append(want, fmt.Sprintf("cpu.%s.%s %d", node, m, v))
			}
		}
		wantLines(t, got, want...)
	}
}

// The real files of this machine, captured 5 s apart.
func TestCPURealFixtures(t *testing.T) {
	c := newByName(t, "cpu", fixtureHost("e2e/t0"))
	_, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, newByName(t, "cpu", fixtureHost("e2e/t1")), 1005, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "cpu.cpu_count 2",
		"cpu.total.user 0.6", "cpu.total.nice 0", "cpu.total.system 1.6", "cpu.total.idle 118.8",
		"cpu.total.iowait 0", "cpu.total.irq 0", "cpu.total.softirq 0.8", "cpu.total.steal 0",
		"cpu.total.guest 0", "cpu.total.guest_nice 0",
		"cpu.cpu0.user 0.6", "cpu.cpu0.nice 0", "cpu.cpu0.system 1", "cpu.cpu0.idle 59",
		"cpu.cpu0.iowait 0", "cpu.cpu0.irq 0", "cpu.cpu0.softirq 0.2", "cpu.cpu0.steal 0",
		"cpu.cpu0.guest 0", "cpu.cpu0.guest_nice 0",
		"cpu.cpu1.user 0", "cpu.cpu1.nice 0", "cpu.cpu1.system 0.6", "cpu.cpu1.idle 59.8",
		"cpu.cpu1.iowait 0", "cpu.cpu1.irq 0", "cpu.cpu1.softirq 0.4", "cpu.cpu1.steal 0",
		"cpu.cpu1.guest 0", "cpu.cpu1.guest_nice 0")
}

func TestCPURawFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"cpu/onecpu", []string{"cpu.cpu_count 1",
			"cpu.total.user 4705", "cpu.total.nice 356", "cpu.total.system 584", "cpu.total.idle 3699",
			"cpu.total.iowait 23", "cpu.total.irq 23", "cpu.total.softirq 0", "cpu.total.steal 0",
			"cpu.total.guest 0", "cpu.total.guest_nice 0",
			"cpu.cpu0.user 4705", "cpu.cpu0.nice 356", "cpu.cpu0.system 584", "cpu.cpu0.idle 3699",
			"cpu.cpu0.iowait 23", "cpu.cpu0.irq 23", "cpu.cpu0.softirq 0", "cpu.cpu0.steal 0",
			"cpu.cpu0.guest 0", "cpu.cpu0.guest_nice 0"}},
		// 8 columns: no guest, guest_nice.
		{"cpu/kernel-2.6.11", []string{"cpu.cpu_count 1",
			"cpu.total.user 10", "cpu.total.nice 20", "cpu.total.system 30", "cpu.total.idle 40",
			"cpu.total.iowait 50", "cpu.total.irq 60", "cpu.total.softirq 70", "cpu.total.steal 80",
			"cpu.cpu0.user 10", "cpu.cpu0.nice 20", "cpu.cpu0.system 30", "cpu.cpu0.idle 40",
			"cpu.cpu0.iowait 50", "cpu.cpu0.irq 60", "cpu.cpu0.softirq 70", "cpu.cpu0.steal 80"}},
		// 4 columns.
		{"cpu/kernel-2.4", []string{"cpu.cpu_count 2",
			"cpu.total.user 100", "cpu.total.nice 0", "cpu.total.system 50", "cpu.total.idle 900",
			"cpu.cpu0.user 50", "cpu.cpu0.nice 0", "cpu.cpu0.system 25", "cpu.cpu0.idle 450",
			"cpu.cpu1.user 50", "cpu.cpu1.nice 0", "cpu.cpu1.system 25", "cpu.cpu1.idle 450"}},
	} {
		got, _, err := collectOnce(t, newByName(t, "cpu", fixtureHost(tc.dir)), 1000, true, collect.State{})
		if err != nil {
			t.Errorf("%s: %v", tc.dir, err)
		}
		wantLines(t, got, tc.want...)
	}
}

// A counter that went down (CPU hot-unplug and replug) publishes nothing
// for that mode; the others still get rates.
func TestCPUReset(t *testing.T) {
	_, st, err := collectOnce(t, newByName(t, "cpu", fixtureHost("cpu/kernel-2.6.11")), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	h := tempHost(t, map[string]string{"proc/stat": "cpu  70 20 30 40\ncpu0 5 20 30 100\n"})
	got, _, err := collectOnce(t, newByName(t, "cpu", h), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "cpu.cpu_count 1", "cpu.total.user 1", "cpu.total.nice 0", "cpu.total.system 0",
		"cpu.total.idle 0", "cpu.cpu0.nice 0", "cpu.cpu0.system 0", "cpu.cpu0.idle 1")
}

// Bad lines are reported (the first one, by number) and skipped; the good
// ones are published, and a cpuN line that is bad still counts as a CPU.
func TestCPUMalformed(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "cpu", fixtureHost("cpu/malformed")), 1000, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "stat") {
		t.Errorf("want an error naming the file and line 3, got %v", err)
	}
	var want []string
	for _, node := range []string{"total", "cpu0", "cpu3"} {
		vals := map[string][]int{"total": {2, 4, 6, 8}, "cpu0": {1, 2, 3, 4}, "cpu3": {0, 1, 2, 3}}[node]
		for m, mode := range cpuModes {
			v := 0
			if m < 4 {
				v = vals[m]
			}
			want = append(want, fmt.Sprintf("cpu.%s.%s %d", node, mode, v))
		}
	}
	wantLines(t, got, append(want, "cpu.cpu_count 4")...)

	got, _, err = collectOnce(t, newByName(t, "cpu", tempHost(t, map[string]string{"proc/stat": "intr 1\nctxt 2\n"})), 1000, true, collect.State{})
	if err == nil || len(got) != 0 {
		t.Errorf("no cpu lines: got %v, %v; want nothing and an error", got, err)
	}
}

func TestCPUMissing(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "cpu", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// Whole files through Collect: never a panic, and only cpu.* paths.
func FuzzCPUCollect(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "e2e", "t0", "proc", "stat"))
	f.Add(b)
	f.Add([]byte("cpu  1 2 3 4\ncpu7 1 2 3\ncpu99999999 1 2 3 4\n"))
	dir := f.TempDir()
	h := collect.Host{Proc: dir, Sys: dir, Root: dir}
	c := newByName(f, "cpu", h)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "stat"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, _, _ := collectOnce(t, c, 1000, true, collect.State{})
		for _, l := range got {
			if !strings.HasPrefix(l, "cpu.") {
				t.Fatalf("bad line %q", l)
			}
		}
	})
}

func BenchmarkCollectCPU(b *testing.B) { benchCollectSteady(b, "cpu", fixtureHost("e2e/t1")) }
func BenchmarkReadCPU(b *testing.B)    { benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("stat")) }

// 96 CPUs: the per-CPU path cache keeps a steady cycle free of allocations.
func BenchmarkCollectCPU96(b *testing.B) {
	benchCollectSteady(b, "cpu", tempHost(b, map[string]string{"proc/stat": statFile(96, 1000)}))
}
func BenchmarkReadCPU96(b *testing.B) {
	benchReadSteady(b, tempHost(b, map[string]string{"proc/stat": statFile(96, 1000)}).ProcPath("stat"))
}

// A repeated or out-of-order cpuN line is an error and publishes nothing
// more: no path twice in one cycle (a hostile /proc/stat of repeated cpu0
// lines published millions).
func TestCPURepeatedLines(t *testing.T) {
	stat := "cpu 2 0 0 0\ncpu0 1 0 0 0\ncpu1 1 0 0 0\ncpu0 9 0 0 0\ncpu1 9 0 0 0\ncpu 9 0 0 0\n"
	got, _, err := collectOnce(t, newByName(t, "cpu", tempHost(t, map[string]string{"proc/stat": stat})), 1000, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("want an error naming line 4, got %v", err)
	}
	if n := len(got); n != 3*4+1 { // three lines of four counters, cpu_count
		t.Errorf("%d metrics, want %d:\n%s", n, 3*4+1, strings.Join(got, "\n"))
	}
	for _, l := range got {
		if strings.Contains(l, " 9") {
			t.Errorf("a repeated line published %q", l)
		}
	}
}
