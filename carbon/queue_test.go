// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"fmt"
	"strings"
	"testing"
)

func nb(from, n int) batch {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "q %d 1\n", i)
	}
	return batch{b: []byte(b.String()), lines: n}
}

func content(bs ...batch) string {
	var s strings.Builder
	for _, b := range bs {
		s.Write(b.b)
	}
	return s.String()
}

// Pushes at both ends across many wrap-arounds and growths keep FIFO order
// and the line count.
func TestQueueOrderAcrossWrap(t *testing.T) {
	var q queue
	next, want := 0, 0
	for round := 0; round < 50; round++ {
		for i := 0; i < round%7+1; i++ {
			q.pushBack(nb(next, 2))
			next += 2
		}
		for i := 0; i < round%5; i++ {
			b, ok := q.popFront()
			if !ok {
				break
			}
			if b.b == nil || !strings.HasPrefix(string(b.b), fmt.Sprintf("q %d 1\n", want)) {
				t.Fatalf("round %d: got %q, want line %d first", round, b.b, want)
			}
			if round%3 == 0 { // a failed write: back at the head
				q.pushFront(b)
				continue
			}
			want += b.lines
		}
		if q.lines != next-want {
			t.Fatalf("round %d: lines %d, want %d", round, q.lines, next-want)
		}
	}
	if got := content(q.drain()...); got != string(nb(want, next-want).b) {
		t.Fatalf("drain out of order")
	}
	if q.len() != 0 || q.lines != 0 {
		t.Fatalf("not empty after drain: %d batches, %d lines", q.len(), q.lines)
	}
}

// trim drops exactly the oldest lines over the limit, cutting a batch at a
// line boundary, and hands the dropped lines to spill in order.
func TestQueueTrimExact(t *testing.T) {
	var q queue
	q.pushBack(nb(0, 3))
	q.pushBack(nb(3, 4))
	q.pushBack(nb(7, 3))
	var spilled []batch
	if d := q.trim(5, &spilled); d != 5 {
		t.Fatalf("dropped %d, want 5", d)
	}
	if q.lines != 5 {
		t.Fatalf("left %d lines", q.lines)
	}
	if got, want := content(spilled...), string(nb(0, 5).b); got != want {
		t.Fatalf("spilled %q, want %q", got, want)
	}
	n := 0
	for _, b := range spilled {
		n += b.lines
	}
	if n != 5 {
		t.Fatalf("spilled batches count %d lines", n)
	}
	if got, want := content(q.drain()...), string(nb(5, 5).b); got != want {
		t.Fatalf("kept %q, want %q", got, want)
	}
	// One batch larger than the whole bound is cut too.
	q.pushBack(nb(0, 100))
	if d := q.trim(10, nil); d != 90 || q.lines != 10 {
		t.Fatalf("dropped %d, left %d", d, q.lines)
	}
	if got, want := content(q.drain()...), string(nb(90, 10).b); got != want {
		t.Fatalf("kept %q, want %q", got, want)
	}
}

func TestChunkWholeLines(t *testing.T) {
	b := []byte("aaaa\nbb\ncccccccccc\nd\n")
	for _, tc := range []struct{ limit, want int }{
		{100, len(b)}, {8, 8}, {7, 5}, {5, 5}, {3, 5}, {12, 8},
	} {
		if got := chunk(b, tc.limit); got != tc.want {
			t.Errorf("chunk(limit %d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
	if got := chunk(b[8:], 4); got != 11 { // one line longer than limit goes alone
		t.Errorf("long line: %d", got)
	}
}
