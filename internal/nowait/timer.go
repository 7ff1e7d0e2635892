// SPDX-License-Identifier: Apache-2.0

package nowait

import (
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timer is a time.Timer that leaves the runtime's monitor thread asleep.
//
// The monitor sleeps, while the process is idle, until the earliest runtime
// timer; so with a time.Timer for the agent's tick (and the Docker cache's,
// and a cycle's deadline) it woke at every tick beside the thread that ran
// the cycle: a second thread woken, on a VM as dear as the first. A Timer
// is a timerfd waited on in the runtime's network poller, which wakes only
// the thread that then runs the goroutine waiting for it. Measured with
// bench/daemon, host only, with the cycle's system calls made without
// waiting (see the package comment): the agent's CPU above the floor's
// went from 0.45-0.55 to 0.24 ms a cycle.
//
// The value sent on C is the time the expiry was seen. A Reset or Stop
// empties C: no value of an earlier setting is received after it.
//
// If the kernel gives no timerfd (the descriptor limit is reached), the
// Timer runs on a runtime timer: the same behaviour, the monitor woken.
type Timer struct {
	C <-chan time.Time

	c      chan time.Time
	mu     sync.Mutex // orders settings, expiries and sends on c
	armed  bool       // set by a setting, cleared by its one-shot expiry
	period time.Duration
	fd     int
	f      *os.File    // the timerfd, nil on the fallback
	rt     *time.Timer // the fallback's current setting
	gen    uint64      // the fallback's settings, so that a late one is dropped
}

// newTimerFD is timerfd_create; a test substitutes a failure.
var newTimerFD = func() (int, error) {
	return unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
}

// NewTimer returns a Timer that is not set.
func NewTimer() *Timer {
	c := make(chan time.Time, 1)
	t := &Timer{C: c, c: c}
	fd, err := newTimerFD()
	var rc syscall.RawConn
	if err == nil {
		// Non-blocking, so os.NewFile registers it with the poller.
		t.f, t.fd = os.NewFile(uintptr(fd), "timerfd"), fd
		if rc, err = t.f.SyscallConn(); err != nil {
			t.f.Close()
			t.f = nil
		}
	}
	if t.f != nil {
		go t.wait(rc)
	}
	return t
}

// wait reads the expiries until the timerfd is closed. The read is made
// under mu, so that an expiry read belongs to the setting it was read
// under (a setting resets the timerfd's count).
func (t *Timer) wait(rc syscall.RawConn) {
	var b [8]byte
	for {
		err := rc.Read(func(fd uintptr) bool {
			t.mu.Lock()
			defer t.mu.Unlock()
			_, err := Read(int(fd), b[:])
			if err == syscall.EAGAIN {
				return false // wait in the poller
			}
			if err == nil {
				t.sendLocked()
			}
			return true
		})
		if err != nil {
			return // closed
		}
	}
}

// expired is the fallback's expiry of setting gen.
func (t *Timer) expired(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gen != t.gen {
		return
	}
	t.sendLocked()
	if t.period > 0 {
		t.rt = time.AfterFunc(t.period, func() { t.expired(gen) })
	}
}

func (t *Timer) sendLocked() {
	if !t.armed {
		return
	}
	t.armed = t.period > 0
	select {
	case t.c <- time.Now():
	default: // the last one is still there
	}
}

// Reset sets t to expire once, after d (at once when d <= 0).
func (t *Timer) Reset(d time.Duration) { t.set(max(d, 1), 0) }

// Every sets t to expire after d, then every d.
func (t *Timer) Every(d time.Duration) { t.set(max(d, 1), max(d, 1)) }

// Stop unsets t.
func (t *Timer) Stop() { t.set(0, 0) }

func (t *Timer) set(d, every time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.armed, t.period = d > 0, every
	select {
	case <-t.c:
	default:
	}
	if t.f == nil {
		if t.rt != nil {
			t.rt.Stop()
		}
		t.gen++
		if gen := t.gen; d > 0 {
			t.rt = time.AfterFunc(d, func() { t.expired(gen) })
		}
		return
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d)), Interval: unix.NsecToTimespec(int64(every))}
	// It never waits, and it is made at every tick.
	syscall.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(t.fd), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}

// Close unsets t and releases its descriptor; t is not used after.
func (t *Timer) Close() {
	t.Stop()
	if t.f != nil {
		t.f.Close()
	}
}
