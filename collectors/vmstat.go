// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"errors"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// vmstat publishes six counters of /proc/vmstat as per-second rates, as
// Diamond's VMStatCollector does (docs/metrics.md, vmstat):
//
//	pgfault 5912214
//
// -> vmstat.pgfault, vmstat.pgmajfault, vmstat.pgpgin, vmstat.pgpgout,
// vmstat.pswpin, vmstat.pswpout (raw counts in --counters mode). A key the
// file lacks is not published.
type vmstat struct {
	file *kernfile.File
	buf  kernfile.Buf
}

var vmstatKeys = [...]string{"pgfault", "pgmajfault", "pgpgin", "pgpgout", "pswpin", "pswpout"}

var vmstatPaths = [len(vmstatKeys)]string{
	"vmstat.pgfault", "vmstat.pgmajfault", "vmstat.pgpgin", "vmstat.pgpgout", "vmstat.pswpin", "vmstat.pswpout",
}

func vmstatIndex(name []byte) int {
	switch string(name) {
	case "pgfault":
		return 0
	case "pgmajfault":
		return 1
	case "pgpgin":
		return 2
	case "pgpgout":
		return 3
	case "pswpin":
		return 4
	case "pswpout":
		return 5
	}
	return -1
}

type vmstatValues struct {
	n    [len(vmstatKeys)]uint64
	have [len(vmstatKeys)]bool
}

func newVMStat(d collect.Deps) (collect.Collector, error) {
	return &vmstat{file: d.File(d.Host.ProcPath("vmstat"))}, nil
}

// parseVMStat reads the wanted "name value" lines; a wanted line with a
// bad value is reported (with its line number) and skipped.
func parseVMStat(b []byte) (vmstatValues, error) {
	var v vmstatValues
	var errs []error
	for n, rest := 1, b; len(rest) > 0; n++ {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		if len(line) == 0 || line[0] != 'p' {
			continue // every wanted key starts with 'p': skip the rest cheaply
		}
		name, r := kernfile.NextField(line)
		i := vmstatIndex(name)
		if i < 0 {
			continue
		}
		val, r := kernfile.NextField(r)
		extra, _ := kernfile.NextField(r)
		x, ok := kernfile.ParseUint(val)
		if !ok || len(extra) > 0 {
			errs = append(errs, fmt.Errorf("line %d: bad %s value %q", n, vmstatKeys[i], line))
			continue
		}
		v.n[i] = x
		v.have[i] = true
	}
	return v, errors.Join(errs...)
}

func (c *vmstat) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	v, perr := parseVMStat(b)
	for i := range vmstatKeys {
		if v.have[i] {
			s.Counter(vmstatPaths[i], v.n[i])
		}
	}
	if perr != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, perr)
	}
	if !v.have[0] && !v.have[2] {
		// pgpgin and pgfault exist on every kernel since 2.6.
		return fmt.Errorf("parse %s: no %s or %s line", c.file.Path, vmstatKeys[0], vmstatKeys[2])
	}
	return nil
}
