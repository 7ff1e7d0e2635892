// SPDX-License-Identifier: Apache-2.0

// Package carbon owns everything between a finished sample and Carbon: the
// Graphite plaintext line format and the sender that delivers lines over TCP
// or UDP without ever blocking the collectors.
package carbon

import (
	"math"
	"strconv"
)

// AppendValue formats a float as Graphite wants it: plain decimal with as
// many digits as needed to read back the same float64, never exponent form
// (carbon's float() would parse it, but graphite tools that compare strings
// would not), and "-0" printed as "0".
func AppendValue(dst []byte, v float64) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	return strconv.AppendFloat(dst, v, 'f', -1, 64)
}

// AppendLine appends "<prefix><path> <value> <ts>\n". prefix already ends
// with a dot (or is empty). Exactly one of the two value forms is used: an
// integer (raw counters keep every digit) or a float. Non-finite floats must
// be filtered before; they have no Graphite representation.
func AppendLine(dst []byte, prefix, path string, v float64, iv uint64, isInt bool, ts int64) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, path...)
	dst = append(dst, ' ')
	if isInt {
		dst = strconv.AppendUint(dst, iv, 10)
	} else {
		dst = AppendValue(dst, v)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, ts, 10)
	return append(dst, '\n')
}

// Finite reports whether v can be published.
func Finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
