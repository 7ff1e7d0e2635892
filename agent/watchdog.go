// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/nowait"
)

// Watchdog notices a main loop that stopped cycling. systemd's own
// WatchdogSec cannot see the agent through nspawn (nspawn answers the
// watchdog pings itself and never forwards them), so the agent watches
// itself and exits non-zero for its supervisor (Restart=always) to
// restart it.
//
// It measures monotonic time only: a wall clock stepped forward (NTP, a
// VM resumed, an operator's date -s) must not look like a stall.
type Watchdog struct {
	limit time.Duration
	clock func() time.Duration // monotonic time elapsed since some start
	last  atomic.Int64         // clock() at the last beat
}

// NewWatchdog fires when no Beat came for limit.
func NewWatchdog(limit time.Duration) *Watchdog {
	start := time.Now() // carries a monotonic reading: Since uses only it
	return newWatchdog(limit, func() time.Duration { return time.Since(start) })
}

func newWatchdog(limit time.Duration, clock func() time.Duration) *Watchdog {
	w := &Watchdog{limit: limit, clock: clock}
	w.Beat()
	return w
}

// Beat records that a cycle finished.
func (w *Watchdog) Beat() { w.last.Store(int64(w.clock())) }

// stalledFor is how long the loop has not beaten, when that is over limit.
func (w *Watchdog) stalledFor() (time.Duration, bool) {
	since := w.clock() - time.Duration(w.last.Load())
	return since, since > w.limit
}

// Run calls stalled once (then returns) when the last beat is older than
// limit, until ctx ends. stalled is expected to flush what it can and
// exit. It wakes only when a stall would be due: limit after the last beat
// it saw (plus a millisecond, to be past it), not on a ticker of its own
// between the agent's ticks. A healthy agent beats every interval, so it
// wakes once in five intervals (limit is five), and a stall is seen at
// most a millisecond after limit.
//
// Its timer is a nowait.Timer, as the agent's tick.
func (w *Watchdog) Run(ctx context.Context, stalled func(since time.Duration)) {
	t := nowait.NewTimer()
	defer t.Close()
	t.Reset(w.limit + time.Millisecond)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		since, ok := w.stalledFor()
		if ok {
			stalled(since)
			return
		}
		t.Reset(w.limit - since + time.Millisecond)
	}
}
