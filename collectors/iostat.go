// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// iostat publishes per-disk I/O statistics of /proc/diskstats, as Diamond's
// DiskUsageCollector does (docs/metrics.md, iostat):
//
//	254       0 vda 79397 11020 3018186 17050 15197 16960 1388328 5368 0 9824 23958 7052 0 ...
//
// (major, minor, name, then reads, reads merged, sectors read, ms reading,
// writes, writes merged, sectors written, ms writing, I/Os in progress, ms
// doing I/O, weighted ms; kernels 4.18+ add discard and 5.5+ flush columns,
// which are ignored). In rate mode every value comes from the difference to
// the previous sample -> iostat.<dev>.reads, writes, reads_merged,
// writes_merged, reads_byte, writes_byte, reads_milliseconds,
// writes_milliseconds, io_milliseconds, io_milliseconds_weighted (per
// collection, not per second, as Diamond), io_in_progress (gauge), io,
// iops, *_per_second, average_request_size_byte, average_queue_length,
// util_percentage, read_await, write_await, await, service_time,
// concurrent_io; a device is published only when it did I/O. In raw mode
// (--counters) the cumulative counters and io_in_progress of every
// matching device.
type iostat struct {
	file   *kernfile.File
	buf    kernfile.Buf
	devs   map[string]*ioDev // by name as in the file
	gen    uint64
	wanted func(name []byte) bool // Diamond's devices: ioDeviceMatch unless configured
}

// The diskstats columns we read, in file order after the device name.
const (
	ioReads = iota
	ioReadsMerged
	ioReadsSectors
	ioReadsMs
	ioWrites
	ioWritesMerged
	ioWritesSectors
	ioWritesMs
	ioInProgress
	ioMs
	ioMsWeighted
	ioColumns
)

// collect.Metric names; the first ioColumns follow the column order above (the
// sector columns are published as bytes).
var ioNames = [...]string{
	"reads", "reads_merged", "reads_byte", "reads_milliseconds",
	"writes", "writes_merged", "writes_byte", "writes_milliseconds",
	"io_in_progress", "io_milliseconds", "io_milliseconds_weighted",
	"io", "iops", "reads_per_second", "writes_per_second",
	"read_requests_merged_per_second", "write_requests_merged_per_second",
	"read_byte_per_second", "write_byte_per_second",
	"average_request_size_byte", "average_queue_length", "util_percentage",
	"read_await", "write_await", "await", "service_time", "concurrent_io",
}

const (
	ioIO = ioColumns + iota
	ioIOPS
	ioReadsPS
	ioWritesPS
	ioReadsMergedPS
	ioWritesMergedPS
	ioReadBytesPS
	ioWriteBytesPS
	ioAvgReqSize
	ioAvgQueue
	ioUtil
	ioReadAwait
	ioWriteAwait
	ioAwait
	ioServiceTime
	ioConcurrent
	ioNumNames
)

const ioSectorSize = 512

type ioDev struct {
	paths [ioNumNames]string
	gen   uint64
}

func newIOStat(d collect.Deps) (collect.Collector, error) {
	return &iostat{file: d.File(d.Host.ProcPath("diskstats")), devs: make(map[string]*ioDev), wanted: ioDeviceMatch}, nil
}

// diskstatsLine is one parsed line; name points into the read buffer.
type diskstatsLine struct {
	name []byte
	v    [ioColumns]uint64
}

// parseDiskstatsLine reads one line. skip is true for lines Diamond
// ignores silently: empty, fewer than 14 fields (partitions of 2.6 kernels
// had 7), ram* and loop* devices.
func parseDiskstatsLine(line []byte, d *diskstatsLine) (skip bool, err error) {
	maj, rest := kernfile.NextField(line)
	if len(maj) == 0 {
		return true, nil
	}
	min, rest := kernfile.NextField(rest)
	name, rest := kernfile.NextField(rest)
	_, okMaj := kernfile.ParseUint(maj)
	_, okMin := kernfile.ParseUint(min)
	if !okMaj || !okMin || len(name) == 0 {
		return true, fmt.Errorf("bad major/minor/name in %q", line)
	}
	d.name = name
	n := 0
	for r := rest; n < ioColumns; n++ {
		var f []byte
		if f, r = kernfile.NextField(r); len(f) == 0 {
			break
		}
	}
	if n < ioColumns {
		return true, nil
	}
	if hasPrefix(name, "ram") || hasPrefix(name, "loop") {
		return true, nil
	}
	for i := range d.v {
		var f []byte
		f, rest = kernfile.NextField(rest)
		v, ok := kernfile.ParseUint(f)
		if !ok {
			return true, fmt.Errorf("device %s: column %d: bad value %q", name, i+4, f)
		}
		d.v[i] = v
	}
	return false, nil
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// ioDeviceMatch is Diamond's default device regex, re.match'ed (anchored at
// the start, "$" at the end of each alternative):
// PhysicalDrive[0-9]+$|md[0-9]+$|sd[a-z]+[0-9]*$|x?vd[a-z]+[0-9]*$|
// disk[0-9]+$|nvme[0-9]+n[0-9]+(p[0-9]+)?$|dm\-[0-9]+$
// written out by hand: it runs for every line of every cycle.
func ioDeviceMatch(b []byte) bool {
	switch {
	case hasPrefix(b, "PhysicalDrive"):
		return allDigits(b[13:])
	case hasPrefix(b, "md"):
		return allDigits(b[2:])
	case hasPrefix(b, "sd"):
		return lettersDigits(b[2:])
	case hasPrefix(b, "xvd"):
		return lettersDigits(b[3:])
	case hasPrefix(b, "vd"):
		return lettersDigits(b[2:])
	case hasPrefix(b, "disk"):
		return allDigits(b[4:])
	case hasPrefix(b, "dm-"):
		return allDigits(b[3:])
	case hasPrefix(b, "nvme"):
		r, ok := digitsThen(b[4:])
		if !ok || len(r) == 0 || r[0] != 'n' {
			return false
		}
		r, ok = digitsThen(r[1:])
		if !ok {
			return false
		}
		if len(r) == 0 {
			return true
		}
		return r[0] == 'p' && allDigits(r[1:])
	}
	return false
}

// allDigits: [0-9]+$
func allDigits(b []byte) bool {
	r, ok := digitsThen(b)
	return ok && len(r) == 0
}

// digitsThen consumes [0-9]+ and returns the rest.
func digitsThen(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return b[i:], i > 0
}

// lettersDigits: [a-z]+[0-9]*$
func lettersDigits(b []byte) bool {
	i := 0
	for i < len(b) && b[i] >= 'a' && b[i] <= 'z' {
		i++
	}
	if i == 0 {
		return false
	}
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i == len(b)
}

// ioDeviceName is the path node of a device: "/" becomes "_" as in Diamond
// (cciss/c0d0 -> cciss_c0d0), then collect.Segment.
func ioDeviceName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '/' {
			b[i] = '_'
		}
	}
	return collect.Segment(string(b))
}

func (c *iostat) device(name []byte) *ioDev {
	d := c.devs[string(name)]
	if d == nil {
		d = &ioDev{}
		seg := ioDeviceName(string(name))
		for i, n := range ioNames {
			d.paths[i] = "iostat." + seg + "." + n
		}
		c.devs[string(name)] = d
	}
	d.gen = c.gen
	return d
}

func (c *iostat) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	c.gen++
	var firstErr error
	var l diskstatsLine
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = kernfile.NextLine(b)
		skip, err := parseDiskstatsLine(line, &l)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("parse %s: line %d: %w", c.file.Path, n, err)
		}
		if skip || !c.wanted(l.name) {
			continue
		}
		if s.Full() {
			break
		}
		d := c.device(l.name)
		if s.Raw {
			c.emitRaw(s, d, &l.v)
		} else {
			c.emitRates(s, d, &l.v)
		}
	}
	if len(c.devs) > 0 {
		for k, d := range c.devs {
			if d.gen != c.gen {
				delete(c.devs, k) // device gone (hot unplug)
			}
		}
	}
	return firstErr
}

func (c *iostat) emitRaw(s *collect.Sample, d *ioDev, v *[ioColumns]uint64) {
	for i, x := range v {
		if i == ioReadsSectors || i == ioWritesSectors {
			x *= ioSectorSize
		}
		s.GaugeInt(d.paths[i], x)
	}
}

// emitRates follows Diamond's arithmetic step by step (same operation
// order, so the floats agree to the last bit), with the elapsed time as dt.
func (c *iostat) emitRates(s *collect.Sample, d *ioDev, v *[ioColumns]uint64) {
	var dv [ioColumns]uint64
	ok := true
	for i, x := range v {
		if i == ioInProgress {
			continue
		}
		var okI bool
		dv[i], okI = s.Delta(d.paths[i], x)
		ok = ok && okI
	}
	dt, haveDT := s.Elapsed()
	if !ok || !haveDT {
		return // first sample, or a counter reset: nothing this cycle
	}
	io := dv[ioReads] + dv[ioWrites]
	if io == 0 {
		return // Diamond publishes a disk only when it did I/O
	}
	p := &d.paths
	for i, x := range dv {
		switch i {
		case ioInProgress:
			x = v[ioInProgress]
		case ioReadsSectors, ioWritesSectors:
			x *= ioSectorSize
		}
		s.GaugeInt(p[i], x)
	}
	reads, writes := float64(dv[ioReads]), float64(dv[ioWrites])
	rbytes := float64(dv[ioReadsSectors] * ioSectorSize)
	wbytes := float64(dv[ioWritesSectors] * ioSectorSize)
	rms, wms := float64(dv[ioReadsMs]), float64(dv[ioWritesMs])
	ioms, iowms := float64(dv[ioMs]), float64(dv[ioMsWeighted])
	fio := float64(io)

	rps, wps := reads/dt, writes/dt
	s.GaugeInt(p[ioIO], io)
	s.Gauge(p[ioIOPS], fio/dt)
	s.Gauge(p[ioReadsPS], rps)
	s.Gauge(p[ioWritesPS], wps)
	s.Gauge(p[ioReadsMergedPS], float64(dv[ioReadsMerged])/dt)
	s.Gauge(p[ioWritesMergedPS], float64(dv[ioWritesMerged])/dt)
	s.Gauge(p[ioReadBytesPS], rbytes/dt)
	s.Gauge(p[ioWriteBytesPS], wbytes/dt)
	s.Gauge(p[ioAvgReqSize], (rbytes+wbytes)/fio)
	s.Gauge(p[ioAvgQueue], iowms/dt/1000)
	s.Gauge(p[ioUtil], ioms/dt/10)
	readAwait, writeAwait := 0.0, 0.0
	if reads > 0 {
		readAwait = rms / reads
	}
	if writes > 0 {
		writeAwait = wms / writes
	}
	s.Gauge(p[ioReadAwait], readAwait)
	s.Gauge(p[ioWriteAwait], writeAwait)
	s.Gauge(p[ioAwait], (rms+wms)/fio)
	svc := ioms / fio
	s.Gauge(p[ioServiceTime], svc)
	s.Gauge(p[ioConcurrent], (rps+wps)*(svc/1000))
}
