// SPDX-License-Identifier: Apache-2.0

package nowait

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// each runs f on a Timer over a timerfd and on one over the fallback.
func each(t *testing.T, f func(t *testing.T, tm *Timer)) {
	t.Run("timerfd", func(t *testing.T) {
		tm := NewTimer()
		defer tm.Close()
		if tm.f == nil {
			t.Fatal("no timerfd")
		}
		f(t, tm)
	})
	t.Run("fallback", func(t *testing.T) {
		orig := newTimerFD
		newTimerFD = func() (int, error) { return -1, errors.New("too many open files") }
		tm := NewTimer()
		newTimerFD = orig
		defer tm.Close()
		if tm.f != nil {
			t.Fatal("a timerfd despite the failure")
		}
		f(t, tm)
	})
}

func receive(t *testing.T, tm *Timer, within time.Duration) time.Time {
	t.Helper()
	select {
	case now := <-tm.C:
		return now
	case <-time.After(within):
		t.Fatalf("no expiry within %s", within)
	}
	return time.Time{}
}

func none(t *testing.T, tm *Timer, during time.Duration) {
	t.Helper()
	select {
	case <-tm.C:
		t.Fatal("an expiry that should not come")
	case <-time.After(during):
	}
}

func TestTimerOnce(t *testing.T) {
	each(t, func(t *testing.T, tm *Timer) {
		none(t, tm, 30*time.Millisecond) // not set yet
		start := time.Now()
		tm.Reset(50 * time.Millisecond)
		if got := receive(t, tm, 5*time.Second); got.Sub(start) < 50*time.Millisecond {
			t.Errorf("expired after %s, want 50ms", got.Sub(start))
		}
		none(t, tm, 100*time.Millisecond) // once
		tm.Reset(0)
		receive(t, tm, 5*time.Second) // at once
	})
}

func TestTimerStopAndResetDropEarlierSettings(t *testing.T) {
	each(t, func(t *testing.T, tm *Timer) {
		tm.Reset(20 * time.Millisecond)
		tm.Stop()
		none(t, tm, 80*time.Millisecond)

		// An expiry nobody received is gone after a Reset: the value
		// received is the new setting's.
		tm.Reset(time.Millisecond)
		time.Sleep(30 * time.Millisecond)
		start := time.Now()
		tm.Reset(60 * time.Millisecond)
		if got := receive(t, tm, 5*time.Second); got.Sub(start) < 60*time.Millisecond {
			t.Errorf("received an expiry %s after the Reset, want the new one at 60ms", got.Sub(start))
		}
	})
}

func TestTimerEvery(t *testing.T) {
	each(t, func(t *testing.T, tm *Timer) {
		start := time.Now()
		tm.Every(20 * time.Millisecond)
		for i := 1; i <= 3; i++ {
			if got := receive(t, tm, 5*time.Second); got.Sub(start) < time.Duration(i)*20*time.Millisecond {
				t.Fatalf("expiry %d after %s, want at least %dms", i, got.Sub(start), 20*i)
			}
		}
		tm.Stop()
		none(t, tm, 80*time.Millisecond)
	})
}

// Close releases the descriptor, and the goroutine waiting on it ends.
func TestTimerClose(t *testing.T) {
	before := runtime.NumGoroutine()
	tm := NewTimer()
	tm.Reset(time.Hour)
	tm.Close()
	if err := tm.f.Close(); err == nil {
		t.Error("the timerfd is still open after Close")
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before NewTimer", runtime.NumGoroutine(), before)
		}
	}
}
