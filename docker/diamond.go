// SPDX-License-Identifier: Apache-2.0

package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/cgroup"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// DiamondFactory is the registry row of Diamond's DockerCollector
// (docs/metrics.md, docker), off by default; config key docker = true or
// --collectors docker turns it on.
//
// The counts come from the cache's last refresh (GET /containers/json?all=1,
// /images/json, /images/json?all=1&filters={"dangling":["true"]}); nothing
// is published while the daemon has not answered for 5 minutes.
//
// Per running container the values are read from its cgroup files instead
// of the stats API (one stats call per container per cycle would be slow
// and could hang); they are the same numbers the daemon's stats report:
//
//	RSS_byte, cache_byte, swap_byte    memory.stat total_rss, total_cache, total_swap
//	pagein_count, pageout_count        memory.stat total_pgpgin, total_pgpgout
//	cpu.total                          cpuacct.usage (ns)       v2: cpu.stat usage_usec*1000
//	cpu.usermode, cpu.kernelmode       cpuacct.stat user/system ticks * 1e9/USER_HZ
//	                                                            v2: user_usec, system_usec *1000
//	cpu.system                         host /proc/stat "cpu" user..softirq ticks * 1e9/USER_HZ
//
// all cumulative gauges, as Diamond publishes them. On cgroup v2 the memory
// keys do not exist and are skipped (as Diamond skips them).
//
// cache is called when the collector is built, only if it is selected.
func DiamondFactory(cache func() (*Cache, error)) collect.Factory {
	return collect.Factory{
		Name:    "docker",
		Default: false,
		Paths: []string{
			"docker.<containers_running_count|containers_stopped_count|images_count|images_dangling_count>",
			"docker.containers.<name>.<RSS_byte|cache_byte|swap_byte|pagein_count|pageout_count>",
			"docker.containers.<name>.cpu.<total|kernelmode|usermode|system>",
		},
		New: func(d collect.Deps) (collect.Collector, error) {
			c, err := cache()
			if err != nil {
				return nil, err
			}
			return &diamond{h: d.Host, cache: c, names: collect.NewUnique(collect.Dotted), stat: d.StatFile()}, nil
		},
	}
}

type diamond struct {
	h     collect.Host
	cache *Cache
	buf   kernfile.Buf    // one buffer for every container's files
	vals  [5]cgroup.Value // the keys of the file read last
	names *collect.Unique // <name> of each running container, distinct
	stat  *kernfile.StatReader
	st    kernfile.Stat // host /proc/stat, for cpu.system
}

const userHZ = 100

func (d *diamond) Collect(_ context.Context, s *collect.Sample) error {
	snap := d.cache.Snapshot()
	if snap == nil || time.Since(snap.At) > 5*time.Minute {
		return collect.ErrNoData
	}
	s.GaugeInt("docker.containers_running_count", uint64(snap.RunningCount))
	s.GaugeInt("docker.containers_stopped_count", uint64(snap.StoppedCount))
	if snap.ImagesOK {
		s.GaugeInt("docker.images_count", uint64(snap.ImagesCount))
		s.GaugeInt("docker.images_dangling_count", uint64(snap.DanglingCount))
	}
	sysNS, haveSys := d.systemCPU(s.Time)
	ids := append([]string(nil), snap.Running...)
	sort.Slice(ids, func(i, j int) bool { return snap.DockerNames[ids[i]] < snap.DockerNames[ids[j]] })
	// Diamond publishes the name as is (a dot adds a level); each node goes
	// through the naming rules and the collision rule keeps two containers
	// apart (Docker allows both "a..b" and "a._.b").
	for _, id := range ids {
		name := snap.DockerNames[id]
		if name == "" {
			name = id[:min(12, len(id))]
		}
		d.names.Want(id, name, id)
	}
	d.names.Resolve()
	lay, _ := cgroup.Detect(d.h.Sys) // no hierarchy: no per-container values
	var firstErr error
	for _, id := range ids {
		p := "docker.containers." + d.names.Name(id) + "."
		if err := d.container(s, lay, p, id); err != nil && firstErr == nil {
			firstErr = err
		}
		if haveSys {
			s.GaugeInt(p+"cpu.system", sysNS)
		}
	}
	return firstErr
}

// cgroupDir finds the container's directory below a controller root
// (cgroupfs driver: docker/<id>; systemd driver: system.slice/docker-<id>.scope).
func cgroupDir(root, id string) string {
	if root == "" {
		return ""
	}
	for _, rel := range []string{"docker/" + id, "system.slice/docker-" + id + ".scope"} {
		d := filepath.Join(root, rel)
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return ""
}

// Diamond's keys of the container's cgroup files, in publishing order.
var (
	diamondMemKeys  = []string{"total_rss", "total_cache", "total_swap", "total_pgpgin", "total_pgpgout"}
	diamondMemNames = []string{"RSS_byte", "cache_byte", "swap_byte", "pagein_count", "pageout_count"}
	diamondV2CPU    = []string{"usage_usec", "system_usec", "user_usec"}
	diamondV1CPU    = []string{"system", "user"}
)

// container publishes one container's values below p. A file that cannot
// be read is skipped (the container may have stopped since the cache's
// list); a file that cannot be parsed is the cycle's error.
func (d *diamond) container(s *collect.Sample, lay cgroup.Layout, p, id string) error {
	root := func(c cgroup.Ctrl) string {
		if i := lay.Index(c); i >= 0 {
			return lay.Roots[i].Path
		}
		return ""
	}
	var firstErr error
	kv := func(path string, keys []string) bool {
		b, err := d.buf.Read(path)
		if err != nil {
			return false
		}
		if err := cgroup.ParseKV(b, keys, d.vals[:len(keys)]); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("parse %s: %w", path, err)
		}
		return true
	}
	v := &d.vals
	if lay.V2 {
		// cgroup v2: CPU only.
		if dir := cgroupDir(root(cgroup.CPUAcct), id); dir != "" && kv(filepath.Join(dir, "cpu.stat"), diamondV2CPU) {
			for i, name := range []string{"cpu.total", "cpu.kernelmode", "cpu.usermode"} {
				if v[i].OK {
					s.GaugeInt(p+name, v[i].V*1000)
				}
			}
		}
		return firstErr
	}
	if dir := cgroupDir(root(cgroup.Memory), id); dir != "" && kv(filepath.Join(dir, "memory.stat"), diamondMemKeys) {
		for i, name := range diamondMemNames {
			if v[i].OK {
				s.GaugeInt(p+name, v[i].V)
			}
		}
	}
	if dir := cgroupDir(root(cgroup.CPUAcct), id); dir != "" {
		usage := filepath.Join(dir, "cpuacct.usage")
		if b, err := d.buf.Read(usage); err == nil {
			if n, _, err := cgroup.ParseSingle(b); err == nil {
				s.GaugeInt(p+"cpu.total", n)
			} else if firstErr == nil {
				firstErr = fmt.Errorf("parse %s: %w", usage, err)
			}
		}
		if kv(filepath.Join(dir, "cpuacct.stat"), diamondV1CPU) {
			for i, name := range []string{"cpu.kernelmode", "cpu.usermode"} {
				if v[i].OK {
					s.GaugeInt(p+name, v[i].V*(1e9/userHZ))
				}
			}
		}
	}
	return firstErr
}

// systemCPU is Docker's system_cpu_usage: the host's /proc/stat "cpu" line,
// user nice system idle iowait irq softirq, in ns, at sample time t.
func (d *diamond) systemCPU(t time.Time) (uint64, bool) {
	if d.stat.Read(t, &d.st) != nil {
		return 0, false
	}
	tot, ok := d.st.Total()
	if !ok || tot.Cols < 7 {
		return 0, false
	}
	var sum uint64
	for _, v := range tot.Ticks[:7] {
		sum += v
	}
	return sum * (1e9 / userHZ), true
}
