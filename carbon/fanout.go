// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"context"
	"errors"
	"sync"
)

// Fanout sends every batch to several Carbons, each through its own Sender
// (own queue, own spool), so one dead destination never starves another.
type Fanout []*Sender

// Enqueue copies b into every sender's queue.
func (f Fanout) Enqueue(b []byte, lines int) {
	for _, s := range f {
		s.Enqueue(b, lines)
	}
}

// Take hands b to the one sender, or copies it into each of several.
func (f Fanout) Take(b []byte, lines int) {
	if len(f) == 1 {
		f[0].Take(b, lines)
		return
	}
	f.Enqueue(b, lines)
}

// Buf is the one sender's Buf; nil with several (Take copies b into each:
// the caller's buffers are not theirs).
func (f Fanout) Buf(size int) []byte {
	if len(f) == 1 {
		return f[0].Buf(size)
	}
	return nil
}

// Pace is the one sender's Pace; with several it does not hold: each keeps
// its own copy of the lines anyway (Take copies, Buf gives none), and
// holding the formatting for the slowest would let a destination that
// accepts and never reads delay the lines of the others.
func (f Fanout) Pace(stop <-chan struct{}) {
	if len(f) == 1 {
		f[0].Pace(stop)
	}
}

// Run runs every sender until ctx ends.
func (f Fanout) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range f {
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
	}
	wg.Wait()
}

// Flush flushes all senders in parallel, within the same deadline.
func (f Fanout) Flush(ctx context.Context) error {
	errs := make([]error, len(f))
	var wg sync.WaitGroup
	for i, s := range f {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = s.Flush(ctx) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close closes every sender's connection in order, in parallel.
func (f Fanout) Close(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range f {
		wg.Add(1)
		go func() { defer wg.Done(); s.Close(ctx) }()
	}
	wg.Wait()
}

// Stats sums the senders' counters.
func (f Fanout) Stats() Stats {
	var t Stats
	for _, s := range f {
		st := s.Stats()
		t.Sent += st.Sent
		t.Queued += st.Queued
		t.Spooled += st.Spooled
		t.Dropped += st.Dropped
		t.Resent += st.Resent
		t.Reconnects += st.Reconnects
		t.Errors += st.Errors
	}
	return t
}
