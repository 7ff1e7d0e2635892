// SPDX-License-Identifier: Apache-2.0

package agent

import "time"

// shutdownGrace is how long a cycle interrupted by SIGTERM still waits for
// its running collectors: a healthy one takes milliseconds.
const shutdownGrace = 500 * time.Millisecond

type outcome int

const (
	returned    outcome = iota // the collector returned: report what it returned
	missed                     // still running at the cycle's deadline
	interrupted                // still running when the agent was stopping
)

// waiter waits for one cycle's collectors. A result that is ready always
// wins over an expired deadline: the collector returned in time, and a
// select over both ready channels would pick one at random (a healthy
// collector reported failed and its metrics thrown away because a slower
// one before it used up the budget).
type waiter struct {
	deadline <-chan struct{} // the cycle's budget is over
	stopping <-chan struct{} // the agent is stopping; nil once seen
	grace    *time.Timer     // started when stopping is seen
	graceC   <-chan time.Time
	graceEnd bool
}

// all waits until every run of the cycle has finished (done closed), the
// deadline passes or the grace after a stop ends, calling nudge with the
// time of every tick meanwhile (it also ends the budget: see budget). The
// cycle then takes each run's result with result.
func (w *waiter) all(done <-chan struct{}, tick <-chan time.Time, nudge func(time.Time)) {
	for !w.graceEnd {
		select {
		case <-done:
			return
		case <-w.deadline:
			return
		case <-w.stopping:
			w.stopping = nil
			w.grace = time.NewTimer(shutdownGrace)
			w.graceC = w.grace.C
		case <-w.graceC:
			w.graceEnd = true
		case now := <-tick:
			nudge(now)
		}
	}
}

// result is a run's result if it is there (after all has returned). One
// that is not is still running: past the deadline, or past the grace of a
// stop.
func (w *waiter) result(done <-chan result) (result, outcome) {
	select {
	case res := <-done:
		return res, returned
	default:
	}
	if w.graceEnd {
		return result{}, interrupted
	}
	return result{}, missed
}

func (w *waiter) stop() {
	if w.grace != nil {
		w.grace.Stop()
	}
}
