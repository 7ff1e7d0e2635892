// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"bytes"
	"fmt"
)

// The parser of /proc/net/dev, read for the host (<procfs>/1/net/dev) and
// for every container's network namespace (<procfs>/<pid>/net/dev):
//
//	Inter-|   Receive                                                |  Transmit
//	 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
//	  eth0: 1024 10 0 0 0 0 0 0   2048 20 0 0 0 0 0 0

// NetDevColumns is the number of counters of an interface line: rx bytes,
// packets, errs, drop, fifo, frame, compressed, multicast, then tx bytes,
// packets, errs, drop, fifo, colls, carrier, compressed.
const NetDevColumns = 16

// Indexes of NetDevCounters used by more than one collector.
const (
	NetRxBytes   = 0
	NetRxPackets = 1
	NetRxErrs    = 2
	NetRxDrop    = 3
	NetTxBytes   = 8
	NetTxPackets = 9
	NetTxErrs    = 10
	NetTxDrop    = 11
)

// NetDevCounters are the counters of one interface line, in kernel order.
type NetDevCounters [NetDevColumns]uint64

// CheckNetDevHeader tells whether b starts as /proc/net/dev does on every
// kernel: without the header this is not /proc/net/dev, whatever the lines
// below it look like.
func CheckNetDevHeader(b []byte) error {
	if !bytes.HasPrefix(b, []byte("Inter-|")) {
		first, _ := NextLine(b)
		return fmt.Errorf("line 1: want the \"Inter-|\" header, got %q", Clip(first))
	}
	return nil
}

// NextNetDevLine splits off the next interface line of b into the
// interface name and the counters text, counting lines in *lineNo; lines
// without a colon (the two headers) are skipped. ok is false at the end of
// b. The counters are not parsed: a collector skips the interfaces it does
// not publish (a host with thousands of veths) at the cost of a compare.
func NextNetDevLine(b []byte, lineNo *int) (name, counters, rest []byte, ok bool) {
	for len(b) > 0 {
		var line []byte
		line, b = NextLine(b)
		*lineNo++
		if name, counters, ok := SplitNetDevLine(line); ok {
			return name, counters, b, true
		}
	}
	return nil, nil, nil, false
}

// SplitNetDevLine splits "  eth0: 1 2 ..." into the interface name and the
// counters text. ok is false for lines without a colon (the two headers).
// Kernel interface names hold no colon or blank.
func SplitNetDevLine(line []byte) (name, counters []byte, ok bool) {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return nil, nil, false
	}
	return bytes.TrimSpace(line[:colon]), line[colon+1:], true
}

// ParseNetDevLine parses the counters of the interface name (both from
// NextNetDevLine) into v. Extra columns are ignored (Diamond's regex ends
// in .*); fewer, a non-number or no name is an error.
func ParseNetDevLine(name, counters []byte, v *NetDevCounters) error {
	if len(name) == 0 {
		return fmt.Errorf("no interface name")
	}
	for i := range v {
		var f []byte
		f, counters = NextField(counters)
		if len(f) == 0 {
			return fmt.Errorf("%d counters, want %d", i, NetDevColumns)
		}
		x, ok := ParseUint(f)
		if !ok {
			return fmt.Errorf("column %d: bad counter %q", i+1, Clip(f))
		}
		v[i] = x
	}
	return nil
}
