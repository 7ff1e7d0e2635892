// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"
	"log/slog"

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
	file kernfile.File
	buf  kernfile.Buf
}

func newProc(h collect.Host, _ *slog.Logger) (collect.Collector, error) {
	return &proc{file: kernfile.File{Path: h.ProcPath("stat")}}, nil
}

// procKeys maps a /proc/stat key to its path and whether it is a counter.
var procKeys = [...]struct {
	key, path string
	counter   bool
}{
	{"ctxt", "proc.ctxt", true},
	{"processes", "proc.processes", true},
	{"procs_running", "proc.procs_running", false},
	{"procs_blocked", "proc.procs_blocked", false},
	{"btime", "proc.btime", false},
}

// procStat holds the procKeys values found in /proc/stat; seen[i] tells
// whether procKeys[i] was present and well formed.
type procStat struct {
	v    [len(procKeys)]uint64
	seen [len(procKeys)]bool
}

// parseProcStat picks the procKeys lines out of /proc/stat (the first of
// each, should one repeat). A bad value is reported with its line number
// and the other keys are still parsed.
func parseProcStat(b []byte, st *procStat) error {
	*st = procStat{}
	var firstErr error
	for rest, lineNo := b, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		key, fields := kernfile.NextField(line)
		if len(key) == 0 || key[0] < 'b' || key[0] > 'p' {
			continue // cpuN, intr, softirq lines are most of the file
		}
		for i := range procKeys {
			if st.seen[i] || string(key) != procKeys[i].key {
				continue
			}
			f, _ := kernfile.NextField(fields)
			v, ok := kernfile.ParseUint(f)
			if !ok {
				if firstErr == nil {
					firstErr = fmt.Errorf("line %d: bad %s value %q", lineNo, procKeys[i].key, f)
				}
				break
			}
			st.v[i], st.seen[i] = v, true
			break
		}
	}
	return firstErr
}

func (c *proc) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(&c.file)
	if err != nil {
		return err
	}
	var st procStat
	perr := parseProcStat(b, &st)
	found := false
	for i, k := range procKeys {
		if !st.seen[i] {
			continue
		}
		found = true
		if k.counter {
			s.Counter(k.path, st.v[i])
		} else {
			s.GaugeInt(k.path, st.v[i])
		}
	}
	if perr != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, perr)
	}
	if !found {
		return fmt.Errorf("parse %s: no ctxt, processes, procs_* or btime line", c.file.Path)
	}
	return nil
}
