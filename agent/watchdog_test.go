// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"testing"
	"time"
)

// fakeClocks is a machine whose wall clock can be stepped apart from its
// monotonic clock, as NTP or `date -s` do.
type fakeClocks struct{ wall, mono time.Duration }

func (c *fakeClocks) advance(d time.Duration) { c.wall += d; c.mono += d }

// A forward wall-clock step of 10 limits between two beats does not look
// like a stall; monotonic time past the limit does.
func TestWatchdogIgnoresWallClockStep(t *testing.T) {
	c := &fakeClocks{wall: 1_700_000_000 * time.Second}
	w := newWatchdog(5*time.Second, func() time.Duration { return c.mono })
	for i := 0; i < 20; i++ {
		c.advance(time.Second)
		if i == 5 {
			c.wall += 50 * time.Second // the step
		}
		if since, stalled := w.stalledFor(); stalled {
			t.Fatalf("fired after a wall-clock step (%v since the beat)", since)
		}
		w.Beat()
	}
	c.advance(5 * time.Second)
	if _, stalled := w.stalledFor(); stalled {
		t.Fatal("fired at exactly the limit")
	}
	c.advance(time.Millisecond)
	if since, stalled := w.stalledFor(); !stalled || since != 5*time.Second+time.Millisecond {
		t.Fatalf("stalled=%v since=%v, want a stall of 5.001s", stalled, since)
	}
}
