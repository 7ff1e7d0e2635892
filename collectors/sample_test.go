// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"testing"
	"time"
)

func TestAlsoAsCopiesOnlyWhatWasEmitted(t *testing.T) {
	s := NewSample(time.Unix(1000, 0), false, State{})
	m := s.Mark()
	s.Counter("c", 5) // first sample: nothing
	s.AlsoAs(m, "c;host=h")
	m = s.Mark()
	s.Gauge("g", 2)
	s.AlsoAs(m, "g;host=h")
	got := s.Metrics()
	if len(got) != 2 || got[1].Path != "g;host=h" || !got[1].Absolute || got[1].Value != 2 {
		t.Fatalf("got %+v", got)
	}
}
