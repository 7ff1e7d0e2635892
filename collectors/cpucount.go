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
type onlineCPUs struct {
	online *kernfile.File
	buf    kernfile.Buf
	stat   *kernfile.StatReader
	st     kernfile.Stat
}

func newOnlineCPUs(d collect.Deps) onlineCPUs {
	return onlineCPUs{online: d.File(d.Host.SysPath("devices/system/cpu/online")), stat: d.StatFile()}
}

// count is the number of online CPUs at sample time t.
func (o *onlineCPUs) count(t time.Time) (int, error) {
	if b, err := o.buf.ReadFile(o.online); err == nil {
		if n, err := parseCPUList(b); err == nil {
			return n, nil
		}
	}
	if err := o.stat.Read(t, &o.st); err != nil {
		return 0, err
	}
	n := o.st.OnlineCPUs()
	if n == 0 {
		return 0, fmt.Errorf("no cpuN lines in %s", o.stat.Path())
	}
	return n, nil
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
