// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// linkConfig is a link's configuration with small send buffers (4 KB: a
// window of 16 KB).
func linkConfig(addr string) Config {
	return Config{Addr: addr, Network: "tcp", SendBuffer: 4 << 10, DialTimeout: time.Second, WriteTimeout: time.Second}
}

// dialLink connects a link with cfg; it is closed when the test ends.
func dialLink(t *testing.T, cfg *Config) *link {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l := &link{cfg: cfg, addr: cfg.Addr}
	if err := l.dial(ctx); err != nil {
		t.Fatal(err)
	}
	return l
}

// The link alone: its window keeps what the kernel may still hold (4 send
// buffers) and hands the older batches back as acknowledged, in order; an
// orderly close acknowledges the rest when the peer closes after reading
// everything, and nothing when it does not answer.
func TestLinkWindowAndOrderlyClose(t *testing.T) {
	srv := listen(t, "127.0.0.1:0") // closes its end after our end of stream
	cfg := linkConfig(srv.ln.Addr().String())
	l := dialLink(t, &cfg)
	var acked []batch
	per := lines(0, 100) // about 1.4 KB
	for i := 0; i < 40; i++ {
		b := batch{b: per, lines: 100, end: pos{off: int64(i)}}
		if err := l.write(b.b); err != nil {
			t.Fatal(err)
		}
		a, _ := l.remember(b)
		acked = append(acked, a...)
	}
	if l.windowSize > 4*cfg.SendBuffer+len(per) || l.windowSize < 4*cfg.SendBuffer-len(per) {
		t.Fatalf("window of %d bytes, want about %d", l.windowSize, 4*cfg.SendBuffer)
	}
	for i, b := range acked {
		if b.end.off != int64(i) {
			t.Fatalf("acknowledged out of order: %d at %d", b.end.off, i)
		}
	}
	inWindow := len(l.window)
	if len(acked)+inWindow != 40 {
		t.Fatalf("%d acknowledged + %d in the window, want 40", len(acked), inWindow)
	}
	rest := l.closeAcked()
	if len(rest) != inWindow || l.conn != nil {
		t.Fatalf("orderly close acknowledged %d of %d (conn closed: %v)", len(rest), inWindow, l.conn == nil)
	}
	waitLines(t, srv, 4000)

	// A peer that never closes: nothing is acknowledged, after closeWait.
	mute := blackHole(t)
	defer mute.Close() // before the sender or link stops, as the test always did
	cfg.Addr = mute.Addr().String()
	l = dialLink(t, &cfg)
	l.write(per)
	l.remember(batch{b: per, lines: 100})
	if got := l.closeAcked(); got != nil {
		t.Fatalf("a peer that did not answer our end of stream acknowledged %d batches", len(got))
	}
}

// The window keeps copies in its ring: the buffer of every batch is
// handed back (done) as soon as it is written, and the window's bytes
// stay what was written while the caller writes over its buffers and the
// ring wraps around many times; a batch larger than a write is kept as
// it is. What the window gives back on a broken connection is intact.
func TestLinkWindowCopies(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	cfg := linkConfig(srv.ln.Addr().String())
	l := dialLink(t, &cfg)
	want := map[int][]byte{} // first line of a batch -> its lines
	next, copied := 0, 0
	for i := 0; i < 2000; i++ {
		n := 1 + i*37%90 // 1 to 90 lines, 14 to 1300 bytes
		if i == 1000 {
			n = maxWrite/14 + 100 // larger than a write: kept as it is
		}
		buf := lines(next, n)
		want[next] = bytes.Clone(buf)
		b := batch{b: buf, lines: n, end: pos{off: int64(next)}}
		next += n
		if err := l.write(b.b); err != nil {
			t.Fatal(err)
		}
		_, done := l.remember(b)
		switch {
		case len(buf) > maxWrite && done != nil:
			t.Fatalf("batch %d of %d bytes copied into the ring", i, len(buf))
		case len(buf) <= maxWrite && done == nil:
			t.Fatalf("batch %d of %d bytes not copied (ring of %d, %d copies)", i, len(buf), len(l.ring), l.copies)
		case done != nil:
			copied++
			for j := range done {
				done[j] = 'X' // the caller formats its next lines into it
			}
		}
	}
	if copied < 1999 || l.copies == 0 {
		t.Fatalf("%d batches copied, %d in the ring", copied, l.copies)
	}
	check := func(w []batch) {
		t.Helper()
		for _, b := range w {
			if !bytes.Equal(b.b, want[int(b.end.off)]) {
				t.Fatalf("window batch from line %d holds %.40q, want %.40q", b.end.off, b.b, want[int(b.end.off)])
			}
		}
	}
	check(l.window)
	got := waitLines(t, srv, next)
	for i, g := range got[:next] {
		if w := fmt.Sprintf("test.m %d 100", i); g != w {
			t.Fatalf("line %d: got %q, want %q", i, g, w)
		}
	}
	w := l.takeWindow()
	if l.ring != nil || len(w) == 0 {
		t.Fatalf("the window (%d batches) kept its ring after it was taken", len(w))
	}
	for _, b := range w {
		if b.inRing {
			t.Fatal("a batch taken from the window still marked as in its ring")
		}
	}
	check(w)
}

// A link's write waits for room in the poller, not in the kernel: a write
// far larger than the send buffers reaches a Carbon that reads slowly
// whole and in order, and one to a Carbon that never reads ends at the
// write deadline, as a net.Conn write does.
func TestLinkWriteWaitsForRoomUnderTheDeadline(t *testing.T) {
	got := make(chan []byte, 1)
	srv := serveTCP(t, func(c net.Conn) {
		go func() {
			defer c.Close()
			var all []byte
			buf := make([]byte, 1024)
			for {
				time.Sleep(time.Millisecond) // slower than the writer
				n, err := c.Read(buf)
				all = append(all, buf[:n]...)
				if err != nil {
					got <- all
					return
				}
			}
		}()
	})
	cfg := linkConfig(srv.Addr().String())
	l := dialLink(t, &cfg)
	want := lines(0, 20000) // ~300 KB, 4 KB send buffer: many waits
	if err := l.write(want); err != nil {
		t.Fatal(err)
	}
	l.close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("Carbon received %d bytes, want the %d written, in order", len(b), len(want))
	}

	hole := blackHole(t)
	cfg = linkConfig(hole.Addr().String())
	cfg.WriteTimeout = 200 * time.Millisecond
	l = dialLink(t, &cfg)
	start := time.Now()
	err := l.write(lines(0, 100000))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write to a Carbon that never reads: %v, want the write deadline", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Errorf("the error reads %q, want a net.OpError of a write, as net.Conn.Write's", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the write took %s with a deadline of 200ms", took)
	}
}
