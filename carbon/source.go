// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"sync"

	"github.com/nodemetrics/nodemetrics/internal/ratelog"
)

// source is where a Sender's batches wait for Carbon. The Run goroutine
// takes the oldest with next, then reports what became of it: written
// (now in the link's window), acked (out of the window: Carbon has it),
// or release (not written: it goes first again); rewind puts a broken
// connection's window back, in order. push is called from any goroutine;
// it reports whether the source keeps b (false: b was copied, the caller
// may reuse it).
type source interface {
	push(b []byte, lines int) (kept bool)
	next() (batch, bool)
	release(b batch)
	written(b batch)
	acked(b batch)
	rewind(window []batch)
	idle()
	waiting() int // lines not yet written (Flush waits for 0)
	backlog() int // batches waiting in memory for next (Pace)
	stats() Stats // Queued, Spooled, Dropped, Resent
}

// memSource is the in-memory queue, bounded in lines: over the bound the
// oldest lines are dropped and counted.
type memSource struct {
	limit int

	mu      sync.Mutex
	q       queue
	pending int // lines taken by next, not yet written or released
	dropped uint64
	resent  uint64
}

func (m *memSource) push(b []byte, lines int) bool {
	m.mu.Lock()
	m.q.pushBack(batch{b: b, lines: lines})
	m.dropped += uint64(m.q.trim(m.limit, nil))
	m.mu.Unlock()
	return true
}

func (m *memSource) next() (batch, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.q.popFront()
	m.pending += b.lines
	return b, ok
}

// release puts an unsent batch back at the head: after a reconnect it is
// sent first, so order is kept.
func (m *memSource) release(b batch) {
	m.mu.Lock()
	m.pending -= b.lines
	m.q.pushFront(b)
	m.mu.Unlock()
}

func (m *memSource) written(b batch) {
	m.mu.Lock()
	m.pending -= b.lines
	m.mu.Unlock()
}

func (m *memSource) acked(batch) {}

// rewind puts the window back at the head of the queue, in order. The
// bound holds here too: the oldest lines go first, and those are the ones
// just requeued, already written once.
func (m *memSource) rewind(window []batch) {
	if len(window) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(window) - 1; i >= 0; i-- {
		m.q.pushFront(window[i])
		m.resent += uint64(window[i].lines)
	}
	m.dropped += uint64(m.q.trim(m.limit, nil))
}

func (m *memSource) idle() {}

func (m *memSource) backlog() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.q.len()
}

func (m *memSource) waiting() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.q.lines + m.pending
}

// stats is taken under the mutex: Queued and Dropped change together.
func (m *memSource) stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Queued: uint64(m.q.lines + m.pending), Dropped: m.dropped, Resent: m.resent}
}

// spoolSource sends from the spool: every batch is on disk from push on,
// and leaves it when acknowledged.
type spoolSource struct {
	sp *Spool

	fails *ratelog.Logger // a full or broken disk must not flood the journal

	mu      sync.Mutex
	pending int // lines taken by next, not yet written or released
	resent  uint64
}

// push: the batch is in the spool's file (the page cache) once Append
// returns, so b is not kept.
func (p *spoolSource) push(b []byte, lines int) bool {
	if err := p.sp.Append(b, lines); err != nil {
		// Counted in the spool's Dropped.
		p.fails.Fail("spool", "cannot spool, lines dropped", err, "lines", lines)
	}
	return false
}

func (p *spoolSource) next() (batch, bool) {
	// mu held across the spool's move too: waiting must never see the
	// batch gone from the spool and not yet pending (Flush would return
	// while it is being written).
	p.mu.Lock()
	defer p.mu.Unlock()
	rec, n, end, ok := p.sp.next()
	if !ok {
		return batch{}, false
	}
	p.pending += n
	// rec is the spool's buffer, valid until the next call: the batch is
	// written before that, and the window keeps only its end.
	return batch{b: rec, lines: n, spooled: true, end: end}, true
}

// release: the spool reads it again from the ack cursor (the window,
// if any, was rewound with it). Under mu, as next.
func (p *spoolSource) release(b batch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending -= b.lines
	p.sp.Rewind()
}

func (p *spoolSource) written(b batch) {
	p.mu.Lock()
	p.pending -= b.lines
	p.mu.Unlock()
}

func (p *spoolSource) acked(b batch) { p.sp.ackTo(b.end) }

func (p *spoolSource) rewind(window []batch) {
	n := 0
	for _, b := range window {
		n += b.lines
	}
	p.mu.Lock()
	p.resent += uint64(n)
	p.mu.Unlock()
	p.sp.Rewind()
}

// idle: nothing to send; a good moment to put the spool on disk.
func (p *spoolSource) idle() { p.sp.Sync() }

// backlog: the spool's batches wait on disk, not in memory.
func (p *spoolSource) backlog() int { return 0 }

func (p *spoolSource) waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sp.Unsent() + p.pending
}

// stats: Spooled is the backlog, the lines not yet written (the window,
// written but not yet acknowledged, is on disk too but not counted).
func (p *spoolSource) stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Spooled: uint64(p.sp.Unsent() + p.pending), Dropped: p.sp.Dropped(), Resent: p.resent}
}
