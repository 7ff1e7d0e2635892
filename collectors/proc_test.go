// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"strings"
	"testing"
)

func TestProcRatesAndGauges(t *testing.T) {
	h0 := tempHost(t, map[string]string{"proc/stat": "cpu  1 1 1 1\nctxt 1000\nbtime 1700000000\nprocesses 500\nprocs_running 3\nprocs_blocked 1\n"})
	got, st, err := collect(t, newByName(t, "proc", h0), 1000, false, State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.btime 1700000000", "proc.procs_running 3", "proc.procs_blocked 1")
	h1 := tempHost(t, map[string]string{"proc/stat": "cpu  1 1 1 1\nctxt 7000\nbtime 1700000000\nprocesses 530\nprocs_running 1\nprocs_blocked 0\n"})
	got, _, err = collect(t, newByName(t, "proc", h1), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "proc.ctxt 100", "proc.processes 0.5", "proc.btime 1700000000",
		"proc.procs_running 1", "proc.procs_blocked 0")
	got, _, _ = collect(t, newByName(t, "proc", h1), 1060, true, State{})
	wantLines(t, got, "proc.ctxt 7000", "proc.processes 530", "proc.btime 1700000000",
		"proc.procs_running 1", "proc.procs_blocked 0")
}

func TestProcMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/stat": "ctxt lots\nprocs_running 2\n"})
	got, _, err := collect(t, newByName(t, "proc", h), 1000, true, State{})
	if err == nil || !strings.Contains(err.Error(), "ctxt") {
		t.Fatalf("want an error naming ctxt, got %v", err)
	}
	wantLines(t, got, "proc.procs_running 2")
}

func BenchmarkCollectProc(b *testing.B) { benchCollectSteady(b, "proc", fixtureHost("e2e/t1")) }
func BenchmarkReadProc(b *testing.B)    { benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("stat")) }
