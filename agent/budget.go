// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"time"
)

// budget is the collectors' context of one cycle: its Deadline is the end
// of the cycle's budget, and Err is context.DeadlineExceeded once expire
// has been called, as for context.WithDeadline. It has no runtime timer of
// its own: the cycle's watch (a nowait.Timer that also paces the nudges)
// expires it. context.WithDeadline's timer, stopped when the cycle ended
// early, stayed in the runtime's timer heap until its time came, and the
// process woke for it (a wake-up per cycle, between two ticks).
//
// Contexts derived from it are attached to its cancel context, so their
// Err is context.Canceled and their Cause DeadlineExceeded.
type budget struct {
	context.Context
	deadline time.Time
	cancel   context.CancelCauseFunc
}

func newBudget(deadline time.Time) *budget {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &budget{Context: ctx, deadline: deadline, cancel: cancel}
}

func (b *budget) Deadline() (time.Time, bool) { return b.deadline, true }

// Err is DeadlineExceeded once the budget is over, Canceled after end.
func (b *budget) Err() error {
	if b.Context.Err() == nil {
		return nil
	}
	return context.Cause(b.Context)
}

// expire ends the budget when its deadline has passed at now.
func (b *budget) expire(now time.Time) {
	if !now.Before(b.deadline) {
		b.cancel(context.DeadlineExceeded)
	}
}

// end releases the context at the end of the cycle (a no-op when it has
// expired).
func (b *budget) end() { b.cancel(context.Canceled) }
