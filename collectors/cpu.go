// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// cpuModes are the columns of a /proc/stat cpu line, in kernel order. Old
// kernels have fewer (4, 7, 8 or 9); only those present are published.
var cpuModes = [kernfile.CPUColumns]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}

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
	stat  *kernfile.StatReader
	st    kernfile.Stat
	paths [][len(cpuModes)]string // paths[0] = total, paths[i+1] = cpu<i>
}

func newCPU(d collect.Deps) (collect.Collector, error) {
	return &cpu{stat: d.StatFile()}, nil
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

func (c *cpu) Collect(_ context.Context, s *collect.Sample) error {
	if err := c.stat.Read(s.Time, &c.st); err != nil {
		return err
	}
	for i := range c.st.CPUs {
		line := &c.st.CPUs[i]
		paths := c.modePaths(line.N + 1)
		for m := 0; m < line.Cols; m++ {
			s.Counter(paths[m], line.Ticks[m])
		}
	}
	var err error
	if c.st.CPUErr != nil {
		err = fmt.Errorf("parse %s: %w", c.stat.Path(), c.st.CPUErr)
	}
	count := c.st.OnlineCPUs()
	if count == 0 {
		if err == nil {
			err = fmt.Errorf("parse %s: no cpuN lines", c.stat.Path())
		}
		return err
	}
	s.GaugeInt("cpu.cpu_count", uint64(count))
	return err
}
