// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// interrupts publishes per-CPU interrupt rates of /proc/interrupts with
// Diamond's InterruptCollector naming (spec/metrics.md §12), quirks
// included, so existing dashboards keep their series:
//
//	           CPU0       CPU1
//	  0:         44          0   IO-APIC   2-edge      timer
//	LOC:     151226     146431   Local timer interrupts
//	ERR:          0
//
// A dot inside one component becomes '_' (Diamond would add a level).
// n is the number of CPU columns. Each line is split into at most n+3
// fields: IRQ, n counts, type, the rest (devices). Then
//   - two fields (ERR, MIS): interrupts.<IRQ>
//   - len(IRQ) == n+1:       interrupts.<IRQ>.CPU<i>, .total
//   - len(IRQ) == 3:         interrupts.<type_rest>.CPU<i>, .total (spaces -> '_')
//   - otherwise:             interrupts.<type>.<rest, ', ' -> '-', ' ' -> '_'>.<IRQ>.CPU<i>, .total
//
// Values are rates; .total is the rate of the sum over CPUs (Diamond sums
// int()-truncated rates; we keep full precision, spec §18). Two lines that
// map to the same name (IRQs 100-999 lose their number) publish the first.
type interrupts struct {
	file  string
	buf   fileBuf
	cache map[string]*irqPaths // by name node, dropped when the line goes
	seen  map[*irqPaths]bool
	key   []byte
}

type irqPaths struct {
	node  string   // "interrupts.<name>"
	cpu   []string // node + ".CPU<i>"
	total string
	cycle uint64
}

func newInterrupts(h Host, _ *slog.Logger) (Collector, error) {
	return &interrupts{file: h.ProcPath("interrupts"), cache: map[string]*irqPaths{}, seen: map[*irqPaths]bool{}}, nil
}

// irqLine is one parsed line of /proc/interrupts.
type irqLine struct {
	name   []byte   // the metric name below "interrupts."
	counts [][]byte // the per-CPU count fields (at most n)
	single bool     // an ERR/MIS style two-field line: counts[0] is the value
	fields [][]byte // scratch
}

// splitMax splits b on runs of whitespace into at most max fields, the last
// one holding the rest of the line (Python's str.split(None, max-1)).
func splitMax(b []byte, max int, out [][]byte) [][]byte {
	out = out[:0]
	b = bytes.TrimSpace(b)
	for len(b) > 0 {
		if len(out) == max-1 {
			out = append(out, b)
			break
		}
		i := bytes.IndexAny(b, " \t")
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i])
		b = bytes.TrimLeft(b[i:], " \t")
	}
	return out
}

// parseIRQLine names one line the way Diamond does, writing the name's
// components, NUL-separated, into key (reused scratch), and sets the count
// fields.
func parseIRQLine(line []byte, n int, l *irqLine, key []byte) ([]byte, error) {
	l.fields = splitMax(line, n+3, l.fields)
	f := l.fields
	if len(f) < 2 {
		return key, fmt.Errorf("%d fields", len(f))
	}
	irq := bytes.ReplaceAll(f[0], []byte(":"), nil)
	key = key[:0]
	l.single = len(f) == 2
	switch {
	case l.single:
		key = append(key, irq...)
		l.counts = f[1:2]
		return key, nil
	case len(irq) == n+1:
		key = append(key, irq...)
	case len(irq) == 3:
		key = appendReplaced(key, f[len(f)-2], " ", "_")
		key = append(key, '_')
		key = appendReplaced(key, f[len(f)-1], " ", "_")
	default:
		key = appendReplaced(key, f[len(f)-2], " ", "_")
		key = append(key, 0)
		rest := bytes.ReplaceAll(f[len(f)-1], []byte(", "), []byte("-"))
		key = appendReplaced(key, rest, " ", "_")
		key = append(key, 0)
		key = append(key, irq...)
	}
	last := min(len(f)-1, n)
	l.counts = f[1 : last+1]
	return key, nil
}

func appendReplaced(dst, b []byte, old, new string) []byte {
	for len(b) > 0 {
		i := bytes.Index(b, []byte(old))
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		dst = append(dst, new...)
		b = b[i+len(old):]
	}
	return dst
}

// sanitiseNodes applies Segment to each NUL-separated component of a name
// and joins them with dots: a dot inside a PCI address or device name
// ("PCI-MSIX-0000:00:01.0") stays inside its node.
func sanitiseNodes(name string) string {
	parts := strings.Split(name, "\x00")
	for i, p := range parts {
		parts[i] = Segment(p)
	}
	return strings.Join(parts, ".")
}

func (c *interrupts) paths(key []byte, ncpu int, cycle uint64) *irqPaths {
	p := c.cache[string(key)]
	if p == nil {
		p = &irqPaths{node: "interrupts." + sanitiseNodes(string(key))}
		p.total = p.node + ".total"
		c.cache[string(key)] = p
	}
	for len(p.cpu) < ncpu {
		p.cpu = append(p.cpu, p.node+".CPU"+strconv.Itoa(len(p.cpu)))
	}
	return p
}

func (c *interrupts) Collect(_ context.Context, s *Sample) error {
	b, err := c.buf.read(c.file)
	if err != nil {
		return err
	}
	header, rest := nextLine(b)
	n := 0
	for h := header; ; {
		var f []byte
		if f, h = nextField(h); len(f) == 0 {
			break
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("parse %s: no CPU header", c.file)
	}
	clear(c.seen)
	var firstErr error
	var l irqLine
	for lineNo := 2; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = nextLine(rest)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var err error
		c.key, err = parseIRQLine(line, n, &l, c.key)
		if err == nil {
			err = c.publish(s, &l, n)
		}
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("parse %s: line %d: %w", c.file, lineNo, err)
		}
	}
	// Forget names whose line is gone (Diamond's description-less LOC line
	// gets a new name every interval: the cache must not grow with it).
	for k, p := range c.cache {
		if !c.seen[p] {
			delete(c.cache, k)
		}
	}
	return firstErr
}

func (c *interrupts) publish(s *Sample, l *irqLine, n int) error {
	var vals [64]uint64
	values := vals[:0]
	for _, f := range l.counts {
		v, ok := parseUint(f)
		if !ok {
			return fmt.Errorf("bad count %q", f)
		}
		values = append(values, v)
	}
	p := c.paths(c.key, len(values), 0)
	if c.seen[p] {
		return nil // a second line with the same name: the first one wins
	}
	c.seen[p] = true
	if l.single {
		s.Counter(p.node, values[0])
		return nil
	}
	var total uint64
	for i, v := range values {
		s.Counter(p.cpu[i], v)
		total += v
	}
	s.Counter(p.total, total)
	return nil
}
