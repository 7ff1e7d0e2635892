// SPDX-License-Identifier: Apache-2.0

package collectors

import "strings"

// Segment makes s safe as ONE node of a Graphite path: every byte outside
// [A-Za-z0-9_-:+@=%#~] becomes '_', so a dot or space in a device,
// interface, mount or host name cannot add a level or break the line
// (Diamond does not do this: docs/metrics.md, Paths).
// An empty name becomes "_". s is returned unchanged, without allocating,
// when it is already safe.
func Segment(s string) string {
	if s == "" {
		return "_"
	}
	i := 0
	for i < len(s) && segmentByte(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if !segmentByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func segmentByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '-', ':', '+', '@', '=', '%', '#', '~':
		return true
	}
	return false
}

// LineSafe keeps s as it is (dots included: they add levels, as Diamond's
// unsanitised names do) except for the bytes that would break a plaintext
// line or an event tag: spaces, control characters and DEL become '_'.
// Diamond's compatibility paths and graphite-web event tags use it.
func LineSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, s)
}
