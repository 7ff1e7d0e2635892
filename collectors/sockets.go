// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// sockets publishes the socket counts of /proc/net/sockstat as gauges, as
// Diamond's SockstatCollector does (docs/metrics.md, sockets), adding the IPv6
// "inuse" counts of /proc/net/sockstat6 to tcp_inuse and udp_inuse:
//
//	sockets: used 33
//	TCP: inuse 1 orphan 0 tw 24 alloc 1 mem 101
//	UDP: inuse 0 mem 0
//	TCP6: inuse 0        (sockstat6)
//
// -> sockets.used, tcp_inuse, tcp_orphan, tcp_tw, tcp_alloc, tcp_mem,
// udp_inuse, udp_mem. UDPLITE, RAW and FRAG lines are ignored; a key seen in
// neither file is not published. sockstat6 is absent when IPv6 is disabled,
// which is not an error.
type sockets struct {
	file, file6 *kernfile.File
	buf         kernfile.Buf
}

var sockPaths = [...]string{
	"sockets.used", "sockets.tcp_inuse", "sockets.tcp_orphan", "sockets.tcp_tw",
	"sockets.tcp_alloc", "sockets.tcp_mem", "sockets.udp_inuse", "sockets.udp_mem",
}

const (
	sockUsed = iota
	sockTCPInuse
	sockTCPOrphan
	sockTCPTw
	sockTCPAlloc
	sockTCPMem
	sockUDPInuse
	sockUDPMem
)

// Line labels of sockstat(6) that carry published keys.
const (
	sockLabelNone = iota
	sockLabelSockets
	sockLabelTCP
	sockLabelUDP
	sockLabelTCP6
	sockLabelUDP6
)

func sockLabel(label []byte) int {
	switch string(label) {
	case "sockets:":
		return sockLabelSockets
	case "TCP:":
		return sockLabelTCP
	case "UDP:":
		return sockLabelUDP
	case "TCP6:":
		return sockLabelTCP6
	case "UDP6:":
		return sockLabelUDP6
	}
	return sockLabelNone // UDPLITE, RAW, FRAG, ...
}

// sockIndex maps a key of a line with the given label to an index of
// sockPaths, or -1 for what is not published.
func sockIndex(label int, key []byte) int {
	switch label {
	case sockLabelSockets:
		if string(key) == "used" {
			return sockUsed
		}
	case sockLabelTCP:
		switch string(key) {
		case "inuse":
			return sockTCPInuse
		case "orphan":
			return sockTCPOrphan
		case "tw":
			return sockTCPTw
		case "alloc":
			return sockTCPAlloc
		case "mem":
			return sockTCPMem
		}
	case sockLabelUDP:
		switch string(key) {
		case "inuse":
			return sockUDPInuse
		case "mem":
			return sockUDPMem
		}
	case sockLabelTCP6:
		if string(key) == "inuse" {
			return sockTCPInuse
		}
	case sockLabelUDP6:
		if string(key) == "inuse" {
			return sockUDPInuse
		}
	}
	return -1
}

// sockValues accumulates over sockstat and sockstat6: a key seen in both
// (the inuse counts) is summed.
type sockValues struct {
	n    [len(sockPaths)]uint64
	have [len(sockPaths)]bool
}

// parseSockstat adds the "label: key value key value ..." lines of a
// sockstat or sockstat6 file to v. A wanted key without a number is
// reported with its line number; the rest of the file is still read.
func parseSockstat(b []byte, v *sockValues) error {
	var errs []error
	for n, rest := 1, b; len(rest) > 0; n++ {
		var line []byte
		line, rest = kernfile.NextLine(rest)
		label, r := kernfile.NextField(line)
		id := sockLabel(label)
		if id == sockLabelNone {
			continue
		}
		for {
			var key, val []byte
			key, r = kernfile.NextField(r)
			if len(key) == 0 {
				break
			}
			val, r = kernfile.NextField(r)
			i := sockIndex(id, key)
			if i < 0 {
				continue
			}
			x, ok := kernfile.ParseUint(val)
			if !ok || v.n[i]+x < x {
				errs = append(errs, fmt.Errorf("line %d: bad %s %s value %q", n, label, key, val))
				continue
			}
			v.n[i] += x
			v.have[i] = true
		}
	}
	return errors.Join(errs...)
}

func newSockets(d collect.Deps) (collect.Collector, error) {
	// sockstat6 is taken from the directory NetPath chose for sockstat:
	// NetPath("sockstat6") would fall back to <procfs>/net, i.e. the
	// reader's own namespace, when the host has IPv6 disabled, and the
	// container's IPv6 sockets would then be added to the host's IPv4 ones.
	file := d.Host.NetPath("sockstat")
	return &sockets{file: d.File(file), file6: d.File(filepath.Join(filepath.Dir(file), "sockstat6"))}, nil
}

func (c *sockets) Collect(_ context.Context, s *collect.Sample) error {
	var v sockValues
	b, err := c.buf.ReadFile(c.file)
	if err != nil {
		return err
	}
	var errs []error
	if err := parseSockstat(b, &v); err != nil {
		errs = append(errs, fmt.Errorf("parse %s: %w", c.file.Path, err))
	}
	if b, err := c.buf.ReadFile(c.file6); err == nil {
		if err := parseSockstat(b, &v); err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", c.file6.Path, err))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	any := false
	for i := range sockPaths {
		if v.have[i] {
			s.GaugeInt(sockPaths[i], v.n[i])
			any = true
		}
	}
	if !any && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("parse %s: no sockets, TCP or UDP line", c.file.Path))
	}
	return errors.Join(errs...)
}
