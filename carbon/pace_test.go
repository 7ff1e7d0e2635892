// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// bigBatch is n lines from line from, padded to about 64 KB, the size of
// the agent's buffers.
func bigBatch(from, n int) []byte {
	b := make([]byte, 0, 64<<10)
	for i := from; i < from+n; i++ {
		b = fmt.Appendf(b, "test.%0500d %d 100\n", 0, i)
	}
	return b
}

// paceReturns runs s.Pace(stop) and reports whether it returned within d.
func paceReturns(s interface{ Pace(<-chan struct{}) }, stop <-chan struct{}, d time.Duration) bool {
	done := make(chan struct{})
	go func() { s.Pace(stop); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// A Carbon that reads slower than lines come: Pace holds while more than
// paceBatches batches wait, and lets go as soon as Carbon reads again;
// every line arrives, in order.
func TestPaceHoldsWhileCarbonIsBehind(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	ln := serveTCP(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			<-gate // reads nothing until the test opens the gate
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				mu.Lock()
				got = append(got, sc.Text())
				mu.Unlock()
			}
			close(done)
		}()
	})
	s := start(t, Config{Addr: ln.Addr().String(), SendBuffer: 4096, WriteTimeout: time.Minute})
	const batches, per = 40, 120 // 40 × 62 KB: far more than the socket buffers swallow
	for i := range batches {
		s.Take(bigBatch(i*per, per), per)
	}
	stop := make(chan struct{})
	if paceReturns(s, stop, 300*time.Millisecond) {
		t.Fatalf("Pace returned with %d batches waiting for a Carbon that reads nothing", s.src.backlog())
	}
	close(gate)
	// Carbon reads: Pace lets go (the guard only turns a hang into a failure).
	if !paceReturns(s, stop, 20*time.Second) {
		t.Fatal("Pace still holding after Carbon read again")
	}
	if n := s.src.backlog(); n > paceBatches {
		t.Fatalf("Pace returned with %d batches waiting", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close(ctx)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(got) != batches*per {
		t.Fatalf("got %d lines, want %d", len(got), batches*per)
	}
	for i, l := range got {
		if want := fmt.Sprintf("test.%0500d %d 100", 0, i); l != want {
			t.Fatalf("line %d = %.40q..., want line %d", i, l, i)
		}
	}
}

// Pace never waits out an outage, nor past its stop.
func TestPaceDoesNotHold(t *testing.T) {
	t.Run("carbon down", func(t *testing.T) {
		s := start(t, Config{Addr: freeAddr(t), QueueLines: 1 << 20})
		for i := range 10 {
			s.Take(bigBatch(i*120, 120), 120)
		}
		if !paceReturns(s, nil, 20*time.Second) {
			t.Fatal("Pace holds while Carbon refuses connections")
		}
	})
	t.Run("stop", func(t *testing.T) {
		ln := blackHole(t)
		s := start(t, Config{Addr: ln.Addr().String(), SendBuffer: 4096, WriteTimeout: time.Hour})
		for i := range 20 {
			s.Take(bigBatch(i*120, 120), 120)
		}
		stop := make(chan struct{})
		if paceReturns(s, stop, 300*time.Millisecond) {
			t.Fatal("Pace returned at once with a Carbon that never reads")
		}
		close(stop)
		if !paceReturns(s, stop, 20*time.Second) {
			t.Fatal("Pace holds after stop")
		}
	})
	t.Run("spool", func(t *testing.T) {
		// A spool's batches wait on disk: never held, and the buffer
		// handed over is free again at once.
		sp, err := OpenSpool(t.TempDir(), 64<<20, quiet())
		if err != nil {
			t.Fatal(err)
		}
		ln := blackHole(t)
		s := start(t, Config{Addr: ln.Addr().String(), SendBuffer: 4096, WriteTimeout: time.Hour, Spool: sp})
		for i := range 20 {
			b := bigBatch(i*120, 120)
			s.Take(b, 120)
			if r := s.Buf(len(b)); r == nil || &r[:1][0] != &b[0] {
				t.Fatalf("batch %d: the spooled buffer did not come back from Buf", i)
			}
		}
		if !paceReturns(s, nil, 20*time.Second) {
			t.Fatal("Pace holds with a spool")
		}
	})
}

// With several destinations a Carbon that never reads does not hold the
// formatting (the live one's lines would wait for it); with one it does.
func TestFanoutPace(t *testing.T) {
	hole := blackHole(t)
	live := listen(t, "127.0.0.1:0")
	dead := start(t, Config{Addr: hole.Addr().String(), SendBuffer: 4096, WriteTimeout: time.Hour})
	f := Fanout{dead, start(t, Config{Addr: live.ln.Addr().String()})}
	for i := range 20 {
		f.Take(bigBatch(i*120, 120), 120)
	}
	stop := make(chan struct{})
	defer close(stop)
	if !paceReturns(f, stop, 20*time.Second) {
		t.Fatal("a fanout held the formatting for a destination that never reads")
	}
	waitLines(t, live, 20*120)
	if paceReturns(Fanout{dead}, stop, 300*time.Millisecond) {
		t.Fatal("a fanout of one did not pace on its sender")
	}
}
