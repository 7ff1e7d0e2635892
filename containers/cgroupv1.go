// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"github.com/nodemetrics/nodemetrics/collectors"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// cgroup v1 keys read from the flat files.
var (
	v1CPUAcctKeys = []string{"user", "system"}
	v1CPUKeys     = []string{"nr_throttled", "throttled_time"}
	// total_* are hierarchical (include child cgroups), like usage_in_bytes;
	// the plain keys are the fallback for kernels or fixtures without them.
	v1MemKeys = []string{"total_rss", "total_cache", "total_inactive_file", "rss", "cache", "inactive_file"}
	v1OOMKeys = []string{"oom_kill"}
)

// usecPerTick: cpuacct.stat counts USER_HZ (100) ticks of 10000 µs.
const usecPerTick = 1e6 / 100

// readV1 publishes one container of a legacy or hybrid cgroup v1 host; the
// same relative path is read under each controller's root:
//
//	cpuacct/<cg>/cpuacct.usage  4523012345 (ns)
//	cpuacct/<cg>/cpuacct.stat   user 301 / system 150 (USER_HZ ticks)
//	cpu/<cg>/cpu.stat           nr_periods 10 / nr_throttled 2 / throttled_time 5000000 (ns)
//	memory/<cg>/memory.usage_in_bytes, memory.limit_in_bytes, memory.stat, memory.oom_control
//	blkio/<cg>/blkio.throttle.io_service_bytes_recursive, io_serviced_recursive
//	pids/<cg>/pids.current
//
// CPU times are kept in microseconds as on v2, so raw mode publishes one
// unit on both.
func (c *collector) readV1(s *collectors.Sample, ct *container) {
	p := &ct.paths
	if v, _, ok := c.single(&ct.f.cpuacctUsage); ok {
		usec(s, p[mCPUTotal], v/1000, pctOfCPU)
	}
	if found, ok := c.kv(&ct.f.cpuacctStat, v1CPUAcctKeys); ok {
		if found&1 != 0 {
			usec(s, p[mCPUUser], c.vals[0]*usecPerTick, pctOfCPU)
		}
		if found&2 != 0 {
			usec(s, p[mCPUSystem], c.vals[1]*usecPerTick, pctOfCPU)
		}
	}
	if found, ok := c.kv(&ct.f.cpuStat, v1CPUKeys); ok {
		if found&1 != 0 {
			s.Counter(p[mThrottledPeriods], c.vals[0])
		}
		if found&2 != 0 {
			usec(s, p[mThrottledSeconds], c.vals[1]/1000, seconds)
		}
	}
	usage, _, haveUsage := c.single(&ct.f.memUsage)
	found, haveStat := c.kv(&ct.f.memStat, v1MemKeys)
	rss, cache, inactive := c.vals[0], c.vals[1], c.vals[2]
	switch {
	case found&3 == 3:
	case found&(8|16) == 8|16:
		rss, cache, inactive = c.vals[3], c.vals[4], c.vals[5]
	default:
		haveStat = false
	}
	c.memory(s, ct, usage, haveUsage, rss, cache, inactive, haveStat)
	c.limit(s, ct)
	if found, ok := c.kv(&ct.f.memOOM, v1OOMKeys); ok && found&1 != 0 {
		s.GaugeInt(p[mMemOOMKills], c.vals[0])
		ct.oom, ct.haveOOM = c.vals[0], true
	}
	c.blkio(s, &ct.f.blkioBytes, p[mIOReadBytes], p[mIOWriteBytes])
	c.blkio(s, &ct.f.blkioIOs, p[mIOReads], p[mIOWrites])
	c.pids(s, ct)
}

func (c *collector) blkio(s *collectors.Sample, file *kernfile.File, rpath, wpath string) {
	b, ok := c.read(file)
	if !ok {
		return
	}
	r, w, err := parseBlkio(b)
	if err != nil {
		c.failParse(file.Path, err)
	}
	s.Counter(rpath, r)
	s.Counter(wpath, w)
}
