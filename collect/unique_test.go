// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"fmt"
	"strings"
	"testing"
)

// resolve runs one cycle of u over key -> {raw, tie} and returns key -> name.
func resolve(u *Unique, keys map[string][2]string) map[string]string {
	for k, v := range keys {
		u.Want(k, v[0], v[1])
	}
	u.Resolve()
	out := map[string]string{}
	for k := range keys {
		out[k] = u.Name(k)
	}
	return out
}

func distinct(t *testing.T, names map[string]string) {
	t.Helper()
	seen := map[string]string{}
	for k, n := range names {
		if o, dup := seen[n]; dup {
			t.Fatalf("%s and %s share %q: %v", k, o, n, names)
		}
		seen[n] = k
	}
}

func TestUniqueCollisions(t *testing.T) {
	const id1 = "0123456789ab11111111111111111111111111111111111111111111111111111"
	const id2 = "0123456789ab11112222222222222222222222222222222222222222222222222" // same 16 hex
	const id3 = "fedcba98765400000000000000000000000000000000000000000000000000000"
	u := NewUnique(Segment)
	// First cycle: the container really called web_1 keeps its name,
	// web.1 (sanitised alike) gets its short id.
	got := resolve(u, map[string][2]string{"a": {"web.1", id1}, "b": {"web_1", id3}})
	if got["b"] != "web_1" || got["a"] != "web_1_"+id1[:12] {
		t.Errorf("first cycle: %v", got)
	}
	// Ids sharing the 12-hex prefix still get distinct names.
	got = resolve(u, map[string][2]string{"a": {"web.1", id1}, "b": {"web_1", id3}, "c": {"web;1", id2}})
	distinct(t, got)
	if got["a"] != "web_1_"+id1[:12] || got["c"] != "web_1_"+id2[:16] {
		t.Errorf("shared prefix: %v", got)
	}
	// Stable: when web_1 goes, the others keep their names; a namesake that
	// appears later never takes a name in use.
	got = resolve(u, map[string][2]string{"a": {"web.1", id1}, "c": {"web;1", id2}, "d": {"web_1", ""}})
	distinct(t, got)
	if got["a"] != "web_1_"+id1[:12] || got["c"] != "web_1_"+id2[:16] || got["d"] != "web_1" {
		t.Errorf("after web_1 went: %v", got)
	}
	// A renamed key takes a name anew; a vanished key frees its name.
	got = resolve(u, map[string][2]string{"a": {"web_1", id1}})
	if got["a"] != "web_1" {
		t.Errorf("renamed: %v", got)
	}
	if u.Name("c") != "" || len(u.keys) != 1 {
		t.Errorf("vanished keys kept: %v", u.keys)
	}
}

// Whatever the names (crafted to equal another's suffixed name, long,
// empty ties), every live key has a distinct, valid, bounded name.
func TestUniqueAdversarial(t *testing.T) {
	const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	long := strings.Repeat("n", 300)
	keys := map[string][2]string{
		"k1": {"web", id}, "k2": {"web", id}, "k3": {"web_" + id[:12], ""}, "k4": {"web_" + id, ""},
		"k5": {long, id}, "k6": {long, id}, "k7": {"", "m"}, "k8": {"_", "m"},
	}
	for i := range 20 {
		keys[fmt.Sprint("w", i)] = [2]string{"web", id} // 20 containers sharing one id: _2, _3 ...
	}
	got := resolve(NewUnique(Segment), keys)
	distinct(t, got)
	for k, n := range got {
		if !validNode(n) {
			t.Errorf("%s: invalid name %q", k, n)
		}
	}
	// Dotted names take the suffix on their last node.
	got = resolve(NewUnique(Dotted), map[string][2]string{"a/b": {"a.b", ""}, "a.b": {"a.b", ""}})
	distinct(t, got)
	for _, n := range got {
		if !strings.HasPrefix(n, "a.b") || strings.Count(n, ".") != 1 {
			t.Errorf("dotted: %v", got)
		}
	}
}

// A steady cycle (same keys, same names) allocates nothing.
func TestUniqueSteadyNoAlloc(t *testing.T) {
	u := NewUnique(Segment)
	keys := []string{"a", "b", "c"}
	cycle := func() {
		for _, k := range keys {
			u.Want(k, "web.1", "")
		}
		u.Resolve()
	}
	cycle()
	if n := testing.AllocsPerRun(50, cycle); n != 0 {
		t.Errorf("%v allocations per steady cycle", n)
	}
}

// FuzzUnique: whatever the names (split on '|'), over two cycles with the
// second one's keys shifted, every live key has a distinct valid name and
// a key wanted again with the same name keeps its name.
func FuzzUnique(f *testing.F) {
	f.Add("web.1|web_1|web;1|web_1_0123456789ab", "0123456789ab")
	f.Add("|_|a..b|a._.b", "")
	f.Fuzz(func(t *testing.T, names, tie string) {
		raws := strings.Split(names, "|")
		for _, sanitise := range []func(string) string{Segment, Dotted} {
			u := NewUnique(sanitise)
			first := map[string][2]string{}
			for i, r := range raws {
				first[fmt.Sprint(i)] = [2]string{r, tie}
			}
			a := resolve(u, first)
			distinct(t, a)
			second := map[string][2]string{}
			for i, r := range raws {
				if i%2 == 0 {
					second[fmt.Sprint(i)] = [2]string{r, tie} // kept
				}
				second[fmt.Sprint("n", i)] = [2]string{r, ""} // a newcomer named alike
			}
			b := resolve(u, second)
			distinct(t, b)
			for k, n := range b {
				if _, kept := first[k]; kept && n != a[k] {
					t.Fatalf("%s moved from %q to %q", k, a[k], n)
				}
				for _, node := range strings.Split(n, ".") {
					if !validNode(node) {
						t.Fatalf("%s: invalid name %q", k, n)
					}
				}
			}
		}
	})
}
