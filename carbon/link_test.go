// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"context"
	"net"
	"testing"
	"time"
)

// The link alone: its window keeps what the kernel may still hold (4 send
// buffers) and hands the older batches back as acknowledged, in order; an
// orderly close acknowledges the rest when the peer closes after reading
// everything, and nothing when it does not answer.
func TestLinkWindowAndOrderlyClose(t *testing.T) {
	srv := listen(t, "127.0.0.1:0") // closes its end after our end of stream
	cfg := Config{Addr: srv.ln.Addr().String(), Network: "tcp", SendBuffer: 4 << 10, DialTimeout: time.Second, WriteTimeout: time.Second}
	l := &link{cfg: &cfg, addr: cfg.Addr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := l.dial(ctx); err != nil {
		t.Fatal(err)
	}
	var acked []batch
	per := lines(0, 100) // about 1.4 KB
	for i := 0; i < 40; i++ {
		b := batch{b: per, lines: 100, end: pos{off: int64(i)}}
		if err := l.write(b.b); err != nil {
			t.Fatal(err)
		}
		acked = append(acked, l.remember(b)...)
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
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never read
		}
	}()
	cfg.Addr = mute.Addr().String()
	l = &link{cfg: &cfg, addr: cfg.Addr}
	if err := l.dial(ctx); err != nil {
		t.Fatal(err)
	}
	l.write(per)
	l.remember(batch{b: per, lines: 100})
	if got := l.closeAcked(); got != nil {
		t.Fatalf("a peer that did not answer our end of stream acknowledged %d batches", len(got))
	}
}
