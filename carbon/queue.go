// SPDX-License-Identifier: Apache-2.0

package carbon

import "bytes"

// batch is whole lines, as handed to Enqueue or read from the spool.
type batch struct {
	b       []byte
	lines   int
	spooled bool // read from the spool: acknowledged by its end, not kept in memory
	end     pos  // spooled: where it ends in the spool
	size    int  // bytes on the wire (kept when b is let go)
	// inRing: b is a copy in its link's ring (link.remember), starting
	// at at; it must not be handed out for reuse (Sender.Buf) while that
	// link keeps copying into the ring.
	inRing bool
	at     int
}

// queue is a FIFO of batches in a ring buffer. A ring rather than a slice
// re-sliced from the front: the collectors append at the tail, the sender
// pops at the head and sometimes pushes a failed batch back there, and none
// of these may copy the whole backlog (after an hour of Carbon outage it is
// thousands of batches) or make the garbage collector chase a slice that
// keeps growing at one end and leaking at the other. It is not safe for
// concurrent use; Sender guards it with its mutex.
type queue struct {
	ring  []batch
	head  int // index of the oldest batch
	n     int // batches in the ring
	lines int // lines in the ring
}

func (q *queue) len() int { return q.n }

// grow doubles the ring when it is full, keeping the order.
func (q *queue) grow() {
	if q.n < len(q.ring) {
		return
	}
	ring := make([]batch, max(8, 2*len(q.ring)))
	k := copy(ring, q.ring[q.head:])
	copy(ring[k:], q.ring[:q.head])
	q.ring, q.head = ring, 0
}

// pushBack appends the newest batch.
func (q *queue) pushBack(b batch) {
	q.grow()
	q.ring[(q.head+q.n)%len(q.ring)] = b
	q.n++
	q.lines += b.lines
}

// pushFront puts a batch back as the oldest one: a batch that could not be
// written goes out first after the reconnect, so order is kept.
func (q *queue) pushFront(b batch) {
	q.grow()
	q.head = (q.head - 1 + len(q.ring)) % len(q.ring)
	q.ring[q.head] = b
	q.n++
	q.lines += b.lines
}

// popFront removes and returns the oldest batch.
func (q *queue) popFront() (batch, bool) {
	if q.n == 0 {
		return batch{}, false
	}
	b := q.ring[q.head]
	q.ring[q.head] = batch{} // let the bytes go once written
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.lines -= b.lines
	if q.n == 0 {
		q.head = 0
	}
	return b, true
}

// trim drops the oldest lines until at most limit are left, and returns how
// many lines it dropped. The bound is exact, in lines, not in batches: a
// batch straddling the limit is cut after its k-th newline, so one huge
// batch (a big host's cycle) cannot hold the queue over its bound. When
// spill is not nil the dropped lines are appended to it as batches (for the
// spool); their bytes share memory with the queue and must only be read.
func (q *queue) trim(limit int, spill *[]batch) int {
	dropped := 0
	for q.lines > limit && q.n > 0 {
		over := q.lines - limit
		h := &q.ring[q.head]
		if h.lines <= over {
			b, _ := q.popFront()
			dropped += b.lines
			if spill != nil {
				*spill = append(*spill, b)
			}
			continue
		}
		cut := cutLines(h.b, over)
		if cut < 0 { // fewer newlines than counted: drop it whole
			b, _ := q.popFront()
			dropped += b.lines
			if spill != nil {
				*spill = append(*spill, b)
			}
			continue
		}
		if spill != nil {
			*spill = append(*spill, batch{b: h.b[:cut:cut], lines: over})
		}
		h.b = h.b[cut:]
		h.lines -= over
		q.lines -= over
		dropped += over
	}
	return dropped
}

// drain removes and returns every batch, oldest first.
func (q *queue) drain() []batch {
	out := make([]batch, 0, q.n)
	for {
		b, ok := q.popFront()
		if !ok {
			return out
		}
		out = append(out, b)
	}
}

// cutLines returns the offset just past the k-th newline of b, or -1 when b
// has fewer than k newlines.
func cutLines(b []byte, k int) int {
	off := 0
	for ; k > 0; k-- {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return -1
		}
		off += i + 1
	}
	return off
}
