// SPDX-License-Identifier: Apache-2.0

package collect

import (
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
	if got := s.Metrics(); len(got) != 1 || got[0].Path != "g" {
		t.Fatalf("plain: %+v", got)
	}
	if got := s.Tagged(); len(got) != 1 || got[0].Path != "g;host=h" || got[0].Value() != 2 {
		t.Fatalf("tagged: %+v", got)
	}
	s.Reset(time.Unix(1001, 0))
	if len(s.Metrics())+len(s.Tagged()) != 0 {
		t.Fatalf("Reset kept %v %v", s.Metrics(), s.Tagged())
	}
}
