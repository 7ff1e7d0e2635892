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

// waiter collects the results of one cycle's collectors, in registry
// order. A result that is ready always wins over an expired deadline: the
// collector returned in time, and a select over both ready channels would
// pick one at random (a healthy collector reported failed and its metrics
// thrown away because a slower one before it used up the budget).
type waiter struct {
	deadline <-chan struct{} // the cycle's budget is over
	stopping <-chan struct{} // the agent is stopping; nil once seen
	grace    *time.Timer     // started when stopping is seen
	graceC   <-chan time.Time
	graceEnd bool
}

func (w *waiter) wait(done <-chan result) (result, outcome) {
	for {
		if w.graceEnd {
			return w.ready(done, interrupted)
		}
		select {
		case res := <-done:
			return res, returned
		case <-w.deadline:
			return w.ready(done, missed)
		case <-w.stopping:
			w.stopping = nil
			w.grace = time.NewTimer(shutdownGrace)
			w.graceC = w.grace.C
		case <-w.graceC:
			w.graceEnd = true
		}
	}
}

// ready returns the result if it is there, else otherwise.
func (w *waiter) ready(done <-chan result, otherwise outcome) (result, outcome) {
	select {
	case res := <-done:
		return res, returned
	default:
		return result{}, otherwise
	}
}

func (w *waiter) stop() {
	if w.grace != nil {
		w.grace.Stop()
	}
}
