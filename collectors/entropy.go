// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// entropy publishes entropy.available (bits) from
// /proc/sys/kernel/random/entropy_avail, as Diamond's EntropyStatCollector
// (docs/metrics.md, entropy):
//
//	256   -> entropy.available 256
type entropy struct {
	file *kernfile.File
	buf  kernfile.Buf
}

func newEntropy(d collect.Deps) (collect.Collector, error) {
	return &entropy{file: d.File(d.Host.ProcPath("sys/kernel/random/entropy_avail"))}, nil
}

func (c *entropy) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	v, ok := kernfile.ParseUint(bytes.TrimSpace(b))
	if !ok {
		return fmt.Errorf("parse %s: bad value %q", c.file.Path, bytes.TrimSpace(b))
	}
	s.GaugeInt("entropy.available", v)
	return nil
}
