// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"slices"
	"strconv"
	"strings"
)

// Unique is the collision rule: it gives each live key (a container, a
// cgroup) a name of its own, so two of them never share a series even when
// their names sanitise alike ("web.1" and "web_1" both become "web_1").
//
//   - A key that had a name keeps it while it is wanted every cycle with the
//     same raw name, whoever appears later: a series never moves to another
//     container.
//   - The new and renamed keys then take their sanitised name in order: a
//     name the sanitiser did not change first (the container really called
//     "web_1"), then by name and key. A key whose name is taken gets '_' and
//     a tie-break appended: the first 12 hex digits of its id (Docker's short
//     id), longer prefixes when that is taken too (ids sharing a prefix), the
//     whole id, then the id and _2, _3, ... So the name is unique among the
//     live keys whatever the names are.
//
// Use: Want every live key each cycle, then Resolve, then Name.
type Unique struct {
	sanitise func(string) string // Segment or Dotted
	gen      uint64
	keys     map[string]*uniqueKey
	fresh    []*uniqueKey
}

type uniqueKey struct {
	key, raw, tie string
	base, name    string // sanitised raw; assigned name ("" until Resolve)
	gen           uint64
}

// NewUnique returns an empty rule whose names are sanitise(raw) (Segment for
// one path node, Dotted for a Diamond-compatible dotted name).
func NewUnique(sanitise func(string) string) *Unique {
	return &Unique{sanitise: sanitise, keys: map[string]*uniqueKey{}}
}

// Want registers key as live this cycle with its raw name and its
// tie-break: a hex id (a container id), or "" for a hash of the key.
func (u *Unique) Want(key, raw, tie string) {
	k := u.keys[key]
	if k == nil {
		k = &uniqueKey{key: key}
		u.keys[key] = k
	}
	if k.name == "" || raw != k.raw {
		k.raw, k.base, k.name = raw, u.sanitise(raw), ""
	}
	k.tie = tie
	k.gen = u.gen
}

// Resolve forgets the keys not wanted since the last Resolve and names the
// new and renamed ones.
func (u *Unique) Resolve() {
	u.fresh = u.fresh[:0]
	for key, k := range u.keys {
		switch {
		case k.gen != u.gen:
			delete(u.keys, key)
		case k.name == "":
			u.fresh = append(u.fresh, k)
		}
	}
	if len(u.fresh) > 0 {
		u.name()
	}
	clear(u.fresh)
	u.gen++
}

// name names the fresh keys. The names taken are a map made for the
// purpose, not one kept: most cycles name no key, and kept it would hold
// every name (60 KB at 1000 containers).
func (u *Unique) name() {
	taken := make(map[string]struct{}, len(u.keys))
	for _, k := range u.keys {
		if k.name != "" {
			taken[k.name] = struct{}{}
		}
	}
	slices.SortFunc(u.fresh, func(a, b *uniqueKey) int {
		if ac, bc := a.raw == a.base, b.raw == b.base; ac != bc {
			if ac {
				return -1
			}
			return 1
		}
		if c := strings.Compare(a.base, b.base); c != 0 {
			return c
		}
		if c := strings.Compare(a.raw, b.raw); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	for _, k := range u.fresh {
		name := k.base
		for n := 0; isTaken(taken, name); n++ {
			name = withSuffix(k.base, tieBreak(k, n))
		}
		k.name = name
		taken[name] = struct{}{}
	}
}

func isTaken(taken map[string]struct{}, name string) bool {
	_, ok := taken[name]
	return ok
}

// Name is the name Resolve gave key ("" for a key not wanted).
func (u *Unique) Name(key string) string {
	if k := u.keys[key]; k != nil {
		return k.name
	}
	return ""
}

// tieBreak is the n-th suffix candidate of k: 12, 16, 20 ... hex digits of
// its tie, all of it, then all of it with _2, _3 ...
func tieBreak(k *uniqueKey, n int) string {
	t := k.tie
	if t == "" {
		t = hashOf(k.key)
	}
	t = Segment(t)
	full := max(0, (len(t)-12+3)/4) // the candidate that is all of t
	switch {
	case n < full:
		return t[:12+4*n]
	case n == full:
		return t
	}
	return t + "_" + strconv.Itoa(n-full+1)
}

// withSuffix appends '_' and sfx to the last node of name, cutting that
// node so it stays within MaxName.
func withSuffix(name, sfx string) string {
	last := name[strings.LastIndexByte(name, '.')+1:]
	if over := len(last) + 1 + len(sfx) - MaxName; over > 0 {
		name = name[:len(name)-min(over, len(last))]
	}
	return name + "_" + sfx
}
