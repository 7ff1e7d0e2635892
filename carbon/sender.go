// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/ratelog"
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
	// megabytes without an error (measured). A small buffer
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

// Sender delivers lines to Carbon from one goroutine (Run), the only owner
// of the connection. Enqueue never blocks: when the queue is over its bound
// the oldest lines are dropped and counted.
type Sender struct {
	cfg Config
	log *slog.Logger

	udp bool // Network is udp, udp4 or udp6: datagrams, no peer check

	mu      sync.Mutex
	q       queue
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
		udp:  strings.HasPrefix(cfg.Network, "udp"),
		wake: make(chan struct{}, 1), drained: make(chan struct{})}
}

// Enqueue copies b (whole lines) into the queue and wakes the sender. It
// never blocks on the network: it is on the collection path, and a stalled
// Carbon must not stall the collectors (Diamond #313). When the queue is
// over QueueLines the oldest lines go (to the spool when there is one,
// otherwise counted in Dropped): fresh data is worth more than stale.
//
// lines <= 0 means "count them". A missing final newline is added, so a
// partial line can never be glued to the next batch on the wire and
// corrupt two series.
func (s *Sender) Enqueue(b []byte, lines int) {
	if len(b) == 0 {
		return
	}
	n := len(b)
	if b[n-1] != '\n' {
		n++
	}
	cp := make([]byte, n)
	copy(cp, b)
	cp[n-1] = '\n'
	if lines <= 0 {
		lines = bytes.Count(cp, []byte{'\n'})
	}
	var overflow []batch
	var spill *[]batch
	if s.cfg.Spool != nil {
		spill = &overflow
	}
	s.mu.Lock()
	s.q.pushBack(batch{b: cp, lines: lines})
	if d := s.q.trim(s.cfg.QueueLines, spill); d > 0 && spill == nil {
		// Counted under mu: Stats sees Queued and Dropped change together.
		s.dropped.Add(uint64(d))
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

// Stats returns the counters. Taken under the queue's mutex, so without a
// spool Sent+Queued+Dropped always equals the lines enqueued plus Resent.
func (s *Sender) Stats() Stats {
	s.mu.Lock()
	st := Stats{Sent: s.sent.Load(), Queued: uint64(s.q.lines + s.pending), Dropped: s.dropped.Load(),
		Resent: s.resent.Load(), Reconnects: s.reconnects.Load(), Errors: s.errs.Load()}
	s.mu.Unlock()
	if sp := s.cfg.Spool; sp != nil {
		st.Spooled = uint64(sp.Lines())
		st.Dropped += sp.Dropped()
	}
	return st
}

// Flush waits until every queued line was written, or ctx ends; it is the
// SIGTERM path, so it must end at the caller's deadline even when Carbon is
// dead. At the deadline, with a spool, what is still queued in memory goes
// to the spool for the next run; without one the error says how many lines
// are lost.
func (s *Sender) Flush(ctx context.Context) error {
	for {
		s.mu.Lock()
		left := s.q.lines + s.pending
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
			rest := s.q.drain()
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
	b, ok := s.q.popFront()
	s.pending += b.lines
	return b, ok
}

// giveBack puts an unsent batch back at the head: after a reconnect it is
// sent again (Carbon keeps the last value per series and timestamp, so a
// duplicate is harmless and a loss is not).
func (s *Sender) giveBack(b batch) {
	s.mu.Lock()
	s.pending -= b.lines
	s.q.pushFront(b)
	s.mu.Unlock()
}

func (s *Sender) done(b batch) {
	s.mu.Lock()
	s.sent.Add(uint64(b.lines)) // under mu: Stats sees it and pending change together
	s.pending -= b.lines
	if s.pending == 0 && s.q.lines == 0 {
		close(s.drained)
		s.drained = make(chan struct{})
	}
	s.mu.Unlock()
}

// Run sends until ctx ends, then closes the connection. It is the only
// goroutine that touches the connection, so no write ever races a
// reconnect (graphite-golang's failure: it races and drops data under concurrent use).
func (s *Sender) Run(ctx context.Context) {
	var conn net.Conn
	var stopClose func() bool
	closeConn := func() {
		if conn != nil {
			stopClose()
			conn.Close()
			conn = nil
		}
	}
	defer closeConn()
	backoff := s.cfg.BackoffMin
	// pause waits the jittered backoff (jitter so that a cluster of agents
	// does not reconnect to a restarted Carbon in lockstep) and doubles it.
	pause := func() bool {
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(backoff*2, s.cfg.BackoffMax)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	// One key: the connection to this Carbon is one source whatever the
	// step that failed (dial, write, closed by the peer).
	failing := ratelog.New(s.log, time.Minute, "")
	everConnected := false
	// A broken connection is redialled at once, with the backoff reset,
	// only if it had lived healthyConn; otherwise the backoff applies. A
	// proxy that accepts and closes at once (a load balancer in front of
	// a dead Carbon) is otherwise redialled in a tight loop, resending the
	// window every time.
	var connAt time.Time
	wrote := false // the current connection took a write: log a recovery once
	broken := func() (redialNow bool) {
		if time.Since(connAt) >= healthyConn {
			backoff = s.cfg.BackoffMin
			return true
		}
		return false
	}
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
		if conn != nil && !s.udp && peerClosed(conn) {
			// Carbon restarted while we were idle. Writing now would
			// "succeed" into a dead socket and lose the batch.
			closeConn()
			s.requeueWindow()
			s.errs.Add(1)
			failing.Fail("conn", "carbon closed the connection", errPeerClosed)
			if !broken() {
				s.release(b)
				if !pause() {
					return
				}
				continue
			}
		}
		if conn == nil {
			c, err := s.dial(ctx)
			if err != nil {
				s.release(b)
				if ctx.Err() != nil {
					return
				}
				s.errs.Add(1)
				failing.Fail("conn", "cannot connect to carbon", err)
				if !pause() {
					return
				}
				continue
			}
			conn = c
			// Cancelling ctx closes the connection, so a write blocked on
			// a stalled Carbon ends at once at shutdown instead of at its
			// write deadline.
			stopClose = context.AfterFunc(ctx, func() { c.Close() })
			connAt, wrote = time.Now(), false
			if everConnected {
				s.reconnects.Add(1)
			}
			everConnected = true
		}
		if b.b == nil { // dialled only to drain the spool
			continue
		}
		if err := s.write(conn, b.b); err != nil {
			closeConn()
			s.release(b)
			s.requeueWindow()
			if ctx.Err() != nil {
				return
			}
			s.errs.Add(1)
			failing.Fail("conn", "write to carbon failed", err)
			if !broken() && !pause() {
				return
			}
			continue
		}
		if !wrote {
			wrote = true
			if !failing.OK("conn", "connected to carbon", "addr", conn.RemoteAddr()) {
				s.log.Debug("connected to carbon", "addr", conn.RemoteAddr())
			}
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

var errPeerClosed = errors.New("connection closed by carbon")

// healthyConn is how long a connection must have lived for its loss to be
// treated as a Carbon restart (redial at once) rather than as one more
// failure in a row (back off).
const healthyConn = 10 * time.Second

// idle reports whether the memory queue is empty.
func (s *Sender) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.len() == 0
}

// release returns an unsent batch: a memory one to the head of the queue, a
// spooled one stays in the spool (it was not consumed).
func (s *Sender) release(b batch) {
	if !b.spooled && b.b != nil {
		s.giveBack(b)
	}
}

// remember keeps b in the unacknowledged window. Its bound is what can
// vanish when a connection dies: our send buffer (the kernel doubles
// SO_SNDBUF, so 2×SendBuffer) plus what sat unread in Carbon's receive
// buffer, which we cannot know; another 2×SendBuffer is allowed for it.
// Keeping it costs nothing but references to batches already written.
func (s *Sender) remember(b batch) {
	if s.udp {
		return
	}
	b.spooled = false
	s.window = append(s.window, b)
	s.windowBytes += len(b.b)
	for len(s.window) > 1 && s.windowBytes-len(s.window[0].b) >= 4*s.cfg.SendBuffer {
		s.windowBytes -= len(s.window[0].b)
		s.window[0] = batch{}
		s.window = s.window[1:]
	}
}

// requeueWindow puts the unacknowledged window back at the head of the
// queue, in order, after a broken connection.
func (s *Sender) requeueWindow() {
	if len(s.window) == 0 {
		return
	}
	n := 0
	var overflow []batch
	var spill *[]batch
	if s.cfg.Spool != nil {
		spill = &overflow
	}
	s.mu.Lock()
	for i := len(s.window) - 1; i >= 0; i-- {
		s.q.pushFront(s.window[i])
		n += s.window[i].lines
	}
	s.resent.Add(uint64(n)) // under mu, like Queued
	// The bound holds here too: the oldest lines go first, and those are
	// the ones just requeued, already written once.
	if d := s.q.trim(s.cfg.QueueLines, spill); d > 0 && spill == nil {
		s.dropped.Add(uint64(d))
	}
	s.mu.Unlock()
	s.spill(overflow)
	clear(s.window)
	s.window, s.windowBytes = s.window[:0], 0
}

// dial resolves Addr afresh (a Carbon moved by DNS is found on the next
// reconnect) and caps the send buffer.
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
// Every Write has its own deadline: without one, a Carbon that accepts and
// never reads blocks the sender forever.
func (s *Sender) write(conn net.Conn, b []byte) error {
	limit := maxWrite
	if s.udp {
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
	if i := bytes.LastIndexByte(b[:limit], '\n'); i >= 0 {
		return i + 1
	}
	if i := bytes.IndexByte(b[limit:], '\n'); i >= 0 {
		return limit + i + 1
	}
	return len(b)
}

// peerClosed tells whether Carbon closed an idle connection. Carbon never
// sends anything, so a readable socket means EOF or a reset, and a write
// now would be accepted by the kernel and lost (telegraf's checkEOF does
// the same with a 10 ms read). The check is a non-blocking MSG_PEEK, so it
// costs one syscall and no wait; a conn without a file descriptor falls
// back to a read with a 1 ms deadline.
func peerClosed(c net.Conn) bool {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			closed := false
			var one [1]byte
			err = rc.Read(func(fd uintptr) bool {
				n, _, rerr := syscall.Recvfrom(int(fd), one[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
				switch {
				case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
				case rerr != nil: // ECONNRESET and the like
					closed = true
				case n == 0: // orderly shutdown: EOF
					closed = true
				}
				return true
			})
			if err == nil {
				return closed
			}
		}
	}
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := c.Read(one[:])
	c.SetReadDeadline(time.Time{})
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}
