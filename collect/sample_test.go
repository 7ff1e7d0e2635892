// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestAlsoTaggedCopiesOnlyWhatWasEmitted(t *testing.T) {
	s := NewSample(time.Unix(1000, 0), false, State{})
	m := s.Mark()
	s.Counter("c", 5) // first sample: nothing
	s.AlsoTagged(m, "c;host=h")
	m = s.Mark()
	s.Gauge("g", 2)
	s.AlsoTagged(m, "g;host=h")
	if got := slices.Collect(s.All()); len(got) != 1 || got[0].Path != "g" {
		t.Fatalf("plain: %+v", got)
	}
	if got := s.Tagged(); len(got) != 1 || got[0].Path != "g;host=h" || got[0].Value() != 2 {
		t.Fatalf("tagged: %+v", got)
	}
	s.Reset(time.Unix(1001, 0))
	if s.Mark()+len(s.Tagged()) != 0 {
		t.Fatalf("Reset kept %v %v", slices.Collect(s.All()), s.Tagged())
	}
}

// All and At give every metric its own prefix, value and kind, across
// prefix changes (a prefix set again after another is a new run) and
// more metrics than a word of integer bits.
func TestMetricsKeepPrefixAndKind(t *testing.T) {
	s := NewSample(time.Unix(1000, 0), false, State{})
	a, b := "a.", "b."
	prefixes := []*string{nil, &a, &a, &b, nil, &a}
	var want []Metric
	for i := range 200 {
		p := prefixes[i/40]
		s.SetPrefix(p)
		if i%3 == 0 {
			s.GaugeInt("i", uint64(i))
			want = append(want, Metric{Prefix: p, Path: "i", v: uint64(i), isInt: true})
		} else {
			s.Gauge("f", float64(i)/2)
			want = append(want, Metric{Prefix: p, Path: "f", v: math.Float64bits(float64(i) / 2)})
		}
	}
	if got := slices.Collect(s.All()); !slices.Equal(got, want) {
		t.Fatalf("All:\n%+v\nwant\n%+v", got, want)
	}
	for i := range want {
		if got := s.At(i); got != want[i] || got.FullPath() != want[i].FullPath() {
			t.Fatalf("At(%d) = %+v, want %+v", i, got, want[i])
		}
	}
	if s.Mark() != len(want) {
		t.Fatalf("Mark %d, want %d", s.Mark(), len(want))
	}
}
