// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseCPULine(t *testing.T) {
	for _, tc := range []struct {
		in      string
		n       int
		wantErr bool
	}{
		{in: " 3476 0 2862 749741 257 0 243 0 0 0", n: 10},
		{in: "  1 2 3 4 5 6 7 8 9", n: 9},       // 2.6.24-2.6.32: guest, no guest_nice
		{in: " 1 2 3 4 5 6 7 8", n: 8},          // 2.6.11-2.6.23: steal, no guest
		{in: " 1 2 3 4", n: 4},                  // 2.4
		{in: "\t1\t2\t3\t4\t", n: 4},            // tabs and trailing blank
		{in: " 1 2 3 4 5 6 7 8 9 10 11", n: 10}, // a future column is ignored
		{in: " 1 2 3", wantErr: true},
		{in: " 1 x 3 4", wantErr: true},
		{in: " 1 2 3 -4", wantErr: true},
		{in: " 1 2 3 99999999999999999999999", wantErr: true},
		{in: "", wantErr: true},
	} {
		var v [CPUColumns]uint64
		n, err := parseCPULine([]byte(tc.in), &v)
		if (err != nil) != tc.wantErr || (!tc.wantErr && n != tc.n) {
			t.Errorf("parseCPULine(%q) = %d, %v; want %d, error %v", tc.in, n, err, tc.n, tc.wantErr)
		}
	}
}

func TestCPULabel(t *testing.T) {
	for _, tc := range []struct {
		in      string
		n       int
		ok, bad bool
	}{
		{"cpu", -1, true, false},
		{"cpu0", 0, true, false},
		{"cpu95", 95, true, false},
		{"cpuX", 0, true, true},
		{"cpu99999", 0, true, true},
		{"ctxt", 0, false, false},
		{"intr", 0, false, false},
		{"", 0, false, false},
	} {
		n, ok, bad := cpuLabel([]byte(tc.in))
		if n != tc.n || ok != tc.ok || bad != tc.bad {
			t.Errorf("cpuLabel(%q) = %d, %v, %v; want %d, %v, %v", tc.in, n, ok, bad, tc.n, tc.ok, tc.bad)
		}
	}
}

// The scheduler lines: the first of a repeated key wins, a bad value is an
// error naming its line and the other keys are still parsed.
func TestParseStatKeys(t *testing.T) {
	for _, tc := range []struct {
		in      string
		keys    [5]uint64
		seen    [5]bool
		wantErr string
	}{
		{
			in:   "cpu  1 2 3 4\nintr 5 6\nctxt 420045\nbtime 1795414000\nprocesses 2492\nprocs_running 1\nprocs_blocked 0\nsoftirq 1 2\n",
			keys: [5]uint64{420045, 2492, 1, 0, 1795414000}, seen: [5]bool{true, true, true, true, true},
		},
		// 2.4: no procs_running / procs_blocked.
		{in: "cpu  1 2 3 4\nctxt 7\nbtime 9\nprocesses 8", keys: [5]uint64{7, 8, 0, 0, 9}, seen: [5]bool{true, true, false, false, true}},
		{in: "ctxt 1\nctxt 2\n", keys: [5]uint64{1}, seen: [5]bool{true}},
		{in: ""},
		{in: "ctxt x\nprocesses 3\n", keys: [5]uint64{0, 3}, seen: [5]bool{false, true}, wantErr: "line 1: bad ctxt value"},
		{in: "procs_running\n", wantErr: "line 1"},
		{in: "cpu 1 2 3 4\nbtime -1\n", wantErr: "line 2"},
	} {
		var st Stat
		ParseStat([]byte(tc.in), &st)
		if st.Keys != tc.keys || st.Seen != tc.seen || (st.KeysErr != nil) != (tc.wantErr != "") ||
			st.KeysErr != nil && !strings.Contains(st.KeysErr.Error(), tc.wantErr) {
			t.Errorf("ParseStat(%q) = %v %v %v; want %v %v error %q", tc.in, st.Keys, st.Seen, st.KeysErr, tc.keys, tc.seen, tc.wantErr)
		}
		if st.CPUErr != nil && tc.wantErr != "" {
			t.Errorf("ParseStat(%q): a key error is not a cpu error: %v", tc.in, st.CPUErr)
		}
	}
}

// cpuLines renders the parsed cpu lines as "N:cols:ticks".
func cpuLines(st *Stat) string {
	var b strings.Builder
	for _, c := range st.CPUs {
		fmt.Fprintf(&b, "%d:%d:%v ", c.N, c.Cols, c.Ticks[:c.Cols])
	}
	return strings.TrimSpace(b.String())
}

// This machine's /proc/stat, and a broken one: bad lines are reported (the
// first, by number) and skipped, and a cpuN line with bad counters still
// names a CPU.
func TestParseStatFixtures(t *testing.T) {
	for _, tc := range []struct {
		file, cpus, cpuErr string
		online             int
	}{
		{file: "stat", online: 2, cpus: "-1:10:[79188 0 51159 1609314 1502 0 1812 0 0 0] " +
			"0:10:[38524 0 24408 807480 114 0 765 0 0 0] 1:10:[40664 0 26751 801833 1388 0 1046 0 0 0]"},
		{file: "stat-malformed", online: 4, cpuErr: `line 3: bad counter "x"`,
			cpus: "-1:10:[2 4 6 8 0 0 0 0 0 0] 0:10:[1 2 3 4 0 0 0 0 0 0] 1:0:[] 2:0:[] 3:10:[0 1 2 3 0 0 0 0 0 0]"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		var st Stat
		ParseStat(b, &st)
		if got := cpuLines(&st); got != tc.cpus {
			t.Errorf("%s: cpus\n%s\nwant\n%s", tc.file, got, tc.cpus)
		}
		if errText(st.CPUErr) != tc.cpuErr {
			t.Errorf("%s: cpu error %v, want %q", tc.file, st.CPUErr, tc.cpuErr)
		}
		if n := st.OnlineCPUs(); n != tc.online {
			t.Errorf("%s: %d online CPUs, want %d", tc.file, n, tc.online)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A repeated or out-of-order cpu line is an error and left out: a hostile
// file of repeated cpu0 lines must not make millions of entries.
func TestParseStatRepeatedLines(t *testing.T) {
	var st Stat
	ParseStat([]byte("cpu 2 0 0 0\ncpu0 1 0 0 0\ncpu1 1 0 0 0\ncpu0 9 0 0 0\ncpu1 9 0 0 0\ncpu 9 0 0 0\n"), &st)
	if got := cpuLines(&st); got != "-1:4:[2 0 0 0] 0:4:[1 0 0 0] 1:4:[1 0 0 0]" {
		t.Errorf("cpus %s", got)
	}
	if st.CPUErr == nil || !strings.Contains(st.CPUErr.Error(), "line 4") {
		t.Errorf("want an error naming line 4, got %v", st.CPUErr)
	}
	if tot, ok := st.Total(); !ok || tot.Ticks[0] != 2 {
		t.Errorf("total %v %v", tot, ok)
	}
	ParseStat([]byte("cpu0 1 2 3 4\n"), &st)
	if _, ok := st.Total(); ok || st.OnlineCPUs() != 1 || st.CPUErr != nil {
		t.Errorf("no total line: %s, %v", cpuLines(&st), st.CPUErr)
	}
}

// Callers asking for the same sample time share one read; a caller asking
// twice for the same time, or anyone asking for a new time, reads again.
func TestStatReaderOneReadPerCycle(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stat")
	write := func(ctxt int) {
		if err := os.WriteFile(p, []byte(fmt.Sprintf("cpu 1 2 3 4\ncpu0 1 2 3 4\nctxt %d\n", ctxt)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := NewStatReader(p)
	var a, b Stat
	t1, t2 := time.Unix(1000, 0), time.Unix(1060, 0)
	check := func(st *Stat, tm time.Time, want uint64) {
		t.Helper()
		if err := r.Read(tm, st); err != nil || st.Keys[0] != want || !st.Seen[0] || len(st.CPUs) != 2 {
			t.Errorf("read at %d: ctxt %d (%v), %d cpus; want %d", tm.Unix(), st.Keys[0], err, len(st.CPUs), want)
		}
	}
	write(1)
	check(&a, t1, 1)
	write(2)
	check(&b, t1, 1) // the same cycle: a's read
	check(&a, t1, 2) // a again for the same time: a new read
	write(3)
	check(&b, t2, 3) // a new cycle
	check(&a, t2, 3)
	os.Remove(p)
	if err := r.Read(time.Unix(1120, 0), &a); !os.IsNotExist(err) || len(a.CPUs) != 0 || a.Seen[0] {
		t.Errorf("missing file: %v, %d cpus, seen %v", err, len(a.CPUs), a.Seen[0])
	}
	if err := r.Read(time.Unix(1120, 0), &b); !os.IsNotExist(err) {
		t.Errorf("missing file, second caller: %v", err)
	}
}

// Concurrent callers (the agent runs collectors in parallel, and a late one
// may overlap the next cycle) each get a whole, consistent copy.
func TestStatReaderConcurrent(t *testing.T) {
	r := NewStatReader("/proc/stat")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st Stat
			for i := 0; i < 200; i++ {
				if err := r.Read(time.Unix(int64(i/3), 0), &st); err != nil {
					t.Error(err)
					return
				}
				if st.OnlineCPUs() == 0 || !st.Seen[0] || st.CPUErr != nil || st.KeysErr != nil {
					t.Errorf("bad copy: %d cpus, %v %v", st.OnlineCPUs(), st.CPUErr, st.KeysErr)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A steady cycle allocates nothing: the file is kept open, the parse and
// each caller's copy reuse their storage.
func TestStatReaderAllocs(t *testing.T) {
	r := NewStatReader("/proc/stat")
	var a, b Stat
	sec := int64(0)
	cycle := func() {
		sec++
		r.Read(time.Unix(sec, 0), &a)
		r.Read(time.Unix(sec, 0), &b)
	}
	cycle()
	if n := testing.AllocsPerRun(20, cycle); n != 0 {
		t.Errorf("%v allocs per cycle", n)
	}
}

// Two collectors (cpu and proc) reading the file each, as before
// StatReader, against one read and two copies: this machine's /proc/stat
// (made by the kernel at every read), and a generated 96-CPU one.
func BenchmarkStatTwoReads(b *testing.B)   { benchStat(b, "/proc/stat", false) }
func BenchmarkStatShared(b *testing.B)     { benchStat(b, "/proc/stat", true) }
func BenchmarkStatTwoReads96(b *testing.B) { benchStat(b, stat96(b), false) }
func BenchmarkStatShared96(b *testing.B)   { benchStat(b, stat96(b), true) }

func stat96(b *testing.B) string {
	var s strings.Builder
	s.WriteString("cpu  96000 0 96000 960000 0 0 0 0 0 0\n")
	for i := 0; i < 96; i++ {
		fmt.Fprintf(&s, "cpu%d 1000 0 1000 10000 0 0 0 0 0 0\n", i)
	}
	s.WriteString("intr 1" + strings.Repeat(" 0", 1000) + "\nctxt 100\nbtime 1700000000\nprocesses 50\nprocs_running 2\nprocs_blocked 1\n")
	p := filepath.Join(b.TempDir(), "stat")
	if err := os.WriteFile(p, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

func benchStat(b *testing.B, path string, shared bool) {
	r1, r2 := NewStatReader(path), NewStatReader(path)
	if shared {
		r2 = r1
	}
	var x, y Stat
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tm := time.Unix(int64(i), 0)
		if r1.Read(tm, &x) != nil || r2.Read(tm, &y) != nil {
			b.Fatal("read failed")
		}
	}
}

func FuzzParseCPULine(f *testing.F) {
	f.Add([]byte(" 3476 0 2862 749741 257 0 243 0 0 0"))
	f.Add([]byte(" 1 2 3 4"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v [CPUColumns]uint64
		n, err := parseCPULine(b, &v)
		if err == nil && (n < 4 || n > CPUColumns) {
			t.Fatalf("parseCPULine(%q) = %d fields with no error", b, n)
		}
	})
}

func FuzzCPULabel(f *testing.F) {
	f.Add([]byte("cpu12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok, bad := cpuLabel(b)
		if ok && !bad && (n < -1 || n >= MaxCPUIndex) {
			t.Fatalf("cpuLabel(%q) = %d", b, n)
		}
	})
}

// Whole files: the cpu lines kept are in strictly increasing order (so
// bounded by MaxCPUIndex), each good or marked bad; a key is seen only if
// the file names it.
func FuzzParseStat(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "stat"))
	f.Add(b)
	f.Add([]byte("ctxt 420045\nbtime 1795414000\nprocesses 2492\nprocs_running 1\nprocs_blocked 0\n"))
	f.Add([]byte("cpu  1 2 3 4\ncpu7 1 2 3\ncpu99999999 1 2 3 4\ncpu7 1 2 3 4\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var st Stat
		ParseStat(b, &st)
		last := -2
		for _, c := range st.CPUs {
			if c.N <= last || c.N >= MaxCPUIndex || c.Cols != 0 && (c.Cols < 4 || c.Cols > CPUColumns) {
				t.Fatalf("cpu line %+v after %d", c, last)
			}
			last = c.N
		}
		for i, k := range StatKeys {
			if st.Seen[i] && !strings.Contains(string(b), k) {
				t.Fatalf("%s seen in %q", k, b)
			}
		}
	})
}
