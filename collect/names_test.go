// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// The hostile names of issue 10 and the ordinary ones, as a path node, a
// tag and a Diamond dotted name.
func TestNames(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, c := range []struct{ in, node, tag, dotted string }{
		{"web", "web", "web", "web"},
		{"", "_", "", "_"},
		{"web.1", "web_1", "web.1", "web.1"},
		{"x;tagged=1", "x_tagged_1", "x_tagged_1", "x_tagged_1"},
		{"semi;", "semi_", "semi_", "semi_"},
		{"a b\tc\nd\re", "a_b_c_d_e", "a_b_c_d_e", "a_b_c_d_e"},
		{"nb\u00a0sp", "nb_sp", "nb_sp", "nb_sp"},    // NBSP: one '_' per character
		{"ls\u2028ep", "ls_ep", "ls_ep", "ls_ep"},    // U+2028 line separator
		{"é", "_", "_", "_"},                         // non-ASCII
		{"\xff\xfe", "__", "__", "__"},               // invalid UTF-8: one '_' per byte
		{"~re", "_re", "_re", "_re"},                 // a tag value must not start with '~'
		{"a!b^c=d", "a_b_c_d", "a_b_c_d", "a_b_c_d"}, // tag operators
		{`m{k="v"}`, "m_k__v__", "m_k__v__", "m_k__v__"},
		{"a*b?[c](d),e'f\\g", "a_b__c__d__e_f_g", "a_b__c__d__e_f_g", "a_b__c__d__e_f_g"},
		{"registry.io/app:1.2@sha256", "registry_io_app:1_2@sha256", "registry.io/app:1.2@sha256", "registry.io_app:1.2@sha256"},
		{"../../etc", "______etc", "../../etc", "_._._._._etc"},
		{"a..b.", "a__b_", "a..b.", "a._.b._"},
		{"eth0:1+x%#-y_z", "eth0:1+x%#-y_z", "eth0:1+x%#-y_z", "eth0:1+x%#-y_z"},
		{long, long[:MaxName-17] + "_" + hashOf(long), long[:MaxName-17] + "_" + hashOf(long), long[:MaxName-17] + "_" + hashOf(long)},
	} {
		if got := Segment(c.in); got != c.node {
			t.Errorf("Segment(%q) = %q, want %q", c.in, got, c.node)
		}
		if got := Tag(c.in); got != c.tag {
			t.Errorf("Tag(%q) = %q, want %q", c.in, got, c.tag)
		}
		if got := Dotted(c.in); got != c.dotted {
			t.Errorf("Dotted(%q) = %q, want %q", c.in, got, c.dotted)
		}
	}
	// Two long names with one prefix stay distinct and bounded.
	a, b := Segment(long+"x"), Segment(long+"y")
	if a == b || len(a) != MaxName || len(b) != MaxName {
		t.Errorf("long names: %q, %q", a, b)
	}
	// A deep dotted name keeps its leading nodes and one hash node.
	deep := strings.Repeat("node.", 400) + "end"
	if d := Dotted(deep); len(d) > MaxDotted || !strings.HasPrefix(d, "node.node.") || !strings.HasSuffix(d, "."+hashOf(deep)) {
		t.Errorf("Dotted(deep) = %q (%d bytes)", d, len(d))
	}
}

// A clean name costs nothing: the steady-state cycles of the collectors
// sanitise names they already published.
func TestNamesNoAlloc(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		_ = Segment("docker-559aead08264_scope_web")
		_ = Tag("registry.io/app:1.2")
		_ = Dotted("system.slice.docker-559aead08264.scope")
	}); n != 0 {
		t.Errorf("%v allocations for clean names", n)
	}
}

// validNode is what a Graphite path node must be for carbon, whisper and
// graphite-web (and the plaintext line): non-empty, bounded, only the kept
// bytes.
func validNode(s string) bool {
	if s == "" || len(s) > MaxName {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !NodeByte(s[i]) {
			return false
		}
	}
	return true
}

// FuzzNames: whatever the input, Segment is a valid node, Tag a valid
// Graphite 1.1 tag name and value (Graphite's rules: none of ";!^=", no
// leading '~', no space, ASCII) or empty for an empty input, Dotted a dotted
// name of valid nodes; all three bounded and idempotent.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"x;tagged=1", "semi;", "nb\u00a0sp", "ls\u2028ep", "a..b.", "~re",
		strings.Repeat("é", 200), strings.Repeat("a.", 600), `m{k="v"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, tg, d := Segment(s), Tag(s), Dotted(s)
		if !validNode(n) {
			t.Fatalf("Segment(%q) = %q", s, n)
		}
		if (tg == "") != (s == "") || len(tg) > MaxName || strings.HasPrefix(tg, "~") ||
			strings.ContainsAny(tg, ";!^= \t\r\n~") || !isASCII(tg) {
			t.Fatalf("Tag(%q) = %q", s, tg)
		}
		for _, c := range []byte(tg) {
			if !NodeByte(c) && c != '.' && c != '/' {
				t.Fatalf("Tag(%q) = %q", s, tg)
			}
		}
		if len(d) > MaxDotted {
			t.Fatalf("Dotted(%q) has %d bytes", s, len(d))
		}
		for _, node := range strings.Split(d, ".") {
			if !validNode(node) {
				t.Fatalf("Dotted(%q) = %q: node %q", s, d, node)
			}
		}
		if Segment(n) != n || Tag(tg) != tg || Dotted(d) != d {
			t.Fatalf("not idempotent on %q: %q %q %q", s, n, tg, d)
		}
		if utf8.ValidString(s) && isASCII(s) && validNode(s) && n != s {
			t.Fatalf("Segment changed the clean %q to %q", s, n)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
