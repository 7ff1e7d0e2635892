// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"fmt"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// onlineCPUs counts the online CPUs the way glibc's get_nprocs does, which
// is what Diamond's load normalisation divides by (docs/metrics.md, loadavg):
// the ranges of <sysfs>/devices/system/cpu/online ("0-3,8-11"), else the
// number of cpuN lines of <procfs>/stat. Not the affinity mask, not
// runtime.NumCPU: inside a container those describe the container.
//
// The ranges are read again only when the number of cpuN lines changes:
// the kernel prints a line for each online CPU, so a CPU brought on or off
// line changes both, and <procfs>/stat is read each cycle anyway (shared
// with the cpu collector through StatReader). A sysfs read each cycle was
// the one system call of the host cycle that must go through the
// scheduler's bookkeeping (kernfile reads sysfs so), and it woke the
// runtime's monitor thread (see internal/nowait).
type onlineCPUs struct {
	online *kernfile.File
	buf    kernfile.Buf
	stat   *kernfile.StatReader
	st     kernfile.Stat
	ranges int // the count of the online file's ranges; 0: not read, or unusable
	lines  int // the cpuN lines of stat when ranges was read
}

func newOnlineCPUs(d collect.Deps) onlineCPUs {
	return onlineCPUs{online: d.File(d.Host.SysPath("devices/system/cpu/online")), stat: d.StatFile()}
}

// count is the number of online CPUs at sample time t.
func (o *onlineCPUs) count(t time.Time) (int, error) {
	err := o.stat.Read(t, &o.st)
	lines := o.st.OnlineCPUs()
	if err == nil && lines > 0 && o.ranges > 0 && lines == o.lines {
		return o.ranges, nil
	}
	o.ranges = 0
	if b, rerr := o.buf.ReadFile(o.online); rerr == nil {
		if n, perr := parseCPUList(b); perr == nil {
			if err == nil && lines > 0 {
				o.ranges, o.lines = n, lines
			}
			return n, nil
		}
	}
	if err != nil {
		return 0, err
	}
	if lines == 0 {
		return 0, fmt.Errorf("no cpuN lines in %s", o.stat.Path())
	}
	return lines, nil
}

// parseCPUList counts the CPUs of a kernel cpu list such as "0-3,8,10-11".
func parseCPUList(b []byte) (int, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, fmt.Errorf("empty cpu list")
	}
	n := 0
	for _, part := range bytes.Split(b, []byte(",")) {
		lo, hi, isRange := bytes.Cut(part, []byte("-"))
		a, ok := kernfile.ParseUint(lo)
		if !ok {
			return 0, fmt.Errorf("bad cpu list %q", b)
		}
		z := a
		if isRange {
			if z, ok = kernfile.ParseUint(hi); !ok || z < a || z-a > 1<<20 {
				return 0, fmt.Errorf("bad cpu list %q", b)
			}
		}
		n += int(z-a) + 1
	}
	return n, nil
}
