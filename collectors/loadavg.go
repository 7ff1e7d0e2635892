// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// loadavg publishes the run-queue load averages of /proc/loadavg, as
// Diamond's LoadAverageCollector does (docs/metrics.md, loadavg):
//
//	0.21 0.37 0.39 1/719 19737
//
// -> loadavg.01 .05 .15 (gauges), loadavg.01_normalized .05_ .15_ (divided
// by the ONLINE CPU count, as glibc's get_nprocs does), and
// loadavg.processes_running / processes_total from the fourth field.
type loadavg struct {
	file *kernfile.File
	cpus onlineCPUs
	buf  kernfile.Buf
}

func newLoadavg(d collect.Deps) (collect.Collector, error) {
	return &loadavg{file: d.File(d.Host.ProcPath("loadavg")), cpus: newOnlineCPUs(d)}, nil
}

type loadavgValues struct {
	load           [3]float64
	running, total uint64
}

// parseLoadavg reads the five fields of /proc/loadavg.
func parseLoadavg(b []byte) (loadavgValues, error) {
	var v loadavgValues
	rest := b
	for i := range v.load {
		var f []byte
		f, rest = kernfile.NextField(rest)
		x, err := strconv.ParseFloat(string(f), 64)
		if err != nil || x < 0 {
			return v, fmt.Errorf("load average %d: bad value %q", i+1, f)
		}
		v.load[i] = x
	}
	f, _ := kernfile.NextField(rest)
	r, t, ok := bytes.Cut(f, []byte("/"))
	if !ok {
		return v, fmt.Errorf("tasks field: want R/T, got %q", f)
	}
	var okR, okT bool
	v.running, okR = kernfile.ParseUint(r)
	v.total, okT = kernfile.ParseUint(bytes.TrimSpace(t))
	if !okR || !okT {
		return v, fmt.Errorf("tasks field: bad numbers in %q", f)
	}
	return v, nil
}

func (c *loadavg) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	v, err := parseLoadavg(b)
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, err)
	}
	s.Gauge("loadavg.01", v.load[0])
	s.Gauge("loadavg.05", v.load[1])
	s.Gauge("loadavg.15", v.load[2])
	if n, err := c.cpus.count(s.Time); err == nil && n > 0 {
		s.Gauge("loadavg.01_normalized", v.load[0]/float64(n))
		s.Gauge("loadavg.05_normalized", v.load[1]/float64(n))
		s.Gauge("loadavg.15_normalized", v.load[2]/float64(n))
	}
	s.GaugeInt("loadavg.processes_running", v.running)
	s.GaugeInt("loadavg.processes_total", v.total)
	return nil
}
