// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Naming rules. Every name that comes from outside the agent (container,
// cgroup, device, interface, mount and host names, image and label values,
// event tags) passes through clean, the one sanitiser, before it becomes
// part of a Graphite plaintext line, a Graphite 1.1 tag or a graphite-web
// event tag:
//
//   - Kept: ASCII letters and digits and _ - : + @ % #; in a tag also '.'
//     and '/' (image "registry.io/app:1.2", label "app.kubernetes.io/name").
//   - Everything else becomes one '_' per character: '.' in a path node (it
//     would add a level) and '/' (a directory to carbon); whitespace and
//     control characters; Unicode spaces and line separators (NBSP, U+2028:
//     carbon splits on them and rejects the line); every other non-ASCII
//     character (Graphite does not support them reliably); ';' (it starts
//     Graphite 1.1 tags: a container "x;tagged=1" would inject a tag, and a
//     cgroup "semi;" makes graphite-web's tag database fail whole batches);
//     '=' '!' '^' '~' (tag operators: a tag value must not start with '~', a
//     tag name holds none of ";!^="); '{' '}' '"' (carbon reads `m{k="v"}` as
//     an OpenMetrics name); quotes, brackets, parentheses, commas, '*' '?'
//     '\' (graphite-web's target grammar and globs); '$' '&' '|' '<' '>' '`'.
//   - An empty path node becomes "_"; an empty tag stays empty (the tag is
//     left out).
//   - A name longer than MaxName bytes keeps its first MaxName-17 bytes and
//     gets '_' and 16 hex digits of the SHA-256 of the whole original name:
//     carbon stores one file per node (255 bytes at most, "File name too
//     long" beyond) and graphite-web's tag database indexes 191 characters,
//     and two long names that share a prefix stay distinct.
//
// Segment, Tag and Dotted are idempotent and return s itself, without
// allocating, when it is already clean.

// MaxName is the most bytes a path node or a tag value takes.
const MaxName = 128

// MaxDotted is the most bytes of a Diamond-compatible dotted name (Dotted).
const MaxDotted = 1024

const hashLen = 16 // hex digits of the hash suffix of a long name

// Segment makes s safe as ONE node of a Graphite path (see the rules above).
func Segment(s string) string {
	if s == "" {
		return "_"
	}
	return clean(s, false)
}

// Tag makes s safe as a Graphite 1.1 tag name or value, or a graphite-web
// event tag (see the rules above). "" stays "" and the caller omits the tag.
func Tag(s string) string {
	return clean(s, true)
}

// Dotted makes s safe as a Diamond-compatible name whose dots are levels
// (Diamond publishes cgroup and Docker names unsanitised: "system.slice" is
// two nodes): every node between dots is cleaned by Segment, an empty one
// becomes "_". Beyond MaxDotted bytes, the nodes that fit are kept and one
// node of 16 hex digits (the hash of s) replaces the rest.
func Dotted(s string) string {
	if clean := dottedClean(s); clean {
		return s
	}
	var b strings.Builder
	for i, n := range strings.Split(s, ".") {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(Segment(n))
	}
	out := b.String()
	if len(out) <= MaxDotted {
		return out
	}
	keep := 0 // bytes of the leading nodes that fit beside the hash node
	for i := 0; i < len(out) && i <= MaxDotted-hashLen-1; i++ {
		if out[i] == '.' {
			keep = i + 1
		}
	}
	return out[:keep] + hashOf(s)
}

// dottedClean reports whether Dotted(s) is s: bounded, every node non-empty,
// bounded and clean.
func dottedClean(s string) bool {
	if s == "" || len(s) > MaxDotted {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if !NodeByte(s[i]) {
				return false
			}
			continue
		}
		if i == start || i-start > MaxName {
			return false
		}
		start = i + 1
	}
	return true
}

// clean is the sanitiser: the allowed set is NodeByte, plus '.' and '/' in a
// tag.
func clean(s string, tag bool) string {
	ok := func(c byte) bool { return NodeByte(c) || tag && (c == '.' || c == '/') }
	i := 0
	for i < len(s) && ok(s[i]) {
		i++
	}
	if i == len(s) && len(s) <= MaxName {
		return s
	}
	b := make([]byte, i, len(s))
	copy(b, s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if !ok(c) {
				c = '_'
			}
			b = append(b, c)
			i++
			continue
		}
		// One '_' per character, or per byte of invalid UTF-8.
		_, n := utf8.DecodeRuneInString(s[i:])
		b = append(b, '_')
		i += n
	}
	if len(b) > MaxName {
		b = append(b[:MaxName-hashLen-1], '_')
		b = append(b, hashOf(s)...)
	}
	return string(b)
}

// NodeByte reports whether a path node keeps c as it is (see the rules
// above); a parser that builds names from raw bytes maps the others to '_'.
func NodeByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '_', '-', ':', '+', '@', '%', '#':
		return true
	}
	return false
}

// hashOf is 16 hex digits of the SHA-256 of s.
func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:hashLen/2])
}
