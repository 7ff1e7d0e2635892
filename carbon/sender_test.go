// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lineServer accepts connections on addr and collects every line.
type lineServer struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []string
	conns []net.Conn
}

func listen(t *testing.T, addr string) *lineServer {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &lineServer{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					s.mu.Lock()
					s.lines = append(s.lines, sc.Text())
					s.mu.Unlock()
				}
				c.Close() // as carbon-cache does at the sender's end of stream
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

// freeAddr is a loopback address nothing listens on (a Carbon that is
// down, or that a test starts later).
func freeAddr(t *testing.T) string {
	t.Helper()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	return addr
}

// blackHole is a loopback listener that accepts and never reads: each
// connection is held open until the listener is closed (at the latest
// when the test ends).
func blackHole(t *testing.T) net.Listener {
	t.Helper()
	var mu sync.Mutex
	var held []net.Conn // held open, never read; closed after the listener
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return serveTCP(t, func(c net.Conn) {
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
	})
}

// serveTCP listens on a free loopback port until the test ends and hands
// every accepted connection to handle, on the accepting goroutine.
func serveTCP(tb testing.TB, handle func(net.Conn)) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	return ln
}

func (s *lineServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
}

func (s *lineServer) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

func waitLines(t *testing.T, s *lineServer, n int) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if g := s.got(); len(g) >= n {
			return g
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("got %d lines, want %d", len(s.got()), n)
	return nil
}

func lines(from, n int) []byte {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "test.m %d 100\n", i)
	}
	return []byte(b.String())
}

func start(t *testing.T, cfg Config) *Sender {
	cfg.Logger = quiet()
	cfg.BackoffMin, cfg.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
	s := NewSender(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	t.Cleanup(cancel)
	return s
}

func TestLinesArriveInOrder(t *testing.T) {
	// tcp4 too: graphite-golang silently sent nothing with it.
	for _, network := range []string{"", "tcp", "tcp4"} {
		t.Run(network, func(t *testing.T) {
			srv := listen(t, "127.0.0.1:0")
			s := start(t, Config{Addr: srv.ln.Addr().String(), Network: network})
			for i := 0; i < 10; i++ {
				s.Enqueue(lines(i*100, 100), 100)
			}
			// A big batch goes out in several writes, still whole lines.
			s.Enqueue(lines(1000, 9000), 9000)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			got := waitLines(t, srv, 10000)
			for i, l := range got {
				if l != fmt.Sprintf("test.m %d 100", i) {
					t.Fatalf("line %d = %q", i, l)
				}
			}
			if st := s.Stats(); st.Sent != 10000 || st.Queued != 0 || st.Dropped != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// Enqueue completes a missing final newline (a partial line must not glue
// onto the next batch) and counts lines when told 0.
func TestEnqueueWholeLines(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	s := start(t, Config{Addr: srv.ln.Addr().String()})
	b := []byte("a.b 1 100\na.c 2 100")
	s.Enqueue(b, 0)
	b[0] = 'X' // Enqueue copied
	s.Enqueue([]byte("a.d 3 100\n"), 1)
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := waitLines(t, srv, 3)
	if strings.Join(got, "|") != "a.b 1 100|a.c 2 100|a.d 3 100" {
		t.Fatalf("got %q", got)
	}
	if st := s.Stats(); st.Sent != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// Carbon down at start-up is normal: lines queue, and arrive once it is up.
func TestCarbonDownAtStart(t *testing.T) {
	addr := freeAddr(t)
	s := start(t, Config{Addr: addr})
	s.Enqueue(lines(0, 50), 50)
	time.Sleep(100 * time.Millisecond) // a few failed dials
	srv := listen(t, addr)
	waitLines(t, srv, 50)
	if st := s.Stats(); st.Errors == 0 {
		t.Errorf("no dial error counted: %+v", st)
	}
}

// Carbon restarts: the sender notices the closed socket, reconnects, and
// nothing is lost. The new Carbon may first get the window the old one
// had not acknowledged (lines 0-9 again), so the test waits for the new
// lines themselves, not for a count.
func TestReconnectAfterServerRestart(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	addr := srv.ln.Addr().String()
	s := start(t, Config{Addr: addr})
	s.Enqueue(lines(0, 10), 10)
	waitLines(t, srv, 10)
	srv.close()
	srv2 := listen(t, addr)
	s.Enqueue(lines(10, 10), 10)
	missing := func() int {
		seen := map[string]bool{}
		for _, l := range srv2.got() {
			seen[l] = true
		}
		for i := 10; i < 20; i++ {
			if !seen[fmt.Sprintf("test.m %d 100", i)] {
				return i
			}
		}
		return -1
	}
	deadline := time.Now().Add(20 * time.Second)
	for missing() >= 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if i := missing(); i >= 0 {
		t.Fatalf("line %d lost after reconnect; got %v", i, srv2.got())
	}
	if st := s.Stats(); st.Reconnects < 1 {
		t.Errorf("reconnect not counted: %+v", st)
	}
}

// A Carbon that accepts and never reads: Enqueue never blocks, the queue
// stays bounded and every line is accounted for (sent, queued or dropped).
func TestBlackHoleBoundsQueue(t *testing.T) {
	ln := blackHole(t)
	defer ln.Close() // before the sender or link stops, as the test always did
	s := start(t, Config{Addr: ln.Addr().String(), QueueLines: 20000, WriteTimeout: 200 * time.Millisecond})
	const batches, per = 2000, 100
	// 200-byte lines: the 20,000 queued ones (4 MB) are far more than the
	// capped send buffer plus an unread receive buffer can swallow.
	pad := strings.Repeat("x", 180)
	// Not a timing assertion: Enqueue runs in this goroutine and must
	// merely return. The guard only turns a hang into a readable failure.
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
		case <-time.After(2 * time.Minute):
			panic("Enqueue blocked on a black-hole Carbon")
		}
	}()
	for i := 0; i < batches; i++ {
		var b strings.Builder
		for j := 0; j < per; j++ {
			fmt.Fprintf(&b, "test.%s %d 100\n", pad, i*per+j)
		}
		s.Enqueue([]byte(b.String()), per)
		// The bound is exact in lines; only the batch being written
		// (pending) is on top of it.
		if st := s.Stats(); st.Queued > 20000+per {
			t.Fatalf("queue not bounded after %d batches: %+v", i+1, st)
		}
	}
	close(finished)
	st := s.Stats()
	if st.Dropped == 0 {
		t.Fatalf("nothing dropped: %+v", st)
	}
	// Every line is sent, queued or dropped; a re-sent one counts again.
	if st.Sent+st.Queued+st.Dropped != batches*per+st.Resent {
		t.Fatalf("lines unaccounted for: %+v, want a total of %d + Resent", st, batches*per)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush returned nil with a black-hole Carbon")
	}
}

func TestUDP(t *testing.T) {
	for _, network := range []string{"udp", "udp4"} {
		t.Run(network, func(t *testing.T) { testUDP(t, network) })
	}
}

func testUDP(t *testing.T, network string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := start(t, Config{Addr: pc.LocalAddr().String(), Network: network})
	s.Enqueue(lines(0, 100), 100)
	var got []string
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got) < 100 {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d lines: %v", len(got), err)
		}
		if n > maxDatagram || buf[n-1] != '\n' {
			t.Fatalf("datagram of %d bytes not of whole lines", n)
		}
		got = append(got, strings.Split(strings.TrimSuffix(string(buf[:n]), "\n"), "\n")...)
	}
	if got[99] != "test.m 99 100" {
		t.Fatalf("last line %q", got[99])
	}
}

func BenchmarkEnqueue(b *testing.B) {
	s := NewSender(Config{Addr: "127.0.0.1:1", QueueLines: 1000, Logger: quiet()})
	batch := lines(0, 100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Enqueue(batch, 100)
	}
}

// One dead destination does not starve the other.
func TestFanoutDeadDestinationDoesNotStarveLive(t *testing.T) {
	live := listen(t, "127.0.0.1:0")
	dead := freeAddr(t)
	f := Fanout{
		NewSender(Config{Addr: live.ln.Addr().String(), Logger: quiet()}),
		NewSender(Config{Addr: dead, Logger: quiet(), BackoffMin: time.Second}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	for i := 0; i < 10; i++ {
		f.Enqueue(lines(i*10, 10), 10)
	}
	waitLines(t, live, 100)
	if st := f[1].Stats(); st.Queued != 100 {
		t.Fatalf("dead destination: %+v, want its 100 lines queued", st)
	}
}

// Without a running sender nothing leaves the queue: Dropped is exactly the
// overflow, the newest lines are the ones kept (cut at a line boundary
// inside a batch), and they arrive in order once Carbon is reachable.
func TestDropOldestExact(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	s := NewSender(Config{Addr: srv.ln.Addr().String(), QueueLines: 250, Logger: quiet()})
	for i := 0; i < 10; i++ {
		s.Enqueue(lines(i*100, 100), 100)
	}
	if st := s.Stats(); st.Queued != 250 || st.Dropped != 750 || st.Sent != 0 {
		t.Fatalf("stats %+v, want 250 queued and 750 dropped", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	got := waitLines(t, srv, 250)
	for i, l := range got {
		if want := fmt.Sprintf("test.m %d 100", 750+i); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
}

// Flush is the SIGTERM path: with Carbon dead it must return at its
// deadline and say how much is lost.
func TestFlushDeadlineCarbonDead(t *testing.T) {
	addr := freeAddr(t)
	s := start(t, Config{Addr: addr})
	s.Enqueue(lines(0, 42), 42)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := s.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "42 lines") {
		t.Fatalf("Flush = %v, want an error counting 42 lines", err)
	}
	if s := s.Stats(); s.Queued != 42 {
		t.Fatalf("stats %+v", s)
	}
}

// Carbon (or the network) drops the connection while a backlog is being
// written: the sender reconnects and every line arrives, possibly twice.
func TestServerClosesMidStream(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	accepts := 0
	ln := serveTCP(t, func(c net.Conn) {
		accepts++
		first := accepts <= 2
		go func() {
			defer c.Close()
			if first {
				// A bounded receive buffer, so what can vanish in it
				// stays within the sender's re-send window.
				c.(*net.TCPConn).SetReadBuffer(64 << 10)
			}
			sc := bufio.NewScanner(c)
			n := 0
			for sc.Scan() {
				mu.Lock()
				seen[sc.Text()]++
				mu.Unlock()
				if n++; first && n == 3000 {
					return // mid-stream, with data still unread
				}
			}
		}()
	})
	s := start(t, Config{Addr: ln.Addr().String()})
	const total = 40000
	for i := 0; i < total; i += 1000 {
		s.Enqueue(lines(i, 1000), 1000)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for i := 0; i < total; i++ {
			if seen[fmt.Sprintf("test.m %d 100", i)] == 0 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines lost; stats %+v", missing, total, s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := s.Stats()
	if st.Reconnects < 1 || st.Errors < 1 {
		t.Errorf("reconnect or error not counted: %+v", st)
	}
	if st.Sent+st.Queued+st.Dropped != total+st.Resent {
		t.Errorf("lines unaccounted for: %+v", st)
	}
}

// Shutdown must not wait for a write deadline: cancelling Run's context
// closes a connection stuck on a Carbon that never reads.
func TestRunReturnsOnCancelDuringStalledWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	s := NewSender(Config{Addr: ln.Addr().String(), WriteTimeout: time.Hour, Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	pad := strings.Repeat("x", 1000)
	for i := 0; i < 20; i++ {
		var b strings.Builder
		for j := 0; j < 1000; j++ {
			fmt.Fprintf(&b, "%s %d 1\n", pad, j)
		}
		s.Enqueue([]byte(b.String()), 1000) // 20 MB: the write must block
	}
	c := <-accepted
	defer c.Close()
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("Run still blocked in a write after cancel")
	}
}

// A proxy that accepts and closes at once must not be redialled in a
// tight loop: the backoff applies to connections that die young.
func TestAcceptThenCloseBacksOff(t *testing.T) {
	ln := serveTCP(t, func(c net.Conn) { c.Close() })
	s := NewSender(Config{Addr: ln.Addr().String(), Logger: quiet(),
		BackoffMin: 50 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for i := 0; i < 50; i++ {
		s.Enqueue(lines(i*10, 10), 10)
		time.Sleep(10 * time.Millisecond)
	}
	// 500 ms at a 25-50 ms backoff is at most ~20 dials; without the
	// backoff it was over 200 here (under -race). Loose on purpose.
	if st := s.Stats(); st.Reconnects > 60 {
		t.Fatalf("redialled in a tight loop: %+v", st)
	}
}

// Buffers whose lines left the resend window come back through Buf, and
// formatting into them never touches lines Carbon may still need: every
// line arrives, in order.
func TestTakenBuffersComeBack(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	// A window of 4 KB: a batch of 100 lines is ~1.7 KB.
	s := start(t, Config{Addr: srv.ln.Addr().String(), SendBuffer: 1024})
	taken := map[*byte]bool{}
	recycled := 0
	for i := 0; i < 20; i++ {
		want := lines(i*100, 100)
		b := s.Buf(len(want))
		if b != nil {
			if len(b) != 0 || !taken[&b[:1][0]] {
				t.Fatalf("Buf gave %d bytes, one of ours: %v", len(b), taken[&b[:1][0]])
			}
			recycled++
		} else {
			b = make([]byte, 0, len(want))
		}
		b = append(b, want...)
		taken[&b[0]] = true
		s.Take(b, 100)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	got := waitLines(t, srv, 2000)
	for i, l := range got {
		if l != fmt.Sprintf("test.m %d 100", i) {
			t.Fatalf("line %d = %q", i, l)
		}
	}
	if recycled < 5 {
		t.Errorf("%d of 20 buffers came back, want about half: a batch leaves a 4 KB window after a few more (11 here)", recycled)
	}
}
