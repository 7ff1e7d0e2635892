// SPDX-License-Identifier: Apache-2.0

package containers

import "github.com/nodemetrics/nodemetrics/collectors"

// cgroup v2 keys read from the flat files.
var (
	v2CPUKeys    = []string{"usage_usec", "user_usec", "system_usec", "nr_throttled", "throttled_usec"}
	v2MemKeys    = []string{"anon", "file", "inactive_file"}
	v2EventsKeys = []string{"oom_kill"}
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
func (c *collector) readV2(s *collectors.Sample, ct *container) {
	p := &ct.paths
	if found, ok := c.kv(&ct.f.cpuStat, v2CPUKeys); ok {
		v := &c.vals
		if found&1 != 0 {
			usec(s, p[mCPUTotal], v[0], pctOfCPU)
		}
		if found&2 != 0 {
			usec(s, p[mCPUUser], v[1], pctOfCPU)
		}
		if found&4 != 0 {
			usec(s, p[mCPUSystem], v[2], pctOfCPU)
		}
		if found&8 != 0 {
			s.Counter(p[mThrottledPeriods], v[3])
		}
		if found&16 != 0 {
			usec(s, p[mThrottledSeconds], v[4], seconds)
		}
	}
	usage, _, haveUsage := c.single(&ct.f.memUsage)
	found, haveStat := c.kv(&ct.f.memStat, v2MemKeys)
	haveStat = haveStat && found&3 == 3
	c.memory(s, ct, usage, haveUsage, c.vals[0], c.vals[1], c.vals[2], haveStat)
	c.limit(s, ct)
	if found, ok := c.kv(&ct.f.memOOM, v2EventsKeys); ok && found&1 != 0 {
		s.GaugeInt(p[mMemOOMKills], c.vals[0])
		ct.oom, ct.haveOOM = c.vals[0], true
	}
	if b, ok := c.read(&ct.f.ioStat); ok {
		t, err := parseIOStat(b)
		if err != nil {
			c.failParse(ct.f.ioStat.Path, err)
		}
		s.Counter(p[mIOReadBytes], t.rbytes)
		s.Counter(p[mIOWriteBytes], t.wbytes)
		s.Counter(p[mIOReads], t.rios)
		s.Counter(p[mIOWrites], t.wios)
	}
	c.pids(s, ct)
}
