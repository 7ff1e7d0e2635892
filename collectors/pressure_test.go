// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

// TestPressureFixture: the kernel's averages as they are, and the stalled
// share of the interval from the growth of total (µs).
func TestPressureFixture(t *testing.T) {
	c := newByName(t, "pressure", fixtureHost("pressure"))
	got, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	// First cycle: averages only.
	if len(got) != 18 || len(grep(got, "stalled")) != 0 {
		t.Errorf("first cycle: %v", got)
	}
	wantSubset(t, got, "pressure.cpu.some.avg10 1.5", "pressure.io.full.avg300 0.75", "pressure.memory.full.avg60 0.02")

	// 10 s later cpu some grew by 2.5 s of stall (25 %), io full by 1 s (10 %).
	h := tempHost(t, map[string]string{
		"proc/pressure/cpu":    "some avg10=1.50 avg60=0.80 avg300=0.20 total=12500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"proc/pressure/memory": "some avg10=0.00 avg60=0.05 avg300=0.01 total=4000\nfull avg10=0.00 avg60=0.02 avg300=0.00 total=1000\n",
		"proc/pressure/io":     "some avg10=12.25 avg60=4.10 avg300=1.00 total=2900000\nfull avg10=10.00 avg60=3.00 avg300=0.75 total=1700000\n",
	})
	c.(*pressure).files = newByName(t, "pressure", h).(*pressure).files
	got, _, err = collectOnce(t, c, 1010, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantSubset(t, got, "pressure.cpu.some.stalled_percentage 25", "pressure.cpu.full.stalled_percentage 0",
		"pressure.io.some.stalled_percentage 20", "pressure.io.full.stalled_percentage 10",
		"pressure.memory.some.stalled_percentage 0")

	// --counters: total in µs.
	got, _, _ = collectOnce(t, newByName(t, "pressure", fixtureHost("pressure")), 1000, true, collect.State{})
	wantSubset(t, got, "pressure.cpu.some.stalled_percentage 10000000", "pressure.io.full.stalled_percentage 700000")
}

// TestPressureMissingAndMalformed: no PSI is no data; an old kernel's cpu
// file without a full line publishes some; garbage is an error naming the file.
func TestPressureMissingAndMalformed(t *testing.T) {
	if _, _, err := collectOnce(t, newByName(t, "pressure", tempHost(t, nil)), 1, false, collect.State{}); err != collect.ErrNoData {
		t.Errorf("no /proc/pressure: err %v, want ErrNoData", err)
	}
	h := tempHost(t, map[string]string{
		"proc/pressure/cpu": "some avg10=0.10 avg60=0.00 avg300=0.00 total=5\n",
		"proc/pressure/io":  "some avg10=x avg60=0.00 avg300=0.00 total=5\n",
	})
	got, _, err := collectOnce(t, newByName(t, "pressure", h), 1, false, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "pressure/io") {
		t.Errorf("malformed io: err %v, want a parse error naming it", err)
	}
	if len(got) != 3 || len(grep(got, "pressure.cpu.some.")) != 3 {
		t.Errorf("cpu without full line: %v", got)
	}
	for _, bad := range []string{"some avg10=1 avg60=1 avg300=1\n", "other avg10=1\n", "some avg10=1 avg60=1 avg300=1 total=-4\n", "some avg10 avg60=1\n"} {
		h := tempHost(t, map[string]string{"proc/pressure/memory": bad})
		if got, _, err := collectOnce(t, newByName(t, "pressure", h), 1, false, collect.State{}); err == nil || len(got) != 0 {
			t.Errorf("%q: %v %v, want an error and nothing", bad, got, err)
		}
	}
}

// TestPressureThisHost reads this machine's /proc/pressure twice.
func TestPressureThisHost(t *testing.T) {
	if _, err := os.Stat("/proc/pressure/cpu"); err != nil {
		t.Fatalf("this kernel has no PSI: %v", err)
	}
	c := newByName(t, "pressure", collect.DefaultHost())
	_, st, err := collectOnce(t, c, time.Now().Unix(), false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, c, time.Now().Unix()+1, false, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"cpu", "memory", "io"} {
		l := grep(got, "pressure."+r+".some.stalled_percentage ")
		if len(l) != 1 {
			t.Fatalf("%s: %v", r, got)
		}
		v, _ := strconv.ParseFloat(strings.Fields(l[0])[1], 64)
		if v < 0 {
			t.Errorf("%s: %v", r, l)
		}
	}
}

func grep(lines []string, sub string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func wantSubset(t *testing.T, got []string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range got {
		have[l] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("missing %q in %v", w, got)
		}
	}
}
