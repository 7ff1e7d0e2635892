// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// proc publishes the scheduler counters of /proc/stat as Diamond's
// ProcessStatCollector does (docs/metrics.md, proc):
//
//	ctxt 420045          -> proc.ctxt (switches/s)
//	processes 2492       -> proc.processes (forks/s)
//	procs_running 1      -> proc.procs_running (gauge)
//	procs_blocked 0      -> proc.procs_blocked (gauge)
//	btime 1795414000     -> proc.btime (gauge, epoch s)
//
// Rates keep full precision (Diamond truncates them to integers, docs/metrics.md, differences). In
// raw mode ctxt and processes are the counts as read.
type proc struct {
	stat *kernfile.StatReader
	st   kernfile.Stat
}

func newProc(d collect.Deps) (collect.Collector, error) {
	return &proc{stat: d.StatFile()}, nil
}

// procPaths are the paths of kernfile.StatKeys, in that order, and whether
// each is a counter.
var procPaths = [len(kernfile.StatKeys)]struct {
	path    string
	counter bool
}{
	{"proc.ctxt", true},
	{"proc.processes", true},
	{"proc.procs_running", false},
	{"proc.procs_blocked", false},
	{"proc.btime", false},
}

func (c *proc) Collect(_ context.Context, s *collect.Sample) error {
	if err := c.stat.Read(s.Time, &c.st); err != nil {
		return err
	}
	found := false
	for i, k := range procPaths {
		if !c.st.Seen[i] {
			continue
		}
		found = true
		if k.counter {
			s.Counter(k.path, c.st.Keys[i])
		} else {
			s.GaugeInt(k.path, c.st.Keys[i])
		}
	}
	if c.st.KeysErr != nil {
		return fmt.Errorf("parse %s: %w", c.stat.Path(), c.st.KeysErr)
	}
	if !found {
		return fmt.Errorf("parse %s: no ctxt, processes, procs_* or btime line", c.stat.Path())
	}
	return nil
}
