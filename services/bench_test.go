// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
)

// fixedList is a Lister over a fixed set of containers.
type fixedList []containers.Running

func (l fixedList) Running() []containers.Running { return l }
func (fixedList) Wait(context.Context)            {}

// bench100 starts 100 containers, each a memcached in a network namespace
// and a Docker-style cgroup of its own.
func bench100(b *testing.B) (*Collector, fixedList) {
	r := cgrouptest.New(b)
	var list fixedList
	for i := range 100 {
		name, nsPath := testNetns(b)
		id := cgrouptest.ID(b)
		rel := "system.slice/docker-" + id + ".scope"
		r.Mkdir(rel)
		cmd := exec.Command("sh", "-c", `read x; exec ip netns exec "$0" memcached -u nobody -l 127.0.0.1 -p 11211 -t 1`, name)
		r.Start(cmd, rel).Write([]byte("go\n"))
		list = append(list, containers.Running{ID: id, Name: "c" + strconv.Itoa(i), Node: "c" + strconv.Itoa(i), CgroupDir: filepath.Join(r.Roots[0], rel)})
		defer waitDial(b, nsPath, "127.0.0.1:11211")
	}
	return New(collect.DefaultHost(), Options{Containers: list}, nil), list
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDiscovery100: one discovery pass over 100 containers with one
// service each, plus the host's own /proc walk.
func BenchmarkDiscovery100(b *testing.B) {
	c, list := bench100(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		inst, err := c.discover(context.Background(), list, true)
		if err != nil || len(inst) < 100 {
			b.Fatalf("%d instances, %v", len(inst), err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
}

// BenchmarkProbeCycle100: one cycle's probes (setns dial, stats, parse)
// of 100 memcached in 100 namespaces, discovery done.
func BenchmarkProbeCycle100(b *testing.B) {
	c, list := bench100(b)
	inst, err := c.discover(context.Background(), list, true)
	if err != nil {
		b.Fatal(err)
	}
	c.instances = inst
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		for i, r := range c.probeAll(context.Background()) {
			if r.err != nil {
				b.Fatalf("%s: %v", c.instances[i].describe(), r.err)
			}
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
}
