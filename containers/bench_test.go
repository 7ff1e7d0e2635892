// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"

	"github.com/nodemetrics/nodemetrics/collect"
)

// synthHost writes a host with n Docker containers (systemd driver) in a
// temp dir, cgroup v2 or v1, each with its own pid and network namespace,
// and returns the files a cycle reads (for the read-only baseline).
func synthHost(b *testing.B, v2 bool, n int) (collect.Host, []string, []string) {
	d := b.TempDir()
	h := collect.Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: d}
	var files, stats []string
	w := func(p, s string) {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cg := filepath.Join(h.Sys, "fs", "cgroup")
	if v2 {
		w(filepath.Join(cg, "cgroup.controllers"), "cpu io memory pids\n")
	} else {
		w(filepath.Join(cg, "cpu", "cpu.shares"), "1024\n")
		w(filepath.Join(cg, "cpuacct", "cpuacct.usage"), "1\n")
		w(filepath.Join(cg, "memory", "memory.usage_in_bytes"), "1\n")
		w(filepath.Join(cg, "blkio", "cgroup.procs"), "")
		w(filepath.Join(cg, "pids", "cgroup.procs"), "")
	}
	w(filepath.Join(h.Proc, "1", "ns", "net"), "host")
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%064x", i+1)
		rel := "system.slice/docker-" + id + ".scope"
		pid := 1000 + i
		add := func(ctrl, f, content string) {
			p := filepath.Join(cg, ctrl, rel, f)
			w(p, content)
			files = append(files, p)
		}
		procs := fmt.Sprintf("%d\n%d\n", pid, pid+100000)
		if v2 {
			add("", "cpu.stat", "usage_usec 4523012\nuser_usec 3012000\nsystem_usec 1511012\ncore_sched.force_idle_usec 0\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n")
			add("", "memory.current", "52428800\n")
			add("", "memory.stat", v2MemStat)
			add("", "memory.max", "max\n")
			add("", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
			add("", "io.stat", "8:0 rbytes=90112 wbytes=4096 rios=6 wios=1 dbytes=0 dios=0\n")
			add("", "pids.current", "3\n")
			add("", "cgroup.procs", procs)
		} else {
			add("cpuacct", "cpuacct.usage", "4523012345\n")
			add("cpuacct", "cpuacct.stat", "user 301\nsystem 150\n")
			add("cpu", "cpu.stat", "nr_periods 0\nnr_throttled 0\nthrottled_time 0\nnr_bursts 0\nburst_time 0\n")
			add("memory", "memory.usage_in_bytes", "52428800\n")
			add("memory", "memory.stat", v1MemStat)
			add("memory", "memory.limit_in_bytes", "9223372036854771712\n")
			add("memory", "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
			add("blkio", "blkio.throttle.io_service_bytes_recursive", "8:0 Read 90112\n8:0 Write 4096\n8:0 Sync 4096\n8:0 Async 90112\n8:0 Discard 0\n8:0 Total 94208\nTotal 94208\n")
			add("blkio", "blkio.throttle.io_serviced_recursive", "8:0 Read 6\n8:0 Write 1\n8:0 Sync 1\n8:0 Async 6\n8:0 Discard 0\n8:0 Total 7\nTotal 7\n")
			add("pids", "pids.current", "3\n")
			add("memory", "cgroup.procs", procs)
		}
		ns := filepath.Join(h.Proc, fmt.Sprint(pid), "ns", "net")
		w(ns, id)
		stats = append(stats, ns)
		dev := filepath.Join(h.Proc, fmt.Sprint(pid), "net", "dev")
		w(dev, benchNetDev)
		files = append(files, dev)
	}
	return h, files, stats
}

const benchNetDev = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
	"    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0\n" +
	"  eth0:    3242      40    0    0    0     0          0         0    20199      38    0    0    0     0       0          0\n"

const v2MemStat = "anon 41943040\nfile 8388608\nkernel 163840\nkernel_stack 16384\npagetables 40960\nsec_pagetables 0\npercpu 480\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\nfile_mapped 0\nfile_dirty 0\nfile_writeback 0\nswapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 41943040\nactive_anon 0\ninactive_file 4194304\nactive_file 4194304\nunevictable 0\nslab_reclaimable 0\nslab_unreclaimable 0\nslab 0\nworkingset_refault_anon 0\nworkingset_refault_file 0\npgscan 0\npgsteal 0\npgfault 1200\npgmajfault 0\n"

const v1MemStat = "cache 8388608\nrss 41943040\nrss_huge 0\nshmem 0\nmapped_file 0\ndirty 0\nwriteback 0\npgpgin 100\npgpgout 10\npgfault 1200\npgmajfault 0\ninactive_anon 41943040\nactive_anon 0\ninactive_file 4194304\nactive_file 4194304\nunevictable 0\nhierarchical_memory_limit 9223372036854771712\ntotal_cache 8388608\ntotal_rss 41943040\ntotal_rss_huge 0\ntotal_shmem 0\ntotal_mapped_file 0\ntotal_dirty 0\ntotal_writeback 0\ntotal_pgpgin 100\ntotal_pgpgout 10\ntotal_pgfault 1200\ntotal_pgmajfault 0\ntotal_inactive_anon 41943040\ntotal_active_anon 0\ntotal_inactive_file 4194304\ntotal_active_file 4194304\ntotal_unevictable 0\n"

const benchN = 1000

func benchCollect(b *testing.B, v2 bool) {
	h, _, _ := synthHost(b, v2, benchN)
	c := newTest(b, h, Options{})
	s := collect.NewSample(time.Unix(1000, 0), false, collect.State{})
	if err := c.Collect(context.Background(), s); err != nil {
		b.Fatal(err)
	}
	ts := int64(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts += 10
		s.Reset(time.Unix(ts, 0))
		if err := c.Collect(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
	if got := s.Mark(); got < benchN*20 {
		b.Fatalf("%d metrics", got)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchN, "ns/container")
}

// benchRead is the baseline: only reading the same files with a reused
// buffer and stat-ing the same namespace links.
func benchRead(b *testing.B, v2 bool) {
	_, files, stats := synthHost(b, v2, benchN)
	var buf kernfile.Buf
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, f := range files {
			if _, err := buf.Read(f); err != nil {
				b.Fatal(err)
			}
		}
		for _, f := range stats {
			if _, err := inode(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchN, "ns/container")
}

func BenchmarkCollect1000V2(b *testing.B) { benchCollect(b, true) }
func BenchmarkRead1000V2(b *testing.B)    { benchRead(b, true) }
func BenchmarkCollect1000V1(b *testing.B) { benchCollect(b, false) }
func BenchmarkRead1000V1(b *testing.B)    { benchRead(b, false) }
