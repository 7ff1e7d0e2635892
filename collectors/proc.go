// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"
	"log/slog"
)

// proc publishes the scheduler counters of /proc/stat as Diamond's
// ProcessStatCollector does (spec/metrics.md §14):
//
//	ctxt 420045          -> proc.ctxt (switches/s)
//	processes 2492       -> proc.processes (forks/s)
//	procs_running 1      -> proc.procs_running (gauge)
//	procs_blocked 0      -> proc.procs_blocked (gauge)
//	btime 1795414000     -> proc.btime (gauge, epoch s)
type proc struct {
	file string
	buf  fileBuf
}

func newProc(h Host, _ *slog.Logger) (Collector, error) {
	return &proc{file: h.ProcPath("stat")}, nil
}

// procKeys maps a /proc/stat key to its path and whether it is a counter.
var procKeys = []struct {
	key, path string
	counter   bool
}{
	{"ctxt", "proc.ctxt", true},
	{"processes", "proc.processes", true},
	{"procs_running", "proc.procs_running", false},
	{"procs_blocked", "proc.procs_blocked", false},
	{"btime", "proc.btime", false},
}

func (c *proc) Collect(_ context.Context, s *Sample) error {
	b, err := c.buf.read(c.file)
	if err != nil {
		return err
	}
	var firstErr error
	var seen [5]bool
	for rest, lineNo := b, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = nextLine(rest)
		key, fields := nextField(line)
		for i, k := range procKeys {
			if seen[i] || string(key) != k.key {
				continue
			}
			f, _ := nextField(fields)
			v, ok := parseUint(f)
			if !ok {
				if firstErr == nil {
					firstErr = fmt.Errorf("parse %s: line %d: bad %s value %q", c.file, lineNo, k.key, f)
				}
				break
			}
			seen[i] = true
			if k.counter {
				s.Counter(k.path, v)
			} else {
				s.GaugeInt(k.path, v)
			}
		}
	}
	return firstErr
}
