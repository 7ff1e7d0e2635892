// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

// The cycle's budget reads as context.WithDeadline's: the deadline, no
// error before it ends, DeadlineExceeded after, and contexts derived from
// it end with it.
func TestBudget(t *testing.T) {
	start := time.Now()
	b := newBudget(start.Add(time.Second))
	defer b.end()
	if d, ok := b.Deadline(); !ok || !d.Equal(start.Add(time.Second)) {
		t.Errorf("Deadline = %v, %v", d, ok)
	}
	derived, cancel := context.WithTimeout(b, time.Hour)
	defer cancel()
	if d, _ := derived.Deadline(); !d.Equal(start.Add(time.Second)) {
		t.Errorf("a derived context's deadline is %v, want the budget's", d)
	}
	b.expire(start.Add(999 * time.Millisecond)) // not yet
	if b.Err() != nil {
		t.Fatalf("Err before the deadline: %v", b.Err())
	}
	b.expire(start.Add(time.Second))
	select {
	case <-b.Done():
	default:
		t.Fatal("not done at the deadline")
	}
	if !errors.Is(b.Err(), context.DeadlineExceeded) {
		t.Errorf("Err = %v, want DeadlineExceeded", b.Err())
	}
	select {
	case <-derived.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a derived context did not end with the budget")
	}
	if !errors.Is(context.Cause(derived), context.DeadlineExceeded) {
		t.Errorf("a derived context's cause is %v, want DeadlineExceeded", context.Cause(derived))
	}
	b.end() // after the deadline: still DeadlineExceeded
	if !errors.Is(b.Err(), context.DeadlineExceeded) {
		t.Errorf("Err after end = %v", b.Err())
	}
	c := newBudget(time.Now().Add(time.Hour))
	c.end()
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err of a budget ended early = %v, want Canceled", c.Err())
	}
}

// A collector that waits on its context is ended by the cycle's budget,
// with the deadline it was given, and the cycle does not wait longer.
func TestCycleEndsTheCollectorsContextAtTheBudget(t *testing.T) {
	type seen struct {
		err      error
		deadline time.Time
		at       time.Time
	}
	got := make(chan seen, 1)
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Second, Logger: quiet(),
		Factories: []collect.Factory{factory("waits", func(ctx context.Context, s *collect.Sample) error {
			<-ctx.Done()
			d, _ := ctx.Deadline()
			got <- seen{ctx.Err(), d, time.Now()}
			return ctx.Err()
		})}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now()
	a.Cycle(context.Background(), start, 100, 150*time.Millisecond, &bufOutput{})
	took := time.Since(start)
	s := <-got
	if !errors.Is(s.err, context.DeadlineExceeded) {
		t.Errorf("the collector's context ended with %v, want DeadlineExceeded", s.err)
	}
	if d := s.deadline.Sub(start); d < 150*time.Millisecond || d > 200*time.Millisecond {
		t.Errorf("the collector's deadline was %s after the start, want the budget, 150ms", d)
	}
	// The watch ticks every overrun: the end comes at most one tick late.
	if late := s.at.Sub(start); late < 150*time.Millisecond || late > 150*time.Millisecond+overrun+100*time.Millisecond {
		t.Errorf("the context ended %s after the start, want at the budget (150ms)", late)
	}
	if took > time.Second {
		t.Errorf("the cycle took %s with a budget of 150ms", took)
	}
}
