// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// pressure publishes the host's pressure stall information (PSI, kernel
// 4.20+) from /proc/pressure/{cpu,memory,io}. Diamond has no such
// collector; the paths are ours (docs/metrics.md, pressure):
//
//	some avg10=1.50 avg60=0.80 avg300=0.20 total=123456789
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
//	-> pressure.cpu.some.avg10 1.5 ... pressure.cpu.some.stalled_percentage
//
// stalled_percentage is the share of the last interval some (full: all
// non-idle) tasks were stalled, from the growth of total (µs) over the
// elapsed time: exact over the interval, where the kernel's avg10/60/300
// are decaying averages. In --counters mode it is total itself, in µs.
// A missing file (kernel without PSI, or psi=0) is no data, not an error.
type pressure struct {
	files [3]*kernfile.File // kept open, as every host file
	paths [3][2][4]string   // resource, some/full, avg10/avg60/avg300/stalled
	buf   kernfile.Buf
}

var pressureResources = [3]string{"cpu", "memory", "io"}

func newPressure(d collect.Deps) (collect.Collector, error) {
	c := &pressure{}
	for i, r := range pressureResources {
		c.files[i] = d.File(d.Host.ProcPath("pressure", r))
		PressurePaths(&c.paths[i], "pressure."+r+".")
	}
	return c, nil
}

// PressurePaths fills the paths of one resource below prefix:
// <some|full>.<avg10|avg60|avg300|stalled_percentage>.
func PressurePaths(p *[2][4]string, prefix string) {
	for k, kind := range [2]string{"some", "full"} {
		for j, m := range [4]string{"avg10", "avg60", "avg300", "stalled_percentage"} {
			p[k][j] = prefix + kind + "." + m
		}
	}
}

func (c *pressure) Collect(_ context.Context, s *collect.Sample) error {
	missing := 0
	var errs []error
	for i := range c.files {
		f := c.files[i]
		b, err := c.buf.ReadFile(f)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.EOPNOTSUPP) {
				missing++ // no PSI; or booted with psi=0: the files exist, reads fail
				continue
			}
			errs = append(errs, err)
			continue
		}
		if err := PublishPressure(s, b, &c.paths[i]); err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", f.Path, err))
		}
	}
	if missing == len(c.files) {
		return collect.ErrNoData
	}
	return errors.Join(errs...)
}

// PublishPressure publishes one pressure file's content under paths (see
// PressurePaths); the container collector uses it for cgroup2 files.
func PublishPressure(s *collect.Sample, b []byte, paths *[2][4]string) error {
	some, full, hasSome, hasFull, err := kernfile.ParsePressure(b)
	if err != nil {
		return err
	}
	if hasSome {
		publishPressure(s, &some, &paths[0])
	}
	if hasFull {
		publishPressure(s, &full, &paths[1])
	}
	return nil
}

func publishPressure(s *collect.Sample, p *kernfile.Pressure, paths *[4]string) {
	s.Gauge(paths[0], p.Avg10)
	s.Gauge(paths[1], p.Avg60)
	s.Gauge(paths[2], p.Avg300)
	if s.Raw {
		s.Counter(paths[3], p.Total)
		return
	}
	if d, ok := s.Delta(paths[3], p.Total); ok {
		if el, ok := s.Elapsed(); ok {
			s.Gauge(paths[3], float64(d)/el/1e4) // µs per s -> % of time
		}
	}
}
