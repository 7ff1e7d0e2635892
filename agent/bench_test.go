// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bufio"
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/collectors"
)

type discard struct{}

func (discard) Enqueue([]byte, int) {}

// BenchmarkCycleHost is one whole collection cycle of every collector over
// this machine's real /proc, /sys and mounts, formatting included. Compare
// it with BenchmarkReadHostFiles, the floor: reading the same files.
func BenchmarkCycleHost(b *testing.B) {
	a, err := New(Options{Host: collect.DefaultHost(), Factories: collectors.Registry(nil),
		Prefix: "servers", Hostname: "bench", Interval: time.Minute, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	t := time.Now()
	a.Cycle(ctx, t, t.Unix(), time.Minute, discard{}) // warm: the first cycle sizes buffers
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		t = t.Add(time.Second)
		a.Cycle(ctx, t, t.Unix(), time.Minute, discard{})
	}
	reportCPU(b, cpu)
}

// cpuTime is the CPU time this process used so far (user + system). The
// cycle runs its collectors in parallel, so wall time per op flatters it:
// CPU per cycle is the figure to compare with the floor.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(b.N), "cpu-ns/op")
}

// hostFiles are the files one cycle reads (/proc/stat once: cpu, proc and
// loadavg share one read, kernfile.StatReader).
var hostFiles = []string{
	"/proc/stat", "/proc/meminfo", "/proc/loadavg", "/sys/devices/system/cpu/online", "/proc/vmstat",
	"/proc/1/mountinfo", "/proc/diskstats", "/proc/1/net/dev", "/proc/1/net/sockstat", "/proc/1/net/sockstat6",
	"/proc/1/net/netstat", "/proc/1/net/snmp", "/proc/sys/kernel/random/entropy_avail",
	"/proc/sys/fs/file-nr", "/proc/interrupts", "/proc/uptime",
}

// BenchmarkReadHostFiles is the floor: open, read and close every file of
// a cycle into a reused buffer and statfs each real mount point, with no
// parsing at all.
func BenchmarkReadHostFiles(b *testing.B) {
	buf := make([]byte, 64<<10)
	var mounts []string
	if f, err := os.Open("/proc/1/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 8 && strings.HasPrefix(fields[len(fields)-2], "/dev/") {
				mounts = append(mounts, fields[4])
			}
		}
		f.Close()
	}
	var st syscall.Statfs_t
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	defer func() { reportCPU(b, cpu) }()
	for i := 0; i < b.N; i++ {
		for _, p := range hostFiles {
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			for {
				if _, err := f.Read(buf); err == io.EOF || err != nil {
					break
				}
			}
			f.Close()
		}
		for _, m := range mounts {
			syscall.Statfs(m, &st)
		}
	}
}
