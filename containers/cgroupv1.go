// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/cgroup"
)

// cgroup v1 keys read from the flat files, and their indexes in c.vals.
var (
	v1CPUAcctKeys = []string{"user", "system"}
	v1CPUKeys     = []string{"nr_throttled", "throttled_time"}
	// total_* are hierarchical (include child cgroups), like usage_in_bytes;
	// the plain keys are the fallback for kernels or fixtures without them.
	v1MemKeys = []string{"total_rss", "total_cache", "total_inactive_file", "rss", "cache", "inactive_file"}
	v1OOMKeys = []string{"oom_kill"}
)

const (
	v1User, v1System             = 0, 1 // cpuacct.stat
	v1NrThrottled, v1ThrottledNS = 0, 1 // cpu.stat
	// memory.stat
	v1TotalRSS, v1TotalCache, v1TotalInactiveFile, v1RSS, v1Cache, v1InactiveFile = 0, 1, 2, 3, 4, 5
	v1OOMKill                                                                     = 0 // memory.oom_control
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
func (c *collector) readV1(s *collect.Sample, ct *container) {
	if v, _, ok := c.single(ct, fCPUAcctUsage); ok {
		usec(s, ct, mCPUTotal, v/1000, pctOfCPU)
	}
	v := &c.vals
	if c.kv(ct, fCPUAcctStat, v1CPUAcctKeys) {
		if v[v1User].OK {
			usec(s, ct, mCPUUser, v[v1User].V*usecPerTick, pctOfCPU)
		}
		if v[v1System].OK {
			usec(s, ct, mCPUSystem, v[v1System].V*usecPerTick, pctOfCPU)
		}
	}
	if c.kv(ct, fCPUStat, v1CPUKeys) {
		if v[v1NrThrottled].OK {
			s.CounterAt(&ct.counters, mThrottledPeriods, v[v1NrThrottled].V)
		}
		if v[v1ThrottledNS].OK {
			usec(s, ct, mThrottledSeconds, v[v1ThrottledNS].V/1000, seconds)
		}
	}
	usage, _, haveUsage := c.single(ct, fMemUsage)
	haveStat := c.kv(ct, fMemStat, v1MemKeys)
	rss, cache, inactive := v[v1TotalRSS].V, v[v1TotalCache].V, v[v1TotalInactiveFile].V
	switch {
	case v[v1TotalRSS].OK && v[v1TotalCache].OK:
	case v[v1RSS].OK && v[v1Cache].OK:
		rss, cache, inactive = v[v1RSS].V, v[v1Cache].V, v[v1InactiveFile].V
	default:
		haveStat = false
	}
	c.memory(s, ct, usage, haveUsage, rss, cache, inactive, haveStat)
	c.limit(s, ct)
	if c.kv(ct, fMemOOM, v1OOMKeys) && v[v1OOMKill].OK {
		s.GaugeInt(metricNames[mMemOOMKills], v[v1OOMKill].V)
		ct.oom, ct.haveOOM = v[v1OOMKill].V, true
	}
	c.blkio(s, ct, fBlkioBytes, mIOReadBytes, mIOWriteBytes)
	c.blkio(s, ct, fBlkioIOs, mIOReads, mIOWrites)
	c.pids(s, ct)
}

// blkio publishes the read and write totals of file i as the counters
// of metrics r and w.
func (c *collector) blkio(s *collect.Sample, ct *container, i, r, w int) {
	b, ok := c.read(ct, i)
	if !ok {
		return
	}
	rv, wv, err := cgroup.ParseBlkio(b)
	if err != nil {
		c.failParse(c.pathOf(ct, i), err)
	}
	s.CounterAt(&ct.counters, r, rv)
	s.CounterAt(&ct.counters, w, wv)
}
