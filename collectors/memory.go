// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"errors"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// memory publishes the /proc/meminfo lines Diamond's MemoryCollector keeps
// when `detailed` is unset (docs/metrics.md, memory), as byte gauges:
//
//	MemTotal:       24683620 kB
//
// -> memory.MemTotal 25276026880 (kB × 1024), and likewise for the other
// keys of memKeys that the file has; plus memory.MemUsedPercentage =
// 100·(MemTotal−MemAvailable)/MemTotal at full precision when both exist
// (MemAvailable needs kernel ≥ 3.14).
type memory struct {
	file *kernfile.File
	buf  kernfile.Buf
}

// memKeys are the meminfo names published, in publishing order; memPaths
// holds their metric paths at the same index.
var memKeys = [...]string{
	"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Active", "Dirty", "Inactive",
	"Shmem", "SwapTotal", "SwapFree", "SwapCached", "VmallocTotal", "VmallocUsed", "VmallocChunk",
	"Committed_AS",
}

var memPaths = func() (p [len(memKeys)]string) {
	for i, k := range memKeys {
		p[i] = "memory." + k
	}
	return p
}()

const (
	memTotal     = 0
	memAvailable = 2
)

// memIndex maps a meminfo name to its index in memKeys, or -1. The switch
// on string(name) compiles to a comparison without allocating.
func memIndex(name []byte) int {
	switch string(name) {
	case "MemTotal":
		return 0
	case "MemFree":
		return 1
	case "MemAvailable":
		return 2
	case "Buffers":
		return 3
	case "Cached":
		return 4
	case "Active":
		return 5
	case "Dirty":
		return 6
	case "Inactive":
		return 7
	case "Shmem":
		return 8
	case "SwapTotal":
		return 9
	case "SwapFree":
		return 10
	case "SwapCached":
		return 11
	case "VmallocTotal":
		return 12
	case "VmallocUsed":
		return 13
	case "VmallocChunk":
		return 14
	case "Committed_AS":
		return 15
	}
	return -1
}

// memValues holds the wanted meminfo values in bytes; have marks those
// the file had.
type memValues struct {
	bytes [len(memKeys)]uint64
	have  [len(memKeys)]bool
}

func newMemory(d collect.Deps) (collect.Collector, error) {
	return &memory{file: d.File(d.Host.ProcPath("meminfo"))}, nil
}

// parseMeminfo reads the wanted keys of a meminfo file. Like Diamond it
// only considers lines of exactly "Name: value unit" and ignores the
// others (HugePages_Total has no unit); a wanted line whose value is not a
// kB count is an error, reported with its line number after the rest of
// the file was read.
func parseMeminfo(b []byte) (memValues, error) {
	var v memValues
	var errs []error
	for n, rest := 1, b; len(rest) > 0; n++ {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		name, r := kernfile.NextField(line)
		if len(name) < 2 || name[len(name)-1] != ':' {
			continue
		}
		i := memIndex(name[:len(name)-1])
		if i < 0 {
			continue
		}
		val, r := kernfile.NextField(r)
		unit, r := kernfile.NextField(r)
		extra, _ := kernfile.NextField(r)
		x, ok := kernfile.ParseUint(val)
		if !ok || string(unit) != "kB" || len(extra) > 0 || x > (1<<64-1)/1024 {
			errs = append(errs, fmt.Errorf("line %d: bad %s value %q", n, memKeys[i], line))
			continue
		}
		v.bytes[i] = x * 1024
		v.have[i] = true
	}
	return v, errors.Join(errs...)
}

func (c *memory) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	v, perr := parseMeminfo(b)
	for i := range memKeys {
		if v.have[i] {
			s.GaugeInt(memPaths[i], v.bytes[i])
		}
	}
	// Diamond rounds this to 2 dp; we keep full precision (docs/metrics.md, differences).
	if t := v.bytes[memTotal]; v.have[memTotal] && v.have[memAvailable] && t > 0 {
		a := v.bytes[memAvailable]
		s.Gauge("memory.MemUsedPercentage", 100*(float64(t)-float64(a))/float64(t))
	}
	if perr != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, perr)
	}
	if !v.have[memTotal] {
		// Every kernel has MemTotal: without it this is not a meminfo.
		return fmt.Errorf("parse %s: no MemTotal line", c.file.Path)
	}
	return nil
}
