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
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
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
	srv := listen(t, "127.0.0.1:0")
	s := start(t, Config{Addr: srv.ln.Addr().String()})
	for i := 0; i < 10; i++ {
		s.Enqueue(lines(i*100, 100), 100)
	}
	got := waitLines(t, srv, 1000)
	for i, l := range got {
		if l != fmt.Sprintf("test.m %d 100", i) {
			t.Fatalf("line %d = %q", i, l)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Sent != 1000 || st.Queued != 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Carbon down at start-up is normal: lines queue, and arrive once it is up.
func TestCarbonDownAtStart(t *testing.T) {
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := probe.Addr().String()
	probe.Close()
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
// nothing is lost.
func TestReconnectAfterServerRestart(t *testing.T) {
	srv := listen(t, "127.0.0.1:0")
	addr := srv.ln.Addr().String()
	s := start(t, Config{Addr: addr})
	s.Enqueue(lines(0, 10), 10)
	waitLines(t, srv, 10)
	srv.close()
	srv2 := listen(t, addr)
	s.Enqueue(lines(10, 10), 10)
	got := waitLines(t, srv2, 10)
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	for i := 10; i < 20; i++ {
		if !seen[fmt.Sprintf("test.m %d 100", i)] {
			t.Fatalf("line %d lost after reconnect; got %v", i, got)
		}
	}
	if st := s.Stats(); st.Reconnects < 1 {
		t.Errorf("reconnect not counted: %+v", st)
	}
}

// A Carbon that accepts and never reads: Enqueue never blocks, the queue
// stays bounded and every line is accounted for (sent, queued or dropped).
func TestBlackHoleBoundsQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	s := start(t, Config{Addr: ln.Addr().String(), QueueLines: 20000, WriteTimeout: 200 * time.Millisecond})
	const batches, per = 2000, 100
	// 200-byte lines: the 20,000 queued ones (4 MB) are far more than the
	// capped send buffer plus an unread receive buffer can swallow.
	pad := strings.Repeat("x", 180)
	for i := 0; i < batches; i++ {
		var b strings.Builder
		for j := 0; j < per; j++ {
			fmt.Fprintf(&b, "test.%s %d 100\n", pad, i*per+j)
		}
		s.Enqueue([]byte(b.String()), per)
	}
	st := s.Stats()
	if st.Queued > 20000+2*per {
		t.Fatalf("queue not bounded: %+v", st)
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
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	s := start(t, Config{Addr: pc.LocalAddr().String(), Network: "udp"})
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

func TestAppendLineFormat(t *testing.T) {
	for _, tc := range []struct {
		v     float64
		iv    uint64
		isInt bool
		want  string
	}{
		{v: 1e21, want: "p.x 1000000000000000000000 5\n"},
		{v: 1e-7, want: "p.x 0.0000001 5\n"},
		{v: -0.0, want: "p.x 0 5\n"},
		{v: 0.1, want: "p.x 0.1 5\n"},
		{iv: 18446744073709551615, isInt: true, want: "p.x 18446744073709551615 5\n"},
	} {
		if got := string(AppendLine(nil, "p.", "x", tc.v, tc.iv, tc.isInt, 5)); got != tc.want {
			t.Errorf("AppendLine(%v, %d) = %q, want %q", tc.v, tc.iv, got, tc.want)
		}
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
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := probe.Addr().String()
	probe.Close()
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
