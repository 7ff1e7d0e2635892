// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// cpuModes are the columns of a /proc/stat cpu line, in kernel order. Old
// kernels have fewer (4, 7, 8 or 9); only those present are published.
var cpuModes = [...]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}

// cpu publishes the CPU time of /proc/stat as Diamond's CPUCollector does
// (docs/metrics.md, cpu), percore, not normalised:
//
//	cpu  3476 0 2862 749741 257 0 243 0 0 0
//	cpu0 1233 0 962 375879 6 0 118 0 0 0
//
// -> cpu.total.<mode> and cpu.cpu<N>.<mode> (USER_HZ ticks per second,
// about % of one CPU), cpu.cpu_count (number of cpuN lines). In raw mode
// (docs/metrics.md, Raw-counter mode) the ticks are published as read.
//
// Diamond's Xen fix (while /proc/xen exists, halve every idle when the
// cpu0 rates sum to more than 110) is not implemented: it is a heuristic
// for idle double-counted by old Xen guest kernels, it is off by default
// (xenfix=None), and halving a measured value would hide the real numbers.
type cpu struct {
	file  kernfile.File
	buf   kernfile.Buf
	paths [][len(cpuModes)]string // paths[0] = total, paths[i+1] = cpu<i>
}

func newCPU(h collect.Host, _ *slog.Logger) (collect.Collector, error) {
	return &cpu{file: kernfile.File{Path: h.ProcPath("stat")}}, nil
}

// modePaths returns the cached paths of line idx (0 = total, i+1 = cpu<i>).
func (c *cpu) modePaths(idx int) *[len(cpuModes)]string {
	for len(c.paths) <= idx {
		i := len(c.paths)
		node := "total"
		if i > 0 {
			node = "cpu" + strconv.Itoa(i-1)
		}
		var p [len(cpuModes)]string
		for m, mode := range cpuModes {
			p[m] = "cpu." + node + "." + mode
		}
		c.paths = append(c.paths, p)
	}
	return &c.paths[idx]
}

// parseCPULine parses the counters after the "cpu"/"cpuN" label into v and
// returns how many there were (at least 4: user nice system idle).
func parseCPULine(rest []byte, v *[len(cpuModes)]uint64) (int, error) {
	n := 0
	for {
		var f []byte
		f, rest = kernfile.NextField(rest)
		if len(f) == 0 {
			break
		}
		if n == len(v) {
			break // a future kernel's extra column
		}
		x, ok := kernfile.ParseUint(f)
		if !ok {
			return 0, fmt.Errorf("bad counter %q", f)
		}
		v[n] = x
		n++
	}
	if n < 4 {
		return 0, fmt.Errorf("%d counters, want at least 4", n)
	}
	return n, nil
}

// maxCPUIndex bounds the per-CPU path cache: Linux builds with at most
// 8192 CPUs (x86 MAXSMP), so a larger index is a corrupt line, and must not
// make the cache grow without bound.
const maxCPUIndex = 1 << 14

// cpuLabel returns -1 for the "cpu" total line, N for "cpuN", and ok=false
// for any other line (intr, ctxt, ...). A "cpuN" whose N is not a number
// or is out of range gives ok=true and bad=true.
func cpuLabel(label []byte) (n int, ok, bad bool) {
	if !bytes.HasPrefix(label, []byte("cpu")) {
		return 0, false, false
	}
	if len(label) == 3 {
		return -1, true, false
	}
	u, good := kernfile.ParseUint(label[3:])
	if !good || u >= maxCPUIndex {
		return 0, true, true
	}
	return int(u), true, false
}

func (c *cpu) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(&c.file)
	if err != nil {
		return err
	}
	var firstErr error
	count, last := 0, -2
	var v [len(cpuModes)]uint64
	for rest, lineNo := b, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		label, fields := kernfile.NextField(line)
		n, ok, bad := cpuLabel(label)
		if !ok {
			continue
		}
		if bad {
			if firstErr == nil {
				firstErr = fmt.Errorf("parse %s: line %d: bad cpu label %q", c.file.Path, lineNo, label)
			}
			continue
		}
		if n <= last {
			// The kernel lists "cpu" then cpuN in increasing order: a
			// repeated or out-of-order line would publish a path twice.
			if firstErr == nil {
				firstErr = fmt.Errorf("parse %s: line %d: %q repeated or out of order", c.file.Path, lineNo, label)
			}
			continue
		}
		last = n
		if n >= 0 {
			count++
		}
		k, err := parseCPULine(fields, &v)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("parse %s: line %d: %w", c.file.Path, lineNo, err)
			}
			continue
		}
		paths := c.modePaths(n + 1)
		for m := 0; m < k; m++ {
			s.Counter(paths[m], v[m])
		}
	}
	if count == 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("parse %s: no cpuN lines", c.file.Path)
		}
		return firstErr
	}
	s.GaugeInt("cpu.cpu_count", uint64(count))
	return firstErr
}
