// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestSplitMax(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want []string
	}{
		{"  0:  44  0  IO-APIC   2-edge      timer  ", 5, []string{"0:", "44", "0", "IO-APIC", "2-edge      timer"}},
		{"LOC: 1 2", 5, []string{"LOC:", "1", "2"}},
		{"a b c", 1, []string{"a b c"}},
		{"ERR:          0\r", 27, []string{"ERR:", "0"}},
		{"   ", 4, nil},
		{"x\ty\t z", 2, []string{"x", "y\t z"}},
	} {
		got := splitMax([]byte(tc.in), tc.max, nil)
		var s []string
		for _, f := range got {
			s = append(s, string(f))
		}
		if fmt.Sprintf("%q", s) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("splitMax(%q, %d) = %q, want %q", tc.in, tc.max, s, tc.want)
		}
	}
}

// Diamond's naming depends on the CPU count n and on the IRQ name's length.
func TestParseIRQLine(t *testing.T) {
	for _, tc := range []struct {
		line    string
		n       int
		name    string
		counts  int
		single  bool
		wantErr bool
	}{
		{line: "ERR:          0", n: 24, name: "ERR", counts: 1, single: true},
		{line: "MIS: 3", n: 2, name: "MIS", counts: 1, single: true},
		{line: "LOC:   27899932", n: 1, name: "LOC", counts: 1, single: true}, // old 1-CPU kernel
		{line: "LOC:  10  20   Local timer interrupts", n: 2, name: "LOC", counts: 2},
		{line: "LOC: 10 Local timer interrupts", n: 1, name: "Local_timer_interrupts", counts: 1},
		{line: "LOC: 1 2 3 4   Local timer interrupts", n: 4, name: "Local_timer_interrupts", counts: 4},
		{line: " 10:  15068   IO-APIC-level     virtio0, virtio1", n: 1, name: "10", counts: 1},
		{line: "  0:  44  IO-APIC-edge  timer", n: 1, name: "IO-APIC-edge.timer.0", counts: 1},
		{line: "114:  1 2 3 4  IO-APIC-level  3w-sas", n: 4, name: "IO-APIC-level_3w-sas", counts: 4},
		{line: "114:  1 2  IO-APIC-level  3w-sas", n: 2, name: "114", counts: 2},
		{line: "1234:  1 2  PCI-MSI  nvme0q1", n: 2, name: "PCI-MSI.nvme0q1.1234", counts: 2},
		{line: " 74:  9 0 0 0  IO-APIC-level  ehci_hcd:usb1, uhci_hcd:usb7", n: 4,
			name: "IO-APIC-level.ehci_hcd:usb1-uhci_hcd:usb7.74", counts: 4},
		{line: "122:  0 0 0 0  IO-APIC-level  ehci_hcd:usb1, uhci_hcd:usb7", n: 4,
			name: "IO-APIC-level_ehci_hcd:usb1__uhci_hcd:usb7", counts: 4}, // ", " kept, then collect.Segment: "__"
		{line: " 28:  0  7  PCI-MSIX-0000:00:01.0   0-edge      virtio0-config", n: 2,
			name: "PCI-MSIX-0000:00:01_0.0-edge______virtio0-config.28", counts: 2},
		{line: " 36:  0  7  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0", n: 2,
			name: "PCI-MSIX-0000:00:02_0.1-edge______virtio1-req_0.36", counts: 2},
		{line: "IPI0:  5 6  Rescheduling interrupts", n: 2, name: "Rescheduling.interrupts.IPI0", counts: 2},
		// No description: the last two fields (counts) make the name.
		{line: "LOC: 1 2 3 4", n: 4, name: "3_4", counts: 4},
		{line: "NMI: 1 2", n: 4, name: "1_2", counts: 2},
		{line: " 28: 0 7", n: 2, name: "0.7.28", counts: 2},
		{line: " 5: 1 2 edge", n: 2, name: "2.edge.5", counts: 2}, // short line: type is a count
		{line: ":: 1 2 a b", n: 2, name: "a.b._", counts: 2},      // IRQ empty once its colons go
		{line: "X", n: 2, wantErr: true},
		{line: "", n: 2, wantErr: true},
	} {
		var l irqLine
		err := parseIRQLine([]byte(tc.line), tc.n, &l)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseIRQLine(%q, %d) error = %v, want error %v", tc.line, tc.n, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (string(l.name) != tc.name || len(l.counts) != tc.counts || l.single != tc.single) {
			t.Errorf("parseIRQLine(%q, %d) = %q, %d counts, single %v; want %q, %d, %v",
				tc.line, tc.n, l.name, len(l.counts), l.single, tc.name, tc.counts, tc.single)
		}
	}
}

func irqHost(t testing.TB, content string) collect.Host {
	return tempHost(t, map[string]string{"proc/interrupts": content})
}

// The same interrupt is named differently on 1, 2 and 4 CPUs.
func TestInterruptsNamingByCPUCount(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"1 CPU", "           CPU0\n  0:         44   IO-APIC-edge      timer\n 11:   7   IO-APIC-level  virtio0\nLOC: 9 Local timer interrupts\nERR:          3\n",
			[]string{"interrupts.IO-APIC-edge.timer.0.CPU0 44", "interrupts.IO-APIC-edge.timer.0.total 44",
				"interrupts.11.CPU0 7", "interrupts.11.total 7",
				"interrupts.Local_timer_interrupts.CPU0 9", "interrupts.Local_timer_interrupts.total 9", "interrupts.ERR 3"}},
		{"2 CPUs", "  CPU0 CPU1\n  0: 1 2  IO-APIC   2-edge      timer\nLOC:  10  20   Local timer interrupts\n",
			[]string{"interrupts.IO-APIC.2-edge______timer.0.CPU0 1", "interrupts.IO-APIC.2-edge______timer.0.CPU1 2",
				"interrupts.IO-APIC.2-edge______timer.0.total 3",
				"interrupts.LOC.CPU0 10", "interrupts.LOC.CPU1 20", "interrupts.LOC.total 30"}},
		{"4 CPUs", " CPU0 CPU1 CPU2 CPU3\nLOC: 1 2 3 4   Local timer interrupts\n",
			[]string{"interrupts.Local_timer_interrupts.CPU0 1", "interrupts.Local_timer_interrupts.CPU1 2",
				"interrupts.Local_timer_interrupts.CPU2 3", "interrupts.Local_timer_interrupts.CPU3 4",
				"interrupts.Local_timer_interrupts.total 10"}},
	} {
		got, _, err := collectOnce(t, newByName(t, "interrupts", irqHost(t, tc.in)), 1000, true, collect.State{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		wantLines(t, got, tc.want...)
	}
}

// An old single-CPU kernel: 2-digit IRQs are named by number (len == n+1),
// NMI/LOC without description are two-field lines like ERR.
func TestInterruptsOneCPUFixture(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "interrupts", fixtureHost("interrupts/1cpu")), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"interrupts.IO-APIC-edge.timer.0.CPU0 138", "interrupts.IO-APIC-edge.timer.0.total 138",
		"interrupts.IO-APIC-edge.i8042.1.CPU0 10", "interrupts.IO-APIC-edge.i8042.1.total 10",
		"interrupts.10.CPU0 15068", "interrupts.10.total 15068",
		"interrupts.14.CPU0 3410", "interrupts.14.total 3410",
		"interrupts.NMI 0", "interrupts.LOC 27899932", "interrupts.ERR 0", "interrupts.MIS 0")
}

// cpuLines is name.CPU0..CPU<n-1> with rate(i), then name.total.
func cpuLines(name string, n int, rate func(i int) string, total string) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, "interrupts."+name+".CPU"+strconv.Itoa(i)+" "+rate(i))
	}
	return append(out, "interrupts."+name+".total "+total)
}

func constRate(s string) func(int) string { return func(int) string { return s } }

// 24 CPUs in the shape of Diamond's fixture (old kernel: IRQs >= 100, NMI
// and LOC without description), two snapshots 60 s apart.
func TestInterrupts24CPURates(t *testing.T) {
	c := newByName(t, "interrupts", fixtureHost("interrupts/24cpu/t0"))
	first, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil || len(first) != 0 {
		t.Fatalf("first sample: %v, %v; want nothing", first, err)
	}
	c.(*interrupts).file.Path = fixtureHost("interrupts/24cpu/t1").ProcPath("interrupts")
	got, _, err := collectOnce(t, c, 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, cpuLines("IO-APIC-edge.timer.0", 24, func(i int) string { return strconv.Itoa(i + 1) }, "300")...)
	want = append(want, cpuLines("IO-APIC-edge.i8042.1", 24, constRate("0"), "0")...)
	want = append(want, cpuLines("PCI-MSI-X.eth3-rx-1.51", 24, constRate("0.5"), "12")...)
	want = append(want, cpuLines("IO-APIC-level.ehci_hcd:usb1-uhci_hcd:usb7.74", 24, func(i int) string {
		if i == 0 {
			return "0.1"
		}
		return "0"
	}, "0.1")...)
	// IRQ 114 and 115 both lose their number; the first line wins (115
	// would give 10/s).
	want = append(want, cpuLines("IO-APIC-level_3w-sas", 24, constRate("1"), "24")...)
	want = append(want, cpuLines("PCI-MSI_ahci", 24, constRate("0"), "0")...)
	// NMI without description is named after its last two counts, stable
	// here; LOC's last two counts moved, so it is a new name with no rate.
	want = append(want, cpuLines("8174242_8182161", 24, func(i int) string {
		if i >= 22 {
			return "0"
		}
		return "2"
	}, "44")...)
	want = append(want, "interrupts.ERR 0", "interrupts.MIS 0.05")
	wantLines(t, got, want...)

	// Raw mode: every line, totals are exact sums.
	raw, _, err := collectOnce(t, newByName(t, "interrupts", fixtureHost("interrupts/24cpu/t1")), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	j := strings.Join(raw, "\n") + "\n"
	if len(raw) != 8*25+2 {
		t.Errorf("raw: %d lines, want 202", len(raw))
	}
	for _, l := range []string{"interrupts.IO-APIC-edge.timer.0.CPU0 1000063", "interrupts.IO-APIC-edge.timer.0.total 26203716",
		"interrupts.9174305_9182224.CPU23 9182224", "interrupts.MIS 8", "interrupts.IO-APIC-level_3w-sas.CPU0 5000075"} {
		if !strings.Contains(j, l+"\n") {
			t.Errorf("raw: missing %q", l)
		}
	}
}

// Rates over elapsed time, total = rate of the sum (not of truncated
// rates), a counter that went down publishes nothing (and a total that
// went down neither).
func TestInterruptsRatesAndReset(t *testing.T) {
	c := newByName(t, "interrupts", irqHost(t, "  CPU0 CPU1\nLOC:  100  200   Local timer interrupts\nCAL: 5 5 Function call interrupts\nERR: 0\n"))
	_, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	c.(*interrupts).file.Path = irqHost(t, "  CPU0 CPU1\nLOC:  130  290   Local timer interrupts\nCAL: 1 5 Function call interrupts\nERR: 6\n").ProcPath("interrupts")
	got, _, err := collectOnce(t, c, 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "interrupts.LOC.CPU0 0.5", "interrupts.LOC.CPU1 1.5", "interrupts.LOC.total 2",
		"interrupts.CAL.CPU1 0", "interrupts.ERR 0.1")
}

// Two lines mapping to one path publish once per cycle: the first wins,
// also when the names differ only in bytes collect.Segment maps to '_'.
func TestInterruptsDuplicateNames(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "interrupts", irqHost(t,
		" CPU0 CPU1 CPU2 CPU3\n114: 1 0 0 0 IO-APIC-level 3w-sas\n115: 5 0 0 0 IO-APIC-level 3w-sas\n"+
			" 7: 1 1 1 1 PCI-MSI eth0.1\n 7: 2 2 2 2 PCI-MSI eth0_1\n")), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	want := cpuLines("IO-APIC-level_3w-sas", 4, func(i int) string { return strconv.Itoa(max(1-i, 0)) }, "1")
	want = append(want, cpuLines("PCI-MSI.eth0_1.7", 4, constRate("1"), "4")...)
	wantLines(t, got, want...)
}

func TestInterruptsMalformed(t *testing.T) {
	h := irqHost(t, "  CPU0 CPU1\nLOC: 1 x  Local\nNMI: 1 2 Non-maskable\nX\nERR: -1\n\n  \nMIS: 0\n")
	got, _, err := collectOnce(t, newByName(t, "interrupts", h), 1, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), h.ProcPath("interrupts")+": line 2") {
		t.Errorf("want an error naming line 2, got %v", err)
	}
	wantLines(t, got, "interrupts.NMI.CPU0 1", "interrupts.NMI.CPU1 2", "interrupts.NMI.total 3", "interrupts.MIS 0")
	for _, in := range []string{"", "\n", "   \nLOC: 1 2\n"} {
		got, _, err := collectOnce(t, newByName(t, "interrupts", irqHost(t, in)), 1, true, collect.State{})
		if err == nil || len(got) != 0 {
			t.Errorf("%q: got %v, err %v; want an error and nothing", in, got, err)
		}
	}
	// Header only: no error, nothing to publish.
	if got, _, err := collectOnce(t, newByName(t, "interrupts", irqHost(t, "  CPU0\n")), 1, true, collect.State{}); err != nil || len(got) != 0 {
		t.Errorf("header only: %v %v", got, err)
	}
}

func TestInterruptsMissingFile(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "interrupts", tempHost(t, nil)), 1, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

// A line without description gets a new name every cycle; the path cache
// must not grow with it.
func TestInterruptsCacheBounded(t *testing.T) {
	c := newByName(t, "interrupts", tempHost(t, nil)).(*interrupts)
	for i := 0; i < 50; i++ {
		c.file.Path = irqHost(t, " CPU0 CPU1 CPU2 CPU3\nLOC: 1 2 3 "+strconv.Itoa(i+5)+"\nERR: 0\n").ProcPath("interrupts")
		if got, _, err := collectOnce(t, c, int64(i), true, collect.State{}); err != nil || len(got) != 6 {
			t.Fatalf("cycle %d: %v %v", i, got, err)
		}
	}
	if len(c.cache) != 2 {
		t.Errorf("name cache holds %d entries, want 2", len(c.cache))
	}
}

// This machine's /proc/interrupts (2 CPUs), captured twice ~5 s apart.
func TestInterruptsLiveCapture(t *testing.T) {
	c := newByName(t, "interrupts", fixtureHost("e2e/t0"))
	_, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	c.(*interrupts).file.Path = fixtureHost("e2e/t1").ProcPath("interrupts")
	got, _, err := collectOnce(t, c, 1005, false, st)
	if err != nil {
		t.Fatal(err)
	}
	j := strings.Join(got, "\n") + "\n"
	for _, p := range []string{"interrupts.LOC.CPU0 ", "interrupts.LOC.total ", "interrupts.NMI.CPU1 ",
		"interrupts.IO-APIC.5-edge______ACPI:Ged.24.CPU0 ", "interrupts.PCI-MSIX-0000:00:04_0.1-edge______virtio3-rx.41.total ",
		"interrupts.ERR ", "interrupts.MIS "} {
		if !strings.Contains(j, p) {
			t.Errorf("missing %q", p)
		}
	}
	if len(got)%3 != 2 { // n+1 = 3 lines per interrupt, plus ERR and MIS
		t.Errorf("%d lines", len(got))
	}
}

func FuzzParseIRQLine(f *testing.F) {
	f.Add([]byte(" 28:  0  7  PCI-MSIX-0000:00:01.0   0-edge      virtio0-config, eth0"), 2)
	f.Add([]byte("ERR: 0"), 1)
	f.Add([]byte("LOC: 1 2 3 4"), 4)
	f.Fuzz(func(t *testing.T, line []byte, n int) {
		if n < 1 || n > 64 {
			return
		}
		var l irqLine
		if err := parseIRQLine(line, n, &l); err != nil {
			return
		}
		if len(l.counts) > n || len(l.counts) == 0 || (l.single && len(l.counts) != 1) {
			t.Fatalf("%d counts for n=%d, single %v", len(l.counts), n, l.single)
		}
		// The parsed name holds only node bytes, and the path built from it
		// (pathsFor: collect.Dotted bounds each node's length) is safe Graphite:
		// nodes that collect.Segment keeps as they are, none empty.
		for i := 0; i < len(l.name); i++ {
			if c := l.name[i]; c != '.' && !collect.NodeByte(c) {
				t.Fatalf("unsafe byte %q in %q", c, l.name)
			}
		}
		for _, node := range strings.Split(collect.Dotted(string(l.name)), ".") {
			if collect.Segment(node) != node {
				t.Fatalf("unsafe node %q in %q", node, l.name)
			}
			if node == "" {
				t.Fatalf("empty node in %q", l.name)
			}
		}
	})
}

func FuzzSplitMax(f *testing.F) {
	f.Add([]byte("  0:  44  0  IO-APIC   2-edge      timer  "), 5)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max < 1 || max > 100 {
			return
		}
		out := splitMax(b, max, nil)
		if len(out) > max {
			t.Fatalf("%d fields, max %d", len(out), max)
		}
		for _, f := range out {
			if len(f) == 0 || isSpace(f[0]) || isSpace(f[len(f)-1]) {
				t.Fatalf("bad field %q", f)
			}
		}
	})
}

func BenchmarkCollectInterrupts(b *testing.B) {
	benchCollectSteady(b, "interrupts", fixtureHost("e2e/t1"))
}
func BenchmarkReadInterrupts(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("interrupts"))
}

func BenchmarkCollectInterrupts24CPU(b *testing.B) {
	benchCollectSteady(b, "interrupts", fixtureHost("interrupts/24cpu/t1"))
}
func BenchmarkReadInterrupts24CPU(b *testing.B) {
	benchReadSteady(b, fixtureHost("interrupts/24cpu/t1").ProcPath("interrupts"))
}
