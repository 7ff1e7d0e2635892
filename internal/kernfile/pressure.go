// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"bytes"
	"fmt"
	"strconv"
)

// Pressure is one line of a pressure stall file (/proc/pressure/<res> or
// a cgroup2 <res>.pressure): the share of wall time some (or all, "full")
// runnable tasks were stalled on the resource, as the kernel's running
// averages in percent, and the total stall time in microseconds.
type Pressure struct {
	Avg10, Avg60, Avg300 float64
	Total                uint64
}

// ParsePressure reads
//
//	some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// The full line is absent for cpu on kernels before 5.13 (hasFull false).
func ParsePressure(b []byte) (some, full Pressure, hasSome, hasFull bool, err error) {
	for len(b) > 0 {
		var line []byte
		line, b = NextLine(b)
		kind, rest := NextField(line)
		var p *Pressure
		switch string(kind) {
		case "some":
			p, hasSome = &some, true
		case "full":
			p, hasFull = &full, true
		case "":
			continue
		default:
			return some, full, false, false, fmt.Errorf("unknown line %q", line)
		}
		seen := 0
		for len(rest) > 0 {
			var kv []byte
			kv, rest = NextField(rest)
			if len(kv) == 0 {
				continue
			}
			k, v, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				return some, full, false, false, fmt.Errorf("bad field %q", kv)
			}
			var perr bool
			switch string(k) {
			case "avg10", "avg60", "avg300":
				f, err := strconv.ParseFloat(string(v), 64)
				perr = err != nil
				switch k[3] {
				case '1':
					p.Avg10 = f
				case '6':
					p.Avg60 = f
				default:
					p.Avg300 = f
				}
				seen++
			case "total":
				p.Total, ok = ParseUint(v)
				perr = !ok
				seen++
			}
			if perr {
				return some, full, false, false, fmt.Errorf("bad value %q", kv)
			}
		}
		if seen != 4 {
			return some, full, false, false, fmt.Errorf("incomplete line %q", line)
		}
	}
	return some, full, hasSome, hasFull, nil
}
