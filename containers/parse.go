// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"bytes"
	"fmt"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// The parsers of the /proc files of a container; its cgroup files are
// parsed by internal/cgroup. They work on the reused read buffer and never
// allocate on success.

// netDev is one interface line of /proc/<pid>/net/dev, in the order the
// container metrics are published.
type netDev [8]uint64

// netDev indexes and the metric names, in publishing order.
var netDevNames = [8]string{"rx_byte", "rx_packets", "rx_errors", "rx_drop", "tx_byte", "tx_packets", "tx_errors", "tx_drop"}

// netDevCols maps the 16 columns of /proc/net/dev to netDev indexes (-1:
// not published).
var netDevCols = [16]int8{0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1}

// nextNetDev parses the next interface line of /proc/<pid>/net/dev; the two
// header lines (they have no ':' before '|') are skipped. ok is false at the
// end of the input.
//
//	eth0: 3242 40 0 0 0 0 0 0 20199 38 0 0 0 0 0 0
func nextNetDev(b []byte, n *int) (name []byte, v netDev, rest []byte, ok bool, err error) {
	for len(b) > 0 {
		var line []byte
		line, b = kernfile.NextLine(b)
		*n++
		i := bytes.IndexByte(line, ':')
		if i < 0 || bytes.IndexByte(line[:i], '|') >= 0 {
			continue
		}
		name = bytes.TrimSpace(line[:i])
		rest := line[i+1:]
		cols := 0
		for ; cols < 16; cols++ {
			var f []byte
			f, rest = kernfile.NextField(rest)
			if len(f) == 0 {
				break
			}
			x, good := kernfile.ParseUint(f)
			if !good {
				return name, v, b, true, fmt.Errorf("line %d: bad value %q for %s", *n, kernfile.Clip(f), kernfile.Clip(name))
			}
			if j := netDevCols[cols]; j >= 0 {
				v[j] = x
			}
		}
		if cols < 12 || len(name) == 0 {
			return name, v, b, true, fmt.Errorf("line %d: want an interface and 16 numbers, got %q", *n, kernfile.Clip(line))
		}
		return name, v, b, true, nil
	}
	return nil, v, nil, false, nil
}
