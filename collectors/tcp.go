// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// tcp publishes TCP counters from the TcpExt: lines of /proc/net/netstat
// and the Tcp: lines of /proc/net/snmp, as Diamond's TCPCollector does with
// its default allowed_names (docs/metrics.md, tcp):
//
//	Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens ... CurrEstab ...
//	Tcp: 1 200 120000 -1 230 ... 0 ...
//
// -> tcp.ActiveOpens, tcp.ListenDrops, ... as per-second rates (raw counts
// in --counters mode) and tcp.CurrEstab as a gauge.
//
// Which columns are published: Diamond's default allowed_names is ONE
// string (tcpAllowedNames) and its test is `name in allowed_names`, i.e.
// whether the COLUMN NAME occurs as a substring of that string, not whether
// a listed name is a prefix of the column. So TCPLossProbes, TCPLossUndo,
// TCPLossFailures and InCsumErrors are NOT published (they do not occur in
// the string), while TCPLoss is. Checked against every TcpExt/Tcp column of
// Diamond's 2.6-era table and of kernel 6.18: no real column name is a
// proper substring of the string, so the test selects exactly the 16 listed
// names. We keep the substring test itself (decided once per column name
// and cached) so that a future kernel column behaves as under Diamond.
// TCPLoss and TCPForwardRetrans no longer exist on current kernels, so a
// modern host publishes 13 rates plus CurrEstab. MaxConn (−1 on Linux) is a
// gauge for Diamond but is not in allowed_names, so it is not published.
type tcp struct {
	netstat, snmp *kernfile.File
	buf           kernfile.Buf
	cols          map[string]*tcpCol // by column name, kept across cycles
	order         []*tcpCol          // in order of first appearance
	gen           uint64             // cycle number, to tell this cycle's values
	// byPos is each file's columns in the order it printed them last
	// cycle, and pos the position in the file being parsed: a column is
	// matched to the one at its position by comparing names, and looked
	// up in cols only when the kernel printed another there (after an
	// update). A map lookup per name (~150 in TcpExt:) was 1.5% of the
	// agent's CPU, host only (perf).
	byPos [2][]*tcpCol
	file  int
	pos   int
}

// tcpAllowedNames is Diamond's default allowed_names, verbatim: a string,
// so membership is a substring test.
const tcpAllowedNames = "ListenOverflows, ListenDrops, TCPLoss, " +
	"TCPTimeouts, TCPFastRetrans, TCPLostRetransmit, " +
	"TCPForwardRetrans, TCPSlowStartRetrans, CurrEstab, " +
	"TCPAbortOnMemory, TCPBacklogDrop, AttemptFails, " +
	"EstabResets, InErrs, ActiveOpens, PassiveOpens"

// tcpCol is one column seen in either file: the decision whether to
// publish it and its path are made once, its value is refreshed per cycle.
type tcpCol struct {
	name    string
	path    string
	publish bool
	gauge   bool // Diamond's GAUGES: CurrEstab, MaxConn
	v       int64
	gen     uint64
}

func newTCP(d collect.Deps) (collect.Collector, error) {
	return &tcp{
		netstat: d.File(d.Host.NetPath("netstat")),
		snmp:    d.File(d.Host.NetPath("snmp")),
		cols:    make(map[string]*tcpCol, 160),
	}, nil
}

// record keeps the value of column name for this cycle. A column present
// in both files keeps the later one (snmp), as Diamond's dict does.
func (c *tcp) record(name []byte, v int64) {
	at := &c.byPos[c.file]
	var col *tcpCol
	if c.pos < len(*at) && (*at)[c.pos].name == string(name) {
		col = (*at)[c.pos]
	} else {
		col = c.column(name)
		if c.pos < len(*at) {
			(*at)[c.pos] = col
		} else {
			*at = append(*at, col)
		}
	}
	c.pos++
	col.v = v
	col.gen = c.gen
}

// column is the column called name, made when first seen.
func (c *tcp) column(name []byte) *tcpCol {
	if col := c.cols[string(name)]; col != nil {
		return col
	}
	n := string(name)
	col := &tcpCol{
		name:    n,
		path:    "tcp." + n,
		publish: strings.Contains(tcpAllowedNames, n),
		gauge:   n == "CurrEstab" || n == "MaxConn",
	}
	c.cols[n] = col
	c.order = append(c.order, col)
	return col
}

func (c *tcp) Collect(_ context.Context, s *collect.Sample) error {
	c.gen++
	var errs []error
	// Diamond takes the first line starting with "Tcp" in each file; in
	// netstat that is TcpExt: (MPTcpExt: does not start with Tcp) and in
	// snmp Tcp:, so the exact labels select the same lines.
	for i, f := range [2]struct {
		file   *kernfile.File
		prefix string
	}{{c.netstat, "TcpExt:"}, {c.snmp, "Tcp:"}} {
		c.file, c.pos = i, 0
		b, err := c.buf.ReadFile(f.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := parseHeaderValues(b, f.prefix, c.record); err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", f.file.Path, err))
		}
	}
	for _, col := range c.order {
		if col.gen != c.gen || !col.publish {
			continue
		}
		switch {
		case col.gauge && col.v >= 0:
			s.GaugeInt(col.path, uint64(col.v))
		case col.gauge:
			s.Gauge(col.path, float64(col.v))
		case col.v < 0:
			errs = append(errs, fmt.Errorf("%s: negative counter %d", col.path, col.v))
		default:
			s.Counter(col.path, uint64(col.v))
		}
	}
	return errors.Join(errs...)
}

// parseHeaderValues finds the first line of b starting with prefix (a
// header of column names, e.g. "Tcp: RtoAlgorithm RtoMin ...") and the
// line after it (the values, "Tcp: 1 200 ..."), and calls fn for each
// name/value column pair, skipping the label field. Values are signed
// (Tcp MaxConn is -1). A value that is not an integer is reported and
// skipped; a value line with a different label, or with fewer or more
// fields than the header, is an error after the pairs that do line up were
// passed to fn.
func parseHeaderValues(b []byte, prefix string, fn func(name []byte, v int64)) error {
	n := 0
	for rest := b; len(rest) > 0; {
		var header []byte
		header, rest = kernfile.NextLine(rest)
		n++
		if len(header) < len(prefix) || string(header[:len(prefix)]) != prefix {
			continue
		}
		values, _ := kernfile.NextLine(rest)
		hl, names := kernfile.NextField(header)
		vl, vals := kernfile.NextField(values)
		if len(rest) == 0 || !bytes.Equal(hl, vl) {
			return fmt.Errorf("line %d: %q header without a value line", n, hl)
		}
		var errs []error
		for {
			var name, val []byte
			name, names = kernfile.NextField(names)
			val, vals = kernfile.NextField(vals)
			if len(name) == 0 || len(val) == 0 {
				if len(name) != 0 || len(val) != 0 {
					errs = append(errs, fmt.Errorf("line %d: %q: %d names, %d values",
						n+1, hl, countFields(header)-1, countFields(values)-1))
				}
				break
			}
			v, ok := kernfile.ParseInt(val)
			if !ok {
				errs = append(errs, fmt.Errorf("line %d: %s: bad value %q", n+1, name, val))
				continue
			}
			fn(name, v)
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("no %q line", prefix)
}

func countFields(b []byte) int {
	n := 0
	for f, r := kernfile.NextField(b); len(f) > 0; f, r = kernfile.NextField(r) {
		n++
	}
	return n
}
