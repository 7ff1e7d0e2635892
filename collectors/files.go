// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// files publishes the file-handle counts of /proc/sys/fs/file-nr, as
// Diamond's FilestatCollector (docs/metrics.md, files):
//
//	1344	0	9223372036854775807   -> files.assigned, files.unused, files.max
//
// Diamond's per-user lsof mode is not implemented: a collector runs no
// external commands.
type files struct {
	file *kernfile.File
	buf  kernfile.Buf
}

func newFiles(d collect.Deps) (collect.Collector, error) {
	return &files{file: d.File(d.Host.ProcPath("sys/fs/file-nr"))}, nil
}

var filesPaths = [3]string{"files.assigned", "files.unused", "files.max"}

// parseFileNr reads the three counts of file-nr.
func parseFileNr(b []byte) ([3]uint64, error) {
	var v [3]uint64
	rest, _ := kernfile.NextLine(b)
	for i := range v {
		var f []byte
		f, rest = kernfile.NextField(rest)
		x, ok := kernfile.ParseUint(f)
		if !ok {
			return v, fmt.Errorf("field %d: bad value %q", i+1, f)
		}
		v[i] = x
	}
	return v, nil
}

func (c *files) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	v, err := parseFileNr(b)
	if err != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, err)
	}
	for i, p := range filesPaths {
		s.GaugeInt(p, v[i])
	}
	return nil
}
