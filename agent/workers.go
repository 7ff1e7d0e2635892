// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"sync/atomic"
	"time"
)

// overrun is how long the cycle lets its workers go without one of them
// taking up a new collector before it starts one more worker: every
// worker is then inside a collector that is slow or hung, and the
// collectors after it must not wait for it. A host collector takes well
// under a millisecond.
const overrun = 10 * time.Millisecond

// workers run one cycle's collectors in publishing order on one goroutine,
// and on more only when the ones there are stuck. A goroutine per
// collector (as before) cost a scheduler wake-up, often a steal by the
// other processor and a stack to grow for each of ~20 collectors every
// cycle (see procs for what it saved).
type workers struct {
	ctx     context.Context // the cycle's budget
	t       time.Time       // the sample time
	queue   []*runner       // the runs of this cycle, in order
	next    atomic.Int32    // the index of the next run to take up
	left    atomic.Int32    // runs not finished yet
	allDone chan struct{}   // closed when left reaches 0
	seen    int32           // next at the last nudge (the cycle's goroutine only)
}

// start hands the runs to the long-lived worker waiting on lead, or, when
// it is not waiting (still inside a collector that hung in an earlier
// cycle), to a new one; false when there is nothing to run.
func (p *workers) start(lead chan<- *workers) bool {
	if len(p.queue) == 0 {
		return false
	}
	p.left.Store(int32(len(p.queue)))
	select {
	case lead <- p:
	default:
		go p.work()
	}
	return true
}

// lead is the first worker of every cycle, for the agent's life (until
// Close closes its channel). A goroutine started per cycle began on a
// small stack and grew it again, by copying, through the collectors'
// deepest calls every cycle: the runtime's stack growth was 1.5% of the
// agent's CPU (perf, host only). This one keeps its grown stack.
func lead(cycles <-chan *workers) {
	for p := range cycles {
		p.work()
	}
}

// work takes up the next run until none is left. A run taken up after the
// cycle's budget is over (every worker was stuck until then) is not
// started: the cycle has already reported it missed.
func (p *workers) work() {
	for {
		i := int(p.next.Add(1)) - 1
		if i >= len(p.queue) {
			return
		}
		r := p.queue[i]
		if p.ctx.Err() != nil {
			r.busy.Store(false)
		} else {
			r.run(p.ctx, p.t)
		}
		if p.left.Add(-1) == 0 {
			close(p.allDone)
		}
	}
}

// nudge is called at every overrun tick while the cycle waits: when no
// run was taken up since the last tick and some are still waiting, every
// worker is stuck, and one more starts.
func (p *workers) nudge() {
	n := p.next.Load()
	if n == p.seen && int(n) < len(p.queue) {
		go p.work()
	}
	p.seen = n
}
