// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"strings"
	"testing"
)

func TestTagSanitisers(t *testing.T) {
	for in, want := range map[string]string{"web": "web", "a b;c": "a_b_c", "~x": "_x", "": "", "é": "_"} {
		if got := TagValue(in); got != want {
			t.Errorf("TagValue(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"app.kubernetes.io/name": "app.kubernetes.io/name", "a=b!c^d;e f": "a_b_c_d_e_f"} {
		if got := TagName(in); got != want {
			t.Errorf("TagName(%q) = %q, want %q", in, got, want)
		}
	}
}

// A sanitised tag never carries what would break the Graphite 1.1 tagged
// line "name;k=v;k2=v2 value ts".
func FuzzTags(f *testing.F) {
	f.Add("web;x=1 2")
	f.Add("~re")
	f.Fuzz(func(t *testing.T, s string) {
		v, n := TagValue(s), TagName(s)
		if strings.ContainsAny(v, "; \t\n\r") || strings.HasPrefix(v, "~") {
			t.Fatalf("TagValue(%q) = %q", s, v)
		}
		if strings.ContainsAny(n, ";!^= \t\n\r") {
			t.Fatalf("TagName(%q) = %q", s, n)
		}
		if (v == "") != (s == "") {
			t.Fatalf("TagValue(%q) = %q: emptiness changed", s, v)
		}
	})
}
