// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Sender. Zero fields take the defaults in NewSender.
type Config struct {
	Addr         string // host:port, resolved afresh on every dial
	Network      string // "tcp" (default) or "udp"
	QueueLines   int    // bound of the in-memory queue, in lines
	DialTimeout  time.Duration
	WriteTimeout time.Duration
	// SendBuffer caps SO_SNDBUF. A write the kernel accepted is not
	// delivered: with loopback's default buffers a stalled Carbon swallows
	// megabytes without an error (notes/platform.md §4). A small buffer
	// makes a stall visible fast and bounds what can vanish.
	SendBuffer int
	BackoffMin time.Duration
	BackoffMax time.Duration
	Logger     *slog.Logger
	// Spool, when set, takes the batches that overflow the in-memory
	// queue (instead of dropping them) and what is left at shutdown; they
	// are replayed at ReplayLinesPerSecond at most, interleaved with new
	// data.
	Spool                *Spool
	ReplayLinesPerSecond int
}

// Stats are the sender's counters, in lines.
type Stats struct {
	Sent, Queued, Spooled, Dropped, Resent, Reconnects, Errors uint64
}

// batch is whole lines.
type batch struct {
	b       []byte
	lines   int
	spooled bool // read from the spool: consumed only once written
}

// Sender delivers lines to Carbon from one goroutine (Run), the only owner
// of the connection. Enqueue never blocks: when the queue is over its bound
// the oldest lines are dropped and counted.
type Sender struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	queue   []batch
	queued  int // lines in queue
	pending int // lines taken by the loop, not yet written
	wake    chan struct{}
	drained chan struct{} // closed and replaced when queue and pending reach 0

	sent, dropped, resent, reconnects, errs atomic.Uint64

	// window holds the batches written since the connection was last known
	// good: a write the kernel accepted is not delivered, so after a broken
	// connection they are sent again (a duplicate is harmless to Carbon, a
	// loss is not). Owned by the Run goroutine.
	window      []batch
	windowBytes int
}

// maxWrite caps one Write so a write deadline covers a bounded amount.
const maxWrite = 64 << 10

// maxDatagram keeps UDP datagrams under a typical MTU.
const maxDatagram = 1400

// NewSender applies defaults; call Run in a goroutine.
func NewSender(cfg Config) *Sender {
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.QueueLines <= 0 {
		cfg.QueueLines = 100000
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = 128 << 10
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReplayLinesPerSecond <= 0 {
		cfg.ReplayLinesPerSecond = 20000
	}
	return &Sender{cfg: cfg, log: cfg.Logger.With("carbon", cfg.Addr),
		wake: make(chan struct{}, 1), drained: make(chan struct{})}
}

// Enqueue copies b (whole lines) into the queue and wakes the sender.
func (s *Sender) Enqueue(b []byte, lines int) {
	if len(b) == 0 {
		return
	}
	cp := append([]byte(nil), b...)
	var overflow []batch
	s.mu.Lock()
	s.queue = append(s.queue, batch{b: cp, lines: lines})
	s.queued += lines
	for s.queued > s.cfg.QueueLines && len(s.queue) > 1 {
		s.queued -= s.queue[0].lines
		overflow = append(overflow, s.queue[0])
		s.queue[0] = batch{}
		s.queue = s.queue[1:]
	}
	s.mu.Unlock()
	s.spill(overflow)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// spill writes batches that left the memory queue to the spool, or counts
// them dropped. Appending to a file in the page cache is local and short;
// the network is never waited on here.
func (s *Sender) spill(bs []batch) {
	for _, b := range bs {
		if s.cfg.Spool != nil {
			if err := s.cfg.Spool.Append(b.b, b.lines); err == nil {
				continue
			} else {
				s.log.Warn("cannot spool, lines dropped", "err", err, "lines", b.lines)
			}
		}
		s.dropped.Add(uint64(b.lines))
	}
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	st := Stats{Sent: s.sent.Load(), Queued: uint64(s.queued + s.pending), Dropped: s.dropped.Load(),
		Resent: s.resent.Load(), Reconnects: s.reconnects.Load(), Errors: s.errs.Load()}
	s.mu.Unlock()
	if sp := s.cfg.Spool; sp != nil {
		st.Spooled = uint64(sp.Lines())
		st.Dropped += sp.Dropped()
	}
	return st
}

// Flush waits until every queued line was written, or ctx ends. Then,
// with a spool, what is still queued in memory goes to the spool for the
// next run; without one it is reported lost.
func (s *Sender) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		left := s.queued + s.pending
		ch := s.drained
		s.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			if s.cfg.Spool == nil {
				return fmt.Errorf("flush to %s: %d lines not written: %w", s.cfg.Addr, left, ctx.Err())
			}
			s.mu.Lock()
			rest := s.queue
			s.queue, s.queued = nil, 0
			s.mu.Unlock()
			s.spill(rest)
			s.log.Info("carbon unreachable at shutdown: queue spooled for the next run", "lines", left)
			return nil
		}
	}
}

// take moves the oldest batch to pending.
func (s *Sender) take() (batch, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return batch{}, false
	}
	b := s.queue[0]
	s.queue[0] = batch{}
	s.queue = s.queue[1:]
	s.queued -= b.lines
	s.pending += b.lines
	return b, true
}

// giveBack puts an unsent batch back at the head: after a reconnect it is
// sent again (Carbon keeps the last value per series and timestamp, so a
// duplicate is harmless and a loss is not).
func (s *Sender) giveBack(b batch) {
	s.mu.Lock()
	s.pending -= b.lines
	s.queue = append([]batch{b}, s.queue...)
	s.queued += b.lines
	s.mu.Unlock()
}

func (s *Sender) done(b batch) {
	s.mu.Lock()
	s.sent.Add(uint64(b.lines)) // under mu: Stats sees it and pending change together
	s.pending -= b.lines
	if s.pending == 0 && s.queued == 0 {
		close(s.drained)
		s.drained = make(chan struct{})
	}
	s.mu.Unlock()
}

// Run sends until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := s.cfg.BackoffMin
	failing := failLog{log: s.log}
	everConnected := false
	var replayAt time.Time // the spool may be read again from then on
	fromSpool := false
	for {
		// New data and the spool take turns, the spool at a bounded rate,
		// so a long backlog never starves the live series.
		var b batch
		ok := false
		if sp := s.cfg.Spool; sp != nil && conn != nil && (fromSpool || s.idle()) && !time.Now().Before(replayAt) {
			var rec []byte
			if rec, b.lines, ok = sp.Next(); ok {
				b.b = append([]byte(nil), rec...)
				b.spooled = true
			}
		}
		fromSpool = !fromSpool
		if !ok {
			b, ok = s.take()
		}
		if !ok {
			wait := time.Duration(0)
			if s.cfg.Spool != nil && s.cfg.Spool.Lines() > 0 {
				wait = max(time.Until(replayAt), 10*time.Millisecond)
				if conn == nil {
					// Nothing in memory: dial to drain the spool.
					wait = 0
				}
			}
			if wait > 0 || s.cfg.Spool == nil || s.cfg.Spool.Lines() == 0 {
				var timer <-chan time.Time
				if wait > 0 {
					timer = time.After(wait)
				}
				select {
				case <-ctx.Done():
					return
				case <-s.wake:
				case <-timer:
				}
				continue
			}
		}
		if conn != nil && s.cfg.Network == "tcp" && peerClosed(conn) {
			conn.Close()
			conn = nil
			s.requeueWindow()
		}
		if conn == nil {
			c, err := s.dial(ctx)
			if err != nil {
				s.release(b)
				s.errs.Add(1)
				failing.fail("cannot connect to carbon", err)
				wait := backoff/2 + rand.N(backoff/2+1)
				backoff = min(backoff*2, s.cfg.BackoffMax)
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				continue
			}
			conn = c
			if everConnected {
				s.reconnects.Add(1)
			}
			everConnected = true
			backoff = s.cfg.BackoffMin
			failing.ok("connected to carbon")
		}
		if b.b == nil { // dialled only to drain the spool
			continue
		}
		if err := s.write(conn, b.b); err != nil {
			conn.Close()
			conn = nil
			s.release(b)
			s.requeueWindow()
			s.errs.Add(1)
			failing.fail("write to carbon failed", err)
			continue
		}
		if b.spooled {
			s.cfg.Spool.Consume()
			replayAt = time.Now().Add(time.Duration(float64(b.lines) / float64(s.cfg.ReplayLinesPerSecond) * float64(time.Second)))
			s.sent.Add(uint64(b.lines))
		} else {
			s.done(b)
		}
		s.remember(b)
	}
}

// idle reports whether the memory queue is empty.
func (s *Sender) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) == 0
}

// release returns an unsent batch: a memory one to the head of the queue, a
// spooled one stays in the spool (it was not consumed).
func (s *Sender) release(b batch) {
	if !b.spooled && b.b != nil {
		s.giveBack(b)
	}
}

// remember keeps b in the unacknowledged window, bounded to twice the
// socket buffer: what the kernel may still hold when a connection dies.
func (s *Sender) remember(b batch) {
	if s.cfg.Network != "tcp" {
		return
	}
	b.spooled = false
	s.window = append(s.window, b)
	s.windowBytes += len(b.b)
	for len(s.window) > 1 && s.windowBytes-len(s.window[0].b) >= 2*s.cfg.SendBuffer {
		s.windowBytes -= len(s.window[0].b)
		s.window[0] = batch{}
		s.window = s.window[1:]
	}
}

// requeueWindow puts the unacknowledged window back at the head of the
// queue after a broken connection.
func (s *Sender) requeueWindow() {
	if len(s.window) == 0 {
		return
	}
	n := 0
	for _, b := range s.window {
		n += b.lines
	}
	s.mu.Lock()
	s.resent.Add(uint64(n))
	s.queue = append(append([]batch(nil), s.window...), s.queue...)
	s.queued += n
	s.mu.Unlock()
	s.window, s.windowBytes = nil, 0
}

func (s *Sender) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: s.cfg.DialTimeout}
	c, err := d.DialContext(ctx, s.cfg.Network, s.cfg.Addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(s.cfg.SendBuffer)
	}
	return c, nil
}

// write sends whole lines: TCP in chunks of at most maxWrite bytes, UDP in
// datagrams of at most maxDatagram bytes (a longer single line goes alone).
func (s *Sender) write(conn net.Conn, b []byte) error {
	limit := maxWrite
	if s.cfg.Network == "udp" {
		limit = maxDatagram
	}
	for len(b) > 0 {
		n := chunk(b, limit)
		conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
		if _, err := conn.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// chunk is the length of the longest prefix of b of whole lines within
// limit, or the first line when it alone is longer.
func chunk(b []byte, limit int) int {
	if len(b) <= limit {
		return len(b)
	}
	for i := limit - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	for i := limit; i < len(b); i++ {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return len(b)
}

// peerClosed tells whether Carbon closed an idle connection. Carbon never
// sends anything, so a read that returns EOF (or an error other than the
// deadline) means a write would "succeed" into a dead socket and be lost.
func peerClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := c.Read(one[:])
	c.SetReadDeadline(time.Time{})
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

// failLog logs the first failure at once, then at most once a minute with
// a count, and the recovery once.
type failLog struct {
	log      *slog.Logger
	failing  bool
	last     time.Time
	repeated int
}

func (f *failLog) fail(msg string, err error) {
	if f.failing && time.Since(f.last) < time.Minute {
		f.repeated++
		return
	}
	f.log.Warn(msg, "err", err, "repeated", f.repeated)
	f.failing, f.last, f.repeated = true, time.Now(), 0
}

func (f *failLog) ok(msg string) {
	if f.failing {
		f.log.Info(msg, "failures", f.repeated+1)
	} else {
		f.log.Debug(msg)
	}
	f.failing, f.repeated = false, 0
}
