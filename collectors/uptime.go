// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// uptime publishes uptime.minutes from the first field of /proc/uptime
// (seconds since boot), as Diamond's UptimeCollector (docs/metrics.md, uptime):
//
//	350735.47 234388.90   -> uptime.minutes 5845.591166666667
type uptime struct {
	file *kernfile.File
	buf  kernfile.Buf
}

func newUptime(d collect.Deps) (collect.Collector, error) {
	return &uptime{file: d.File(d.Host.ProcPath("uptime"))}, nil
}

// parseUptime returns the seconds since boot.
func parseUptime(b []byte) (float64, error) {
	f, _ := kernfile.NextField(b)
	if n := len(f); n > 0 && f[n-1] == '\n' {
		f = f[:n-1]
	}
	secs, err := strconv.ParseFloat(string(f), 64)
	// !(secs >= 0) also refuses NaN; ParseFloat accepts "NaN" and "Inf".
	if err != nil || !(secs >= 0) || math.IsInf(secs, 0) {
		return 0, fmt.Errorf("bad uptime %q", f)
	}
	return secs, nil
}

func (c *uptime) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	line, _ := kernfile.NextLine(b)
	secs, err := parseUptime(line)
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, err)
	}
	s.Gauge("uptime.minutes", secs/60)
	return nil
}
