// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"strconv"
	"strings"
	"testing"
)

func irqCollect(t *testing.T, content string, ts int64, raw bool, prev State) ([]string, State, error) {
	t.Helper()
	return collect(t, newByName(t, "interrupts", tempHost(t, map[string]string{"proc/interrupts": content})), ts, raw, prev)
}

// Diamond's naming depends on the CPU count n and the IRQ name's length.
func TestInterruptsNaming(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"1 CPU, full line", "           CPU0\n  0:         44   IO-APIC-edge      timer\nERR:          3\n",
			[]string{"interrupts.IO-APIC-edge.timer.0.CPU0 44", "interrupts.IO-APIC-edge.timer.0.total 44", "interrupts.ERR 3"}},
		{"2 CPUs: len(IRQ) == n+1", "  CPU0 CPU1\nLOC:  10  20   Local timer interrupts\n",
			[]string{"interrupts.LOC.CPU0 10", "interrupts.LOC.CPU1 20", "interrupts.LOC.total 30"}},
		{"4 CPUs: 3-letter name", " CPU0 CPU1 CPU2 CPU3\nLOC: 1 2 3 4   Local timer interrupts\n",
			[]string{"interrupts.Local_timer_interrupts.CPU0 1", "interrupts.Local_timer_interrupts.CPU1 2",
				"interrupts.Local_timer_interrupts.CPU2 3", "interrupts.Local_timer_interrupts.CPU3 4",
				"interrupts.Local_timer_interrupts.total 10"}},
		{"IRQ >= 100 loses its number; the duplicate name publishes once",
			" CPU0 CPU1 CPU2 CPU3\n114: 1 0 0 0 IO-APIC-level 3w-sas\n115: 5 0 0 0 IO-APIC-level 3w-sas\n",
			[]string{"interrupts.IO-APIC-level_3w-sas.CPU0 1", "interrupts.IO-APIC-level_3w-sas.CPU1 0",
				"interrupts.IO-APIC-level_3w-sas.CPU2 0", "interrupts.IO-APIC-level_3w-sas.CPU3 0",
				"interrupts.IO-APIC-level_3w-sas.total 1"}},
		{"devices list, PCI address dot kept inside its node",
			"  CPU0 CPU1\n 28:  0  7  PCI-MSIX-0000:00:01.0   0-edge      virtio0-config, eth0\n",
			[]string{"interrupts.PCI-MSIX-0000:00:01_0.0-edge______virtio0-config-eth0.28.CPU0 0",
				"interrupts.PCI-MSIX-0000:00:01_0.0-edge______virtio0-config-eth0.28.CPU1 7",
				"interrupts.PCI-MSIX-0000:00:01_0.0-edge______virtio0-config-eth0.28.total 7"}},
		{"old kernel LOC without description on 4 CPUs: named after its last counts",
			" CPU0 CPU1 CPU2 CPU3\nLOC: 1 2 3 4\n",
			[]string{"interrupts.3_4.CPU0 1", "interrupts.3_4.CPU1 2", "interrupts.3_4.CPU2 3", "interrupts.3_4.CPU3 4",
				"interrupts.3_4.total 10"}},
	} {
		got, _, err := irqCollect(t, tc.in, 1000, true, State{})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		wantLines(t, got, tc.want...)
	}
}

func TestInterruptsRates(t *testing.T) {
	_, st, err := irqCollect(t, "  CPU0 CPU1\nLOC:  100  200   Local timer interrupts\nERR: 0\n", 1000, false, State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := irqCollect(t, "  CPU0 CPU1\nLOC:  130  290   Local timer interrupts\nERR: 6\n", 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "interrupts.LOC.CPU0 0.5", "interrupts.LOC.CPU1 1.5", "interrupts.LOC.total 2", "interrupts.ERR 0.1")
}

func TestInterruptsMalformedAndCacheBounded(t *testing.T) {
	got, _, err := irqCollect(t, "  CPU0 CPU1\nLOC: 1 x  Local\nNMI: 1 2 Non-maskable\nX\n", 1, true, State{})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("want an error naming line 2, got %v", err)
	}
	wantLines(t, got, "interrupts.NMI.CPU0 1", "interrupts.NMI.CPU1 2", "interrupts.NMI.total 3")
	if _, _, err := irqCollect(t, "", 1, true, State{}); err == nil {
		t.Error("empty file accepted")
	}
	c := newByName(t, "interrupts", tempHost(t, nil)).(*interrupts)
	for i := 0; i < 50; i++ {
		c.file = tempHost(t, map[string]string{"proc/interrupts": " CPU0 CPU1 CPU2 CPU3\nLOC: 1 2 3 " + strconv.Itoa(i+5) + "\n"}).ProcPath("interrupts")
		if got, _, err := collect(t, c, int64(i), true, State{}); err != nil || len(got) != 5 {
			t.Fatalf("cycle %d: %v %v", i, got, err)
		}
	}
	if len(c.cache) != 1 {
		t.Errorf("name cache holds %d entries, want 1", len(c.cache))
	}
}

func TestInterruptsRealFixture(t *testing.T) {
	got, _, err := collect(t, newByName(t, "interrupts", fixtureHost("e2e/t1")), 1, true, State{})
	if err != nil || len(got) < 10 {
		t.Fatalf("%d lines, err %v", len(got), err)
	}
}

func FuzzParseIRQLine(f *testing.F) {
	f.Add([]byte(" 28:  0  7  PCI-MSIX-0000:00:01.0   0-edge      virtio0-config"), 2)
	f.Add([]byte("ERR: 0"), 1)
	f.Fuzz(func(t *testing.T, line []byte, n int) {
		if n < 1 || n > 64 {
			return
		}
		var l irqLine
		if _, err := parseIRQLine(line, n, &l, nil); err == nil && (len(l.counts) > n || len(l.counts) == 0) {
			t.Fatalf("%d counts for n=%d", len(l.counts), n)
		}
	})
}

func BenchmarkCollectInterrupts(b *testing.B) {
	benchCollectSteady(b, "interrupts", fixtureHost("e2e/t1"))
}
func BenchmarkReadInterrupts(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("interrupts"))
}
