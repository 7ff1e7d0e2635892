// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/cgroup"
)

// cgroup v2 keys read from the flat files, and their indexes in c.vals.
var (
	v2CPUKeys    = []string{"usage_usec", "user_usec", "system_usec", "nr_throttled", "throttled_usec"}
	v2MemKeys    = []string{"anon", "file", "inactive_file"}
	v2EventsKeys = []string{"oom_kill"}
)

const (
	v2Usage, v2User, v2System, v2NrThrottled, v2Throttled = 0, 1, 2, 3, 4 // cpu.stat (µs)
	v2Anon, v2File, v2InactiveFile                        = 0, 1, 2       // memory.stat
	v2OOMKill                                             = 0             // memory.events
)

// readV2 publishes one container of a cgroup v2 host:
//
//	cpu.stat       usage_usec 4523012 / user_usec / system_usec / nr_throttled / throttled_usec
//	memory.current 52428800;  memory.max max;  memory.events oom_kill 0
//	memory.stat    anon 50331648 / file 2097152 / inactive_file 1048576
//	io.stat        8:0 rbytes=90112 wbytes=0 rios=6 wios=0
//	pids.current   3
//
// cpu.stat exists in every v2 cgroup (usage without the cpu controller;
// the throttling keys only with it); the other files only when their
// controller is enabled for the parent.
func (c *collector) readV2(s *collect.Sample, ct *container) {
	v := &c.vals
	if c.kv(ct, fCPUStat, v2CPUKeys) {
		if v[v2Usage].OK {
			usec(s, ct, mCPUTotal, v[v2Usage].V, pctOfCPU)
		}
		if v[v2User].OK {
			usec(s, ct, mCPUUser, v[v2User].V, pctOfCPU)
		}
		if v[v2System].OK {
			usec(s, ct, mCPUSystem, v[v2System].V, pctOfCPU)
		}
		if v[v2NrThrottled].OK {
			s.CounterAt(&ct.counters, mThrottledPeriods, v[v2NrThrottled].V)
		}
		if v[v2Throttled].OK {
			usec(s, ct, mThrottledSeconds, v[v2Throttled].V, seconds)
		}
	}
	usage, _, haveUsage := c.single(ct, fMemUsage)
	haveStat := c.kv(ct, fMemStat, v2MemKeys) && v[v2Anon].OK && v[v2File].OK
	c.memory(s, ct, usage, haveUsage, v[v2Anon].V, v[v2File].V, v[v2InactiveFile].V, haveStat)
	c.limit(s, ct)
	if c.kv(ct, fMemOOM, v2EventsKeys) && v[v2OOMKill].OK {
		s.GaugeInt(metricNames[mMemOOMKills], v[v2OOMKill].V)
		ct.oom, ct.haveOOM = v[v2OOMKill].V, true
	}
	if b, ok := c.read(ct, fIOStat); ok {
		t, err := cgroup.ParseIOStat(b)
		if err != nil {
			c.failParse(c.pathOf(ct, fIOStat), err)
		}
		s.CounterAt(&ct.counters, mIOReadBytes, t.ReadBytes)
		s.CounterAt(&ct.counters, mIOWriteBytes, t.WriteBytes)
		s.CounterAt(&ct.counters, mIOReads, t.Reads)
		s.CounterAt(&ct.counters, mIOWrites, t.Writes)
	}
	c.pids(s, ct)
}
