// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

func TestParseCPULine(t *testing.T) {
	for _, tc := range []struct {
		in      string
		n       int
		wantErr bool
	}{
		{in: " 3476 0 2862 749741 257 0 243 0 0 0", n: 10},
		{in: " 1 2 3 4 5 6 7 8", n: 8}, // 2.6.11-2.6.23: no guest
		{in: " 1 2 3 4", n: 4},         // 2.4
		{in: " 1 2 3 4 5 6 7 8 9 10 11", n: 10},
		{in: " 1 2 3", wantErr: true},
		{in: " 1 x 3 4", wantErr: true},
		{in: "", wantErr: true},
	} {
		var v [len(cpuModes)]uint64
		n, err := parseCPULine([]byte(tc.in), &v)
		if (err != nil) != tc.wantErr || (!tc.wantErr && n != tc.n) {
			t.Errorf("parseCPULine(%q) = %d, %v; want %d, error %v", tc.in, n, err, tc.n, tc.wantErr)
		}
	}
}

func statFile(cpus int, base uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  %d %d %d %d 0 0 0 0 0 0\n", base*uint64(cpus), 0, base*uint64(cpus), base*uint64(cpus)*10)
	for i := 0; i < cpus; i++ {
		fmt.Fprintf(&b, "cpu%d %d 0 %d %d 0 0 0 0 0 0\n", i, base, base, base*10)
	}
	b.WriteString("intr 1 2 3\nctxt 100\nbtime 1700000000\nprocesses 50\nprocs_running 2\nprocs_blocked 1\n")
	return b.String()
}

// Two snapshots 60 s apart: every counter rose by 60 ticks per CPU, so
// every rate is 1 tick/s per CPU (total: N).
func TestCPURates(t *testing.T) {
	for _, cpus := range []int{1, 96} {
		c := newByName(t, "cpu", tempHost(t, map[string]string{"proc/stat": statFile(cpus, 1000)}))
		first, st, err := collect(t, c, 1000, false, State{})
		if err != nil {
			t.Fatal(err)
		}
		wantLines(t, first, fmt.Sprintf("cpu.cpu_count %d", cpus))
		c2 := newByName(t, "cpu", tempHost(t, map[string]string{"proc/stat": statFile(cpus, 1060)}))
		got, _, err := collect(t, c2, 1060, false, st)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1+(cpus+1)*10 {
			t.Fatalf("%d CPUs: %d lines, want %d", cpus, len(got), 1+(cpus+1)*10)
		}
		joined := strings.Join(got, "\n")
		for _, want := range []string{
			fmt.Sprintf("cpu.total.user %d", cpus), fmt.Sprintf("cpu.total.idle %d", cpus*10), "cpu.total.nice 0",
			fmt.Sprintf("cpu.cpu%d.idle 10", cpus-1), "cpu.cpu0.system 1",
		} {
			if !strings.Contains(joined+"\n", want+"\n") {
				t.Errorf("%d CPUs: missing %q in\n%s", cpus, want, joined)
			}
		}
	}
}

func TestCPURawOldKernelAndReset(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/stat": "cpu  10 20 30 40 50 60 70 80\ncpu0 10 20 30 40 50 60 70 80\n"})
	got, st, err := collect(t, newByName(t, "cpu", h), 1000, true, State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "cpu.cpu_count 1",
		"cpu.total.user 10", "cpu.total.nice 20", "cpu.total.system 30", "cpu.total.idle 40",
		"cpu.total.iowait 50", "cpu.total.irq 60", "cpu.total.softirq 70", "cpu.total.steal 80",
		"cpu.cpu0.user 10", "cpu.cpu0.nice 20", "cpu.cpu0.system 30", "cpu.cpu0.idle 40",
		"cpu.cpu0.iowait 50", "cpu.cpu0.irq 60", "cpu.cpu0.softirq 70", "cpu.cpu0.steal 80")
	// A counter that went down (CPU hot-unplug and replug) publishes nothing
	// for that mode; the others still get rates.
	h2 := tempHost(t, map[string]string{"proc/stat": "cpu  70 20 30 40\ncpu0 5 20 30 100\n"})
	got, _, _ = collect(t, newByName(t, "cpu", h2), 1060, false, st)
	wantLines(t, got, "cpu.cpu_count 1", "cpu.total.user 1", "cpu.total.nice 0", "cpu.total.system 0",
		"cpu.total.idle 0", "cpu.cpu0.nice 0", "cpu.cpu0.system 0", "cpu.cpu0.idle 1")
}

func TestCPUMalformedAndMissing(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/stat": "cpu  1 2 3 4\ncpu0 1 2 x 4\ncpu1 1 2 3 4\n"})
	got, _, err := collect(t, newByName(t, "cpu", h), 1000, true, State{})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("want an error naming line 2, got %v", err)
	}
	if !strings.Contains(strings.Join(got, "\n"), "cpu.cpu1.user 1") {
		t.Errorf("good lines not published: %v", got)
	}
	_, _, err = collect(t, newByName(t, "cpu", tempHost(t, nil)), 1000, false, State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCPURealFixture(t *testing.T) {
	got, _, err := collect(t, newByName(t, "cpu", fixtureHost("e2e/t1")), 1000, true, State{})
	if err != nil || len(got) < 11 {
		t.Fatalf("got %d lines, err %v", len(got), err)
	}
}

func FuzzParseCPULine(f *testing.F) {
	f.Add([]byte(" 3476 0 2862 749741 257 0 243 0 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v [len(cpuModes)]uint64
		n, err := parseCPULine(b, &v)
		if err == nil && (n < 4 || n > len(cpuModes)) {
			t.Fatalf("n = %d", n)
		}
	})
}

func BenchmarkCollectCPU(b *testing.B) { benchCollectSteady(b, "cpu", fixtureHost("e2e/t1")) }
func BenchmarkReadCPU(b *testing.B)    { benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("stat")) }
