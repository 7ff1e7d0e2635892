// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// interrupts publishes the per-CPU interrupt counts of /proc/interrupts with
// Diamond's InterruptCollector naming (docs/metrics.md, interrupts), quirks
// included, so that existing dashboards keep their series:
//
//	           CPU0       CPU1
//	  0:         44          0   IO-APIC   2-edge      timer
//	LOC:     151226     146431   Local timer interrupts
//	ERR:          0
//
// n is the number of CPU columns of the header. Each line is split on
// blanks into at most n+3 fields: IRQ (its colons removed), up to n counts,
// type, and the rest of the line (devices). Then
//   - exactly 2 fields (ERR, MIS):  interrupts.<IRQ>
//   - len(IRQ) == n+1:              interrupts.<IRQ>.CPU<i>, .total
//     (n=2: interrupts.LOC.CPU0)
//   - len(IRQ) == 3:                interrupts.<f[-2]>_<f[-1], ' ' -> '_'>.CPU<i>, .total
//     (interrupts.Local_timer_interrupts.CPU0; IRQ 114 loses its number)
//   - otherwise:                    interrupts.<f[-2]>.<f[-1], ", " -> '-', ' ' -> '_'>.<IRQ>.CPU<i>, .total
//     (interrupts.IO-APIC.2-edge______timer.0.CPU0)
//
// f[-2] and f[-1] are the last two fields whatever they are, so a line
// without description (old kernels' "LOC: 1 2 3 4" on 4 CPUs) is named after
// its last two counts, as Diamond does. Each of these components then goes
// through the naming rules' byte mapping (names.go) (a dot in "PCI-MSIX-0000:00:01.0" stays
// inside its node; Diamond would add a level).
//
// Every value is a counter (rate, or raw with --counters). .total is the
// counter of the sum over CPUs: the rate of the sum, at full precision
// (Diamond sums int()-truncated per-CPU rates; docs/metrics.md, differences).
type interrupts struct {
	file   *kernfile.File
	buf    kernfile.Buf
	line   irqLine
	values []uint64
	// cache maps a name (the path below "interrupts.") to its paths, so a
	// steady-state cycle builds no strings. Entries whose line is gone are
	// dropped: without description a line gets a new name every cycle.
	cache map[string]*irqPaths
	cycle uint64
}

type irqPaths struct {
	node  string   // "interrupts.<name>", the path of a two-field line
	cpu   []string // node + ".CPU<i>"
	total string   // node + ".total"
	cycle uint64   // last cycle that published this name
}

func newInterrupts(d collect.Deps) (collect.Collector, error) {
	return &interrupts{file: d.File(d.Host.ProcPath("interrupts")), cache: map[string]*irqPaths{}}, nil
}

// irqLine is one parsed line of /proc/interrupts. Its slices are scratch
// space reused from line to line.
type irqLine struct {
	name   []byte   // the final path below "interrupts.", already safe
	counts [][]byte // the count fields, at most n
	single bool     // a two-field line (ERR, MIS): one value, no CPU nodes
	fields [][]byte
}

// isSpace is Python's str.split() whitespace for the bytes the kernel can
// print.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// splitMax splits b on runs of blanks into at most max fields, the last
// one holding the rest of the line, as Python's b.strip().split(None, max-1).
func splitMax(b []byte, max int, out [][]byte) [][]byte {
	out = out[:0]
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	b = b[i:j]
	for len(b) > 0 {
		if len(out) == max-1 {
			return append(out, b)
		}
		k := 0
		for k < len(b) && !isSpace(b[k]) {
			k++
		}
		out = append(out, b[:k])
		for k < len(b) && isSpace(b[k]) {
			k++
		}
		b = b[k:]
	}
	return out
}

// Transforms Diamond applies to a name component before collect.Segment.
const (
	irqKeep     = iota // as is
	irqUnder           // ' ' -> '_'
	irqDevices         // ", " -> '-', then ' ' -> '_'
	irqNoColons        // ':' removed (the IRQ field)
)

// appendComponent appends b transformed as mode says and then mapped
// through the naming rules' node bytes (NodeByte: anything else -> '_', empty ->
// "_"), without allocating.
func appendComponent(dst, b []byte, mode int) []byte {
	start := len(dst)
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case mode == irqNoColons && c == ':':
			continue
		case mode == irqDevices && c == ',' && i+1 < len(b) && b[i+1] == ' ':
			c = '-'
			i++
		case !collect.NodeByte(c):
			c = '_' // also Diamond's ' ' -> '_'
		}
		dst = append(dst, c)
	}
	if len(dst) == start {
		dst = append(dst, '_')
	}
	return dst
}

// parseIRQLine names one data line for a header of n CPU columns and sets
// the count fields. Counts are not parsed here.
func parseIRQLine(line []byte, n int, l *irqLine) error {
	l.fields = splitMax(line, n+3, l.fields)
	f := l.fields
	l.name, l.counts, l.single = l.name[:0], nil, false
	if len(f) < 2 {
		return fmt.Errorf("%d fields, want at least 2", len(f))
	}
	irq := f[0]
	irqLen := len(irq) - bytes.Count(irq, []byte{':'})
	switch {
	case len(f) == 2:
		l.single = true
		l.name = appendComponent(l.name, irq, irqNoColons)
		l.counts = f[1:2]
		return nil
	case irqLen == n+1:
		l.name = appendComponent(l.name, irq, irqNoColons)
	case irqLen == 3:
		// One node: "<f[-2]> <f[-1]>" with blanks as '_'.
		l.name = appendComponent(l.name, f[len(f)-2], irqUnder)
		l.name = append(l.name, '_')
		l.name = appendComponent(l.name, f[len(f)-1], irqUnder)
	default:
		l.name = appendComponent(l.name, f[len(f)-2], irqUnder)
		l.name = append(l.name, '.')
		l.name = appendComponent(l.name, f[len(f)-1], irqDevices)
		l.name = append(l.name, '.')
		l.name = appendComponent(l.name, irq, irqNoColons)
	}
	// Diamond takes fields 1..n as counts, fewer when the line is short
	// (then the last two of them also made the name, see above).
	l.counts = f[1 : min(len(f)-1, n)+1]
	return nil
}

// cpuColumns is the number of CPU columns of the header line.
func cpuColumns(header []byte) int {
	n := 0
	for h := header; ; n++ {
		var f []byte
		if f, h = kernfile.NextField(h); len(f) == 0 {
			return n
		}
	}
}

func (c *interrupts) pathsFor(name []byte, ncpu int) *irqPaths {
	p := c.cache[string(name)]
	if p == nil {
		key := string(name)
		// collect.Dotted bounds each node's length (a hostile /proc); the bytes
		// are already clean.
		p = &irqPaths{node: "interrupts." + collect.Dotted(key)}
		p.total = p.node + ".total"
		c.cache[key] = p
	}
	for len(p.cpu) < ncpu {
		p.cpu = append(p.cpu, p.node+".CPU"+strconv.Itoa(len(p.cpu)))
	}
	return p
}

func (c *interrupts) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	header, rest := kernfile.NextLine(b)
	n := cpuColumns(header)
	if n == 0 {
		return fmt.Errorf("parse %s: line 1: no CPU columns in the header", c.file.Path)
	}
	c.cycle++
	published := 0
	var firstErr error
	for lineNo := 2; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if s.Full() {
			break
		}
		ok, err := c.publishLine(s, line, n)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("parse %s: line %d: %w", c.file.Path, lineNo, err)
		}
		if ok {
			published++
		}
	}
	if published < len(c.cache) {
		for k, p := range c.cache {
			if p.cycle != c.cycle {
				delete(c.cache, k)
			}
		}
	}
	return firstErr
}

// publishLine emits one line's counters; ok is false when nothing was
// emitted (bad line, or a name already published in this cycle).
func (c *interrupts) publishLine(s *collect.Sample, line []byte, n int) (ok bool, err error) {
	l := &c.line
	if err := parseIRQLine(line, n, l); err != nil {
		return false, err
	}
	c.values = c.values[:0]
	for _, f := range l.counts {
		v, good := kernfile.ParseUint(f)
		if !good {
			return false, fmt.Errorf("bad count %q", f)
		}
		c.values = append(c.values, v)
	}
	p := c.pathsFor(l.name, len(c.values))
	// Two lines can map to one name: IRQs 100-999 on a box where 3-digit
	// IRQs lose their number (114 and 115 both "IO-APIC-level_3w-sas"),
	// or names that differ only in bytes collect.Segment maps to '_'. Diamond
	// publishes both under one path in the same cycle, and its derivative
	// then mixes the two counters (last one wins, a bogus rate every
	// cycle). We keep the first line: a stable series, and one value per
	// path per cycle.
	if p.cycle == c.cycle {
		return false, nil
	}
	p.cycle = c.cycle
	if l.single {
		s.Counter(p.node, c.values[0])
		return true, nil
	}
	var total uint64
	for i, v := range c.values {
		s.Counter(p.cpu[i], v)
		total += v
	}
	s.Counter(p.total, total)
	return true, nil
}
