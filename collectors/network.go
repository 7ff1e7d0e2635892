// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"
	"math"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// network publishes the interface counters of the HOST's /proc/net/dev (read
// through <procfs>/1/net/dev, so it is the host's namespace even from inside
// a container), as Diamond's NetworkCollector does (docs/metrics.md, network):
//
//	eth0: 1024 10 0 0 0 0 0 0   2048 20 0 0 0 0 0 0
//
// -> network.eth0.rx_byte, rx_bit, rx_packets, rx_errors, rx_drop, rx_fifo,
// rx_frame, rx_compressed, rx_multicast, tx_byte, tx_bit, tx_packets,
// tx_errors, tx_drop, tx_fifo, tx_colls, tx_carrier, tx_compressed: per-second
// rates (raw counts with --counters); *_bit is the byte figure times 8
// (Diamond's byte_unit = [bit, byte]).
//
// Only Diamond's default interfaces are published, the greedy regex
// ^\s*((?:eth|bond|em|p1p|eno|enp|ens|enx)\S*): — lo, veth*, docker0, br-*,
// wlan* are left out. A dot in a name (VLAN eth0.100) becomes '_', so one
// interface is one Graphite node (Diamond would add a level: docs/metrics.md, Paths).
type network struct {
	file   *kernfile.File
	buf    kernfile.Buf
	paths  map[string]*netPaths // per interface name, built once
	wanted func(name []byte) bool
}

// netPaths holds the metric paths of one interface so that a steady-state
// cycle builds no strings.
type netPaths struct {
	col          [len(netColumns)]string // network.<if>.<column>
	rxBit, txBit string
}

func newNetwork(d collect.Deps) (collect.Collector, error) {
	return &network{file: d.File(d.Host.NetPath("dev")), paths: map[string]*netPaths{}, wanted: netInterfaceWanted}, nil
}

// netColumns names the counters of a /proc/net/dev line in kernel order
// (Diamond's names: "bytes" becomes the byte_unit, "errs" is errors).
var netColumns = [kernfile.NetDevColumns]string{
	"rx_byte", "rx_packets", "rx_errors", "rx_drop", "rx_fifo", "rx_frame", "rx_compressed", "rx_multicast",
	"tx_byte", "tx_packets", "tx_errors", "tx_drop", "tx_fifo", "tx_colls", "tx_carrier", "tx_compressed",
}

// netPrefixes is Diamond's default `interfaces` list.
var netPrefixes = [...]string{"eth", "bond", "em", "p1p", "eno", "enp", "ens", "enx"}

// netInterfaceWanted is the greedy regex: the name (everything before the
// colon; kernel interface names hold no colon or blank) starts with one of
// the prefixes.
func netInterfaceWanted(name []byte) bool {
	for _, p := range netPrefixes {
		if len(name) >= len(p) && string(name[:len(p)]) == p {
			return true
		}
	}
	return false
}

func (c *network) pathsFor(name []byte) *netPaths {
	if p := c.paths[string(name)]; p != nil {
		return p
	}
	p := new(netPaths)
	node := "network." + collect.Segment(string(name)) + "."
	for i, col := range netColumns {
		p.col[i] = node + col
	}
	p.rxBit, p.txBit = node+"rx_bit", node+"tx_bit"
	c.paths[string(name)] = p
	return p
}

func (c *network) Collect(_ context.Context, s *collect.Sample) error {
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	if err := kernfile.CheckNetDevHeader(b); err != nil {
		return fmt.Errorf("parse %s: %w", c.file.Path, err)
	}
	var firstErr error
	var v kernfile.NetDevCounters
	for rest, lineNo := b, 0; ; {
		name, counters, r, ok := kernfile.NextNetDevLine(rest, &lineNo)
		if !ok {
			break
		}
		rest = r
		// An excluded interface is not parsed at all: a host with
		// thousands of veths costs no more than a few bytes compares
		// each, and a broken line there is none of our business.
		if !c.wanted(name) {
			continue
		}
		if s.Full() {
			break
		}
		if err := kernfile.ParseNetDevLine(name, counters, &v); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("parse %s: line %d: interface %q: %w", c.file.Path, lineNo, name, err)
			}
			continue
		}
		p := c.pathsFor(name)
		for i := range v {
			m := s.Mark()
			s.Counter(p.col[i], v[i])
			switch i {
			case kernfile.NetRxBytes:
				netBits(s, m, p.rxBit, v[i])
			case kernfile.NetTxBytes:
				netBits(s, m, p.txBit, v[i])
			}
		}
	}
	return firstErr
}

// netBits publishes the bit figure of the byte counter just emitted at mark.
// In rate mode it is the byte rate times 8 (exact in floating point, and it
// keeps no second counter in the state); nothing when the byte rate was
// not published (first sample, reset). In raw mode it is bytes*8, as an
// exact integer unless that exceeds 2^64-1.
func netBits(s *collect.Sample, mark int, path string, bytes uint64) {
	if s.Raw {
		if bytes <= math.MaxUint64/8 {
			s.GaugeInt(path, bytes*8)
		} else {
			s.Gauge(path, float64(bytes)*8)
		}
		return
	}
	if mark < s.Mark() {
		m := s.At(mark)
		s.Gauge(path, m.Value()*8)
	}
}
