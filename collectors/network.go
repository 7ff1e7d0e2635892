// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
)

// network publishes interface counters of the HOST's /proc/net/dev (read
// through <procfs>/1/net/dev, so it is the host's namespace even from inside
// a container), as Diamond's NetworkCollector (spec/metrics.md §7):
//
//	eth0: 1024 10 0 0 0 0 0 0   2048 20 0 0 0 0 0 0
//
// -> network.eth0.rx_byte, rx_bit (bytes*8), rx_packets ... tx_compressed,
// all per-second rates. Only Diamond's default interfaces (names starting
// with eth, bond, em, p1p, eno, enp, ens or enx) are published: lo, veth*,
// docker0 and bridges are left out. A dot in a name (VLAN eth0.100) becomes
// '_' so one interface is one node.
type network struct {
	file  string
	buf   fileBuf
	paths map[string]*[len(netColumns) + 2]string // per interface, built once
}

func newNetwork(h Host, _ *slog.Logger) (Collector, error) {
	return &network{file: h.NetPath("dev"), paths: map[string]*[len(netColumns) + 2]string{}}, nil
}

// netColumns names the 16 counters of a /proc/net/dev line, in order.
var netColumns = [...]string{
	"rx_byte", "rx_packets", "rx_errors", "rx_drop", "rx_fifo", "rx_frame", "rx_compressed", "rx_multicast",
	"tx_byte", "tx_packets", "tx_errors", "tx_drop", "tx_fifo", "tx_colls", "tx_carrier", "tx_compressed",
}

var netPrefixes = [...]string{"eth", "bond", "em", "p1p", "eno", "enp", "ens", "enx"}

func netInterfaceWanted(name []byte) bool {
	for _, p := range netPrefixes {
		if bytes.HasPrefix(name, []byte(p)) {
			return true
		}
	}
	return false
}

// parseNetDevLine splits "  eth0: 1 2 ... 16" into the name and counters.
// ok is false for the two header lines.
func parseNetDevLine(line []byte, v *[len(netColumns)]uint64) (name []byte, ok bool, err error) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return nil, false, nil
	}
	name = bytes.TrimSpace(line[:colon])
	if len(name) == 0 {
		return nil, false, fmt.Errorf("empty interface name")
	}
	rest := line[colon+1:]
	for i := range v {
		var f []byte
		f, rest = nextField(rest)
		x, good := parseUint(f)
		if !good {
			return name, false, fmt.Errorf("interface %q: column %d: bad counter %q", name, i+1, f)
		}
		v[i] = x
	}
	return name, true, nil
}

func (c *network) Collect(_ context.Context, s *Sample) error {
	b, err := c.buf.read(c.file)
	if err != nil {
		return err
	}
	var firstErr error
	var v [len(netColumns)]uint64
	for rest, lineNo := b, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = nextLine(rest)
		name, ok, err := parseNetDevLine(line, &v)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("parse %s: line %d: %w", c.file, lineNo, err)
			}
			continue
		}
		if !ok || !netInterfaceWanted(name) {
			continue
		}
		p := c.paths[string(name)]
		if p == nil {
			p = new([len(netColumns) + 2]string)
			node := "network." + Segment(string(name)) + "."
			for i, col := range netColumns {
				p[i] = node + col
			}
			p[len(netColumns)] = node + "rx_bit"
			p[len(netColumns)+1] = node + "tx_bit"
			c.paths[string(name)] = p
		}
		s.Counter(p[0], v[0])
		s.Counter(p[len(netColumns)], v[0]*8)
		for i := 1; i < 8; i++ {
			s.Counter(p[i], v[i])
		}
		s.Counter(p[8], v[8])
		s.Counter(p[len(netColumns)+1], v[8]*8)
		for i := 9; i < len(netColumns); i++ {
			s.Counter(p[i], v[i])
		}
	}
	return firstErr
}
