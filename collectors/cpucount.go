// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// onlineCPUs counts the online CPUs the way glibc's get_nprocs does, which
// is what Diamond's load normalisation divides by (docs/metrics.md, loadavg):
// the ranges of <sysfs>/devices/system/cpu/online ("0-3,8-11"), else the
// number of cpuN lines of <procfs>/stat. Not the affinity mask, not
// runtime.NumCPU: inside a container those describe the container.
type onlineCPUs struct {
	online, stat kernfile.File
	buf          kernfile.Buf
}

func newOnlineCPUs(h collect.Host) onlineCPUs {
	return onlineCPUs{online: kernfile.File{Path: h.SysPath("devices/system/cpu/online")}, stat: kernfile.File{Path: h.ProcPath("stat")}}
}

func (o *onlineCPUs) count() (int, error) {
	if b, err := o.buf.ReadFile(&o.online); err == nil {
		if n, err := parseCPUList(b); err == nil {
			return n, nil
		}
	}
	b, err := o.buf.ReadFile(&o.stat)
	if err != nil {
		return 0, err
	}
	n := 0
	for rest := b; len(rest) > 0; {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		if len(line) > 3 && bytes.HasPrefix(line, []byte("cpu")) && line[3] >= '0' && line[3] <= '9' {
			n++
		}
	}
	if n == 0 {
		return 0, fmt.Errorf("no cpuN lines in %s", o.stat.Path)
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
