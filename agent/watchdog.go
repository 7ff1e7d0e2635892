// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"sync/atomic"
	"time"
)

// Watchdog notices a main loop that stopped cycling. systemd's own
// WatchdogSec cannot see the agent through nspawn (nspawn answers the
// watchdog pings itself and never forwards them), so the agent watches itself and exits
// non-zero for its supervisor (Restart=always) to restart it.
type Watchdog struct {
	limit time.Duration
	last  atomic.Int64 // unix nanoseconds of the last beat
}

// NewWatchdog fires when no Beat came for limit.
func NewWatchdog(limit time.Duration) *Watchdog {
	w := &Watchdog{limit: limit}
	w.Beat()
	return w
}

// Beat records that a cycle finished.
func (w *Watchdog) Beat() { w.last.Store(time.Now().UnixNano()) }

// Run checks every limit/4 until ctx ends, and calls stalled once (then
// returns) when the last beat is older than limit.
func (w *Watchdog) Run(ctx context.Context, stalled func(since time.Duration)) {
	t := time.NewTicker(w.limit / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if since := now.Sub(time.Unix(0, w.last.Load())); since > w.limit {
				stalled(since)
				return
			}
		}
	}
}
