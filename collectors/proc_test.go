// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestProcRatesAndGauges(t *testing.T) {
	h0 := tempHost(t, map[string]string{"proc/stat": "cpu  1 1 1 1\nctxt 1000\nbtime 1700000000\nprocesses 500\nprocs_running 3\nprocs_blocked 1\n"})
	got, st, err := collectOnce(t, newByName(t, "proc", h0), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.btime 1700000000", "proc.procs_running 3", "proc.procs_blocked 1")
	h1 := tempHost(t, map[string]string{"proc/stat": "cpu  1 1 1 1\nctxt 7000\nbtime 1700000000\nprocesses 530\nprocs_running 1\nprocs_blocked 0\n"})
	got, st2, err := collectOnce(t, newByName(t, "proc", h1), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.ctxt 100", "proc.processes 0.5", "proc.btime 1700000000",
		"proc.procs_running 1", "proc.procs_blocked 0")
	// Reboot: counters went down, no rates for that cycle.
	got, _, err = collectOnce(t, newByName(t, "proc", h0), 1120, false, st2)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.btime 1700000000", "proc.procs_running 3", "proc.procs_blocked 1")
	// Raw mode: one sample is enough.
	got, _, _ = collectOnce(t, newByName(t, "proc", h1), 1060, true, collect.State{})
	wantLines(t, got, "proc.ctxt 7000", "proc.processes 530", "proc.btime 1700000000",
		"proc.procs_running 1", "proc.procs_blocked 0")
}

func TestProcRealFixtures(t *testing.T) {
	_, st, err := collectOnce(t, newByName(t, "proc", fixtureHost("e2e/t0")), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, newByName(t, "proc", fixtureHost("e2e/t1")), 1005, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.ctxt 185.2", "proc.processes 2.2", "proc.btime 1795414025",
		"proc.procs_running 1", "proc.procs_blocked 0")
}

func TestProcMalformedAndMissing(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "proc", fixtureHost("proc/malformed")), 1000, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "ctxt") {
		t.Errorf("want an error naming line 2 and ctxt, got %v", err)
	}
	wantLines(t, got, "proc.btime 1700000000", "proc.processes 12", "proc.procs_blocked 3")

	got, _, err = collectOnce(t, newByName(t, "proc", tempHost(t, map[string]string{"proc/stat": "cpu  1 2 3 4\n"})), 1000, true, collect.State{})
	if err == nil || len(got) != 0 {
		t.Errorf("no proc lines: got %v, %v; want nothing and an error", got, err)
	}
	_, _, err = collectOnce(t, newByName(t, "proc", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func BenchmarkCollectProc(b *testing.B) { benchCollectSteady(b, "proc", fixtureHost("e2e/t1")) }
func BenchmarkReadProc(b *testing.B)    { benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("stat")) }

// Built with one Deps, as the agent builds them, cpu and proc share one
// read of /proc/stat per cycle: in the same cycle proc sees the file as
// cpu read it, in the next the file as it is then.
func TestCPUAndProcShareOneRead(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/stat": "cpu  1 1 1 1\ncpu0 1 1 1 1\nctxt 100\n"})
	d := collect.NewDeps(h)
	cpu, _ := newCPU(d)
	proc, _ := newProc(d)
	if _, _, err := collectOnce(t, cpu, 1000, true, collect.State{}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.ProcPath("stat"), "cpu  2 2 2 2\ncpu0 2 2 2 2\nctxt 200\n")
	got, _, err := collectOnce(t, proc, 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.ctxt 100")
	got, _, _ = collectOnce(t, proc, 1060, true, collect.State{})
	wantLines(t, got, "proc.ctxt 200")
}
