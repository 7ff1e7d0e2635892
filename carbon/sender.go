// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/nowait"
	"github.com/nodemetrics/nodemetrics/internal/ratelog"
)

// Config configures a Sender. Zero fields take the defaults in NewSender.
type Config struct {
	Addr         string // host:port, resolved afresh on every dial
	Network      string // "tcp" (default) or "udp"
	QueueLines   int    // bound of the in-memory queue, in lines (without a spool)
	DialTimeout  time.Duration
	WriteTimeout time.Duration
	// SendBuffer caps SO_SNDBUF. A write the kernel accepted is not
	// delivered: with loopback's default buffers a stalled Carbon swallows
	// megabytes without an error. A small buffer makes a stall visible
	// fast and bounds what can vanish.
	SendBuffer int
	BackoffMin time.Duration
	BackoffMax time.Duration
	Logger     *slog.Logger
	// Fallbacks are more destinations, in order of preference after Addr
	// (--graphite-mode failover): one source, sent to the first that
	// accepts; the next one takes over while it fails, and the first is
	// tried again after its backoff. What was unacknowledged on a failed
	// destination is sent again to the next.
	Fallbacks []string
	// Spool, when set, replaces the memory queue: every batch is appended
	// to it by Enqueue, before any attempt to send it, and leaves it only
	// once acknowledged, so a crash loses nothing already enqueued. Its
	// bound (on disk) replaces QueueLines.
	Spool *Spool
}

// Stats are the sender's counters, in lines. Queued is the memory queue
// (no spool), Spooled the spool's backlog (not yet written); Dropped counts
// every line lost: queue or spool full, full disk, corrupt spool record.
type Stats struct {
	Sent, Queued, Spooled, Dropped, Resent, Reconnects, Errors uint64
}

// Sender delivers lines to Carbon from one goroutine (Run), the only owner
// of the connection. Enqueue never blocks on the network. Its two parts
// are separable: a source of batches (the memory queue, or the spool) and
// a link (one connection with its unacknowledged window).
type Sender struct {
	cfg     Config
	log     *slog.Logger
	src     source
	spare   spare // written buffers Carbon has, for Buf
	wake    chan struct{}
	moved   chan struct{}      // Run took a batch from the memory queue, or Carbon went down (Pace)
	closing chan chan struct{} // Close asks the idle Run goroutine

	sent, reconnects, errs atomic.Uint64
	// down: the last dial or write failed, or the sender is backing off.
	// Flush with a spool does not wait for a Carbon that is down: the
	// lines are on disk already. Nor does Pace.
	down atomic.Bool
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
	s := &Sender{cfg: cfg, log: cfg.Logger.With("carbon", cfg.Addr), wake: make(chan struct{}, 1),
		moved: make(chan struct{}, 1), closing: make(chan chan struct{})}
	if cfg.Spool != nil {
		s.src = &spoolSource{sp: cfg.Spool, fails: ratelog.New(s.log, time.Minute, "")}
	} else {
		s.src = &memSource{limit: cfg.QueueLines}
	}
	return s
}

// Enqueue copies b (whole lines) into the source and wakes the sender. It
// never waits on the network: it is on the collection path, and a stalled
// Carbon must not stall the collectors (Diamond #313). Without a spool,
// when the queue is over QueueLines the oldest lines are dropped and
// counted: fresh data is worth more than stale. With one, the batch is
// appended to it (a write to the page cache).
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
	cp := make([]byte, len(b), n)
	copy(cp, b)
	s.Take(cp, lines)
}

// Take is Enqueue without the copy: the Sender keeps b, and the caller
// must not touch it again. The agent formats a cycle's lines into buffers
// of its own of 64 KB and hands each over as it fills, so the lines are
// held once, and what is kept for the resend window is ~512 KB of them,
// not a whole cycle's (1.6 MB at 1000 containers).
func (s *Sender) Take(b []byte, lines int) {
	if len(b) == 0 {
		return
	}
	if b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	if lines <= 0 {
		lines = bytes.Count(b, []byte{'\n'})
	}
	if !s.src.push(b, lines) {
		// Spooled: b is free for the agent's next lines, as a written
		// buffer is without a spool.
		s.spare.put(b)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// paceBatches is how many batches may wait in the memory queue before Pace
// holds the caller: with the one being written and what the socket's
// buffers hold, enough that the connection never waits on the formatting.
const paceBatches = 2

// Pace returns once at most paceBatches batches wait in the memory queue,
// or Carbon is down, or stop is closed. The agent calls it after each
// buffer it hands over while formatting a cycle: Carbon (a Python
// carbon-cache) reads a large cycle's lines slower than they are formatted,
// and without it all of them were in memory at once, 1.6 MB at 1000
// containers, raising the heap the process keeps. It holds only the
// formatting (the collectors have returned) and only while the connection
// takes lines; the caller's stop bounds it. A spool's batches wait on disk:
// it never holds then.
func (s *Sender) Pace(stop <-chan struct{}) {
	for !s.down.Load() && s.src.backlog() > paceBatches {
		select {
		case <-s.moved:
		case <-stop:
			return
		}
	}
}

// signal tells a waiting Pace to look again.
func (s *Sender) signal() {
	select {
	case s.moved <- struct{}{}:
	default:
	}
}

// setDown marks Carbon unreachable: a dial or a write failed, or every
// destination is backing off.
func (s *Sender) setDown() {
	s.down.Store(true)
	s.signal()
}

// Buf returns a buffer of at least size bytes' capacity, empty, for the
// caller's next lines: one whose lines were written (a copy is in the
// resend window's ring) or left the window; nil when there is none. The
// agent formats into buffers it takes here, so while Carbon keeps up a
// cycle's lines (1.6 MB at 1000 containers, in 64 KB buffers) go into
// the few written earlier in the same cycle, not into new ones: no heap
// growth and garbage collection for them.
func (s *Sender) Buf(size int) []byte { return s.spare.get(size) }

// acked: a has left the window (Carbon has it).
func (s *Sender) acked(a batch) {
	s.src.acked(a)
	if !a.spooled && !a.inRing {
		s.spare.put(a.b)
	}
}

// spare keeps a few buffers the sender is done with (Buf): as many as a
// paced cycle has out at once (up to paceBatches+1 waiting, as Pace holds
// once there are more than paceBatches, one being written, one being
// formatted), so that a cycle's lines go into the buffers of the cycle
// before and a steady agent allocates no new ones. With two, the three
// more a large cycle had out were dropped at its end and made anew in the
// next: 0.5 MB of garbage a cycle at 1000 containers (heap profile), a
// collection every other cycle. Not more: an idle buffer is memory held
// for nothing (24, before pacing, measured 15.8-16.2 MB of PSS against
// 15.6-15.7 with two).
type spare struct {
	mu   sync.Mutex
	bufs [][]byte
}

const spareBufs = paceBatches + 3

func (p *spare) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	if len(p.bufs) < spareBufs {
		p.bufs = append(p.bufs, b[:0])
	}
	p.mu.Unlock()
}

// get pops the last buffer put; nil when there is none or it is smaller
// than size (dropped: the sizes of a host's cycle are about the same).
func (p *spare) get(size int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.bufs)
	if n == 0 {
		return nil
	}
	b := p.bufs[n-1]
	p.bufs[n-1] = nil
	p.bufs = p.bufs[:n-1]
	if cap(b) < size {
		return nil
	}
	return b
}

// Stats returns the counters. Without a spool Sent+Queued+Dropped always
// equals the lines enqueued plus Resent.
func (s *Sender) Stats() Stats {
	st := s.src.stats()
	st.Sent = s.sent.Load()
	st.Reconnects, st.Errors = s.reconnects.Load(), s.errs.Load()
	return st
}

// Flush waits until every enqueued line was written, or ctx ends; it is
// the SIGTERM path, so it must end at the caller's deadline even when
// Carbon is dead. With a spool what is not written stays in it for the
// next run (no error); without one the error says how many lines are
// lost.
func (s *Sender) Flush(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		left := s.src.waiting()
		if left == 0 {
			return nil
		}
		if s.cfg.Spool != nil && s.down.Load() {
			s.cfg.Spool.Sync()
			s.log.Info("carbon unreachable: lines stay in the spool for the next run", "lines", left)
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			if s.cfg.Spool == nil {
				return &LostError{Addr: s.cfg.Addr, Lines: left, Err: ctx.Err()}
			}
			s.cfg.Spool.Sync()
			s.log.Info("carbon unreachable at shutdown: lines stay in the spool for the next run", "lines", left)
			return nil
		}
	}
}

// Close ends the connection in order, after a successful Flush: when
// Carbon answers our end of stream with its own, it has read every line,
// so the window is acknowledged and the next run sends none of it again.
// It waits for the Run goroutine until ctx ends.
func (s *Sender) Close(ctx context.Context) {
	if s.down.Load() || s.src.waiting() > 0 {
		return // not idle on a live connection: Run is not listening
	}
	reply := make(chan struct{})
	select {
	case s.closing <- reply:
	case <-ctx.Done():
		return
	}
	select {
	case <-reply:
	case <-ctx.Done():
	}
}

// LostError is a Flush that ended with lines not written and no spool.
type LostError struct {
	Addr  string
	Lines int
	Err   error
}

func (e *LostError) Error() string {
	return fmt.Sprintf("carbon %s: %d lines not written, lost: %v", e.Addr, e.Lines, e.Err)
}

func (e *LostError) Unwrap() error { return e.Err }

// Run sends until ctx ends, then closes the connection. It is the only
// goroutine that touches the connection, so no write ever races a
// reconnect (graphite-golang's failure: it races and drops data under concurrent use).
func (s *Sender) Run(ctx context.Context) {
	dests := append([]string{s.cfg.Addr}, s.cfg.Fallbacks...)
	// Per destination: its backoff and when it may be dialled again.
	backoff := make([]time.Duration, len(dests))
	retryAt := make([]time.Time, len(dests))
	for i := range backoff {
		backoff[i] = s.cfg.BackoffMin
	}
	cur := 0
	l := &link{cfg: &s.cfg, addr: dests[cur], udp: strings.HasPrefix(s.cfg.Network, "udp")}
	defer func() { l.close() }()
	// One key per destination: the connection to one Carbon is one source
	// whatever the step that failed (dial, write, closed by the peer).
	failing := ratelog.New(s.log, time.Minute, "")
	var attrs []any
	if len(dests) > 1 {
		attrs = []any{"addr", l.addr}
	}
	// ready: the first destination before end, in order of preference,
	// whose backoff has passed; -1 if none.
	ready := func(end int, now time.Time) int {
		for i := 0; i < end; i++ {
			if !retryAt[i].After(now) {
				return i
			}
		}
		return -1
	}
	use := func(i int) {
		if i != cur {
			s.log.Info("failing over", "from", dests[cur], "to", dests[i])
		}
		cur = i
		l = &link{cfg: &s.cfg, addr: dests[i], udp: l.udp}
		if len(dests) > 1 {
			attrs = []any{"addr", l.addr}
		}
	}
	// failed: the current destination failed (its batch and window are
	// back in the source). A connection that had lived healthyConn is
	// redialled at once (a Carbon restart) with the backoff reset;
	// otherwise the destination backs off, jittered (so that a cluster of
	// agents does not reconnect to a restarted Carbon in lockstep) and
	// doubling, and the first destination not backing off takes over.
	// When all are, wait for the first to come out of it. A proxy that
	// accepts and closes at once (a load balancer in front of a dead
	// Carbon) is thus not redialled in a tight loop, resending the window
	// every time.
	failed := func(healthy bool) bool {
		now := time.Now()
		if healthy {
			backoff[cur], retryAt[cur] = s.cfg.BackoffMin, now
		} else {
			retryAt[cur] = now.Add(backoff[cur]/2 + rand.N(backoff[cur]/2+1))
			backoff[cur] = min(backoff[cur]*2, s.cfg.BackoffMax)
		}
		next := ready(len(dests), now)
		if next < 0 {
			s.setDown()  // also after a closed connection: no Pace waits out a backoff
			s.src.idle() // an outage is when the spool's fsync matters most
			next = 0
			for i := range dests {
				if retryAt[i].Before(retryAt[next]) {
					next = i
				}
			}
			t := time.NewTimer(time.Until(retryAt[next]))
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
			}
		}
		use(next)
		return true
	}
	everConnected := false
	// requeue puts b and the unacknowledged window back, in order.
	requeue := func(b batch) {
		s.src.release(b)
		s.src.rewind(l.takeWindow())
	}
	for {
		b, ok := s.src.next()
		if !ok {
			s.src.idle()
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case reply := <-s.closing:
				for _, a := range l.closeAcked() {
					s.acked(a)
				}
				close(reply)
			}
			continue
		}
		s.signal()
		if cur > 0 && l.conn != nil {
			if j := ready(cur, time.Now()); j >= 0 {
				// A preferred destination's backoff has passed: back to it
				// if it accepts a connection.
				p := &link{cfg: &s.cfg, addr: dests[j], udp: l.udp}
				if err := p.dial(ctx); err != nil {
					retryAt[j] = time.Now().Add(backoff[j]/2 + rand.N(backoff[j]/2+1))
					backoff[j] = min(backoff[j]*2, s.cfg.BackoffMax)
					failing.Fail("conn "+dests[j], "cannot connect to carbon", err, "addr", dests[j])
				} else {
					// What the current one has not acknowledged by an
					// orderly close goes again, to the preferred one.
					for _, a := range l.closeAcked() {
						s.acked(a)
					}
					if w := l.takeWindow(); len(w) > 0 {
						s.src.rewind(w)
					}
					s.log.Info("back to the preferred destination", "from", dests[cur], "to", dests[j])
					cur, l = j, p
					attrs = []any{"addr", l.addr}
					s.reconnects.Add(1)
				}
			}
		}
		if l.conn != nil && !l.udp && peerClosed(l.conn) {
			// Carbon restarted while we were idle. Writing now would
			// "succeed" into a dead socket and lose the batch.
			healthy := time.Since(l.connAt) >= healthyConn
			l.close()
			s.errs.Add(1)
			failing.Fail("conn "+l.addr, "carbon closed the connection", errPeerClosed, attrs...)
			requeue(b)
			if !failed(healthy) {
				return
			}
			continue
		}
		if l.conn == nil {
			err := l.dial(ctx)
			if err != nil {
				s.src.release(b)
				if ctx.Err() != nil {
					return
				}
				s.errs.Add(1)
				s.setDown()
				failing.Fail("conn "+l.addr, "cannot connect to carbon", err, attrs...)
				if !failed(false) {
					return
				}
				continue
			}
			if everConnected {
				s.reconnects.Add(1)
			}
			everConnected = true
		}
		if err := l.write(b.b); err != nil {
			healthy := time.Since(l.connAt) >= healthyConn
			l.close()
			requeue(b)
			if ctx.Err() != nil {
				return
			}
			s.errs.Add(1)
			s.setDown()
			failing.Fail("conn "+l.addr, "write to carbon failed", err, attrs...)
			if !failed(healthy) {
				return
			}
			continue
		}
		s.down.Store(false)
		if !l.wrote {
			l.wrote = true
			if !failing.OK("conn "+l.addr, "connected to carbon", "addr", l.conn.RemoteAddr()) {
				s.log.Debug("connected to carbon", "addr", l.conn.RemoteAddr())
			}
		}
		s.sent.Add(uint64(b.lines))
		s.src.written(b)
		acked, done := l.remember(b)
		for _, a := range acked {
			s.acked(a)
		}
		s.spare.put(done)
	}
}

var errPeerClosed = errors.New("connection closed by carbon")

// healthyConn is how long a connection must have lived for its loss to be
// treated as a Carbon restart (redial at once) rather than as one more
// failure in a row (back off).
const healthyConn = 10 * time.Second

// link is one connection to Carbon and its unacknowledged window: the
// batches written since the connection was last known good. A write the
// kernel accepted is not delivered, so after a broken connection they are
// sent again (a duplicate is harmless to Carbon, a loss is not).
type link struct {
	cfg        *Config
	addr       string
	udp        bool // datagrams, no peer check, no window
	conn       net.Conn
	stopClose  func() bool
	connAt     time.Time
	wrote      bool // the current connection took a write: log a recovery once
	window     []batch
	windowSize int
	// ring holds the window's batches as copies (remember), so that the
	// buffer of a batch is free for the agent's next lines as soon as it
	// is written: allocated once, it is the window's memory, where the
	// window used to keep the agent's buffers themselves, and the agent
	// allocated a new one every cycle until the window was full (24
	// cycles for the host alone, ~21 KB a cycle: a garbage collection
	// every ~10 cycles). ring[tail:head], wrapping, holds the copies.
	ring       []byte
	head, tail int
	copies     int     // batches of the window in ring
	gone       []batch // remember's result, reused (a cycle allocated nothing for it)
}

func (l *link) close() {
	if l.conn != nil {
		l.stopClose()
		l.conn.Close()
		l.conn = nil
	}
}

// remember keeps b in the window and returns the batches that left it:
// those Carbon has (acknowledged). Its bound is what can vanish when a
// connection dies: our send buffer (the kernel doubles SO_SNDBUF, so
// 2×SendBuffer) plus what sat unread in Carbon's receive buffer, which we
// cannot know; another 2×SendBuffer is allowed for it. A batch's bytes are
// not kept when its source can read it again (the spool); otherwise they
// are copied into the ring when it has room, and b's buffer is returned
// (done), free for reuse. acked is valid until the next call.
func (l *link) remember(b batch) (acked []batch, done []byte) {
	l.gone = l.gone[:0]
	if l.udp {
		return append(l.gone, b), nil
	}
	size := len(b.b)
	if b.spooled {
		b.b = nil
	}
	b.size = size
	l.window = append(l.window, b)
	l.windowSize += size
	k := 0
	for len(l.window)-k > 1 && l.windowSize-l.window[k].size >= 4*l.cfg.SendBuffer {
		l.windowSize -= l.window[k].size
		if a := &l.window[k]; a.inRing {
			l.copies--
			l.tail = a.at + a.size
		}
		k++
	}
	if k > 0 {
		l.gone = append(l.gone, l.window[:k]...)
		// Moved down rather than resliced: a window sliding along its
		// array would need a new one every few batches.
		n := copy(l.window, l.window[k:])
		clear(l.window[n:])
		l.window = l.window[:n]
	}
	if last := &l.window[len(l.window)-1]; !b.spooled {
		if at, ok := l.copyIn(b.b); ok {
			done = b.b
			// Its own capacity only: nothing can append over the next copy.
			last.b, last.inRing, last.at = l.ring[at:at+size:at+size], true, at
		}
	}
	return l.gone, done
}

// copyIn copies p into the ring after the window's other copies and
// returns where; false when there is no room (p is then kept as it is).
// The ring has room for the window's bound and two of the largest writes
// (one more can wait in a gap at its end, where the next did not fit).
func (l *link) copyIn(p []byte) (at int, ok bool) {
	n := len(p)
	if n == 0 || n > maxWrite {
		return 0, false
	}
	if l.ring == nil {
		l.ring = make([]byte, 4*l.cfg.SendBuffer+2*maxWrite)
		// Every page of the ring is touched now, once: a host's ~20 KB
		// cycles would otherwise fault in five new pages a cycle for
		// the first 32 cycles (perf stat: 5.5 page faults a cycle
		// against the floor's none). The ring is all resident anyway
		// once the window has gone round it.
		for i := 0; i < len(l.ring); i += 4096 {
			l.ring[i] = 0
		}
	}
	if l.copies == 0 {
		l.head, l.tail = 0, 0
	}
	switch {
	case l.copies == 0 || l.head > l.tail: // free: ring[head:] and ring[:tail]
		if n <= len(l.ring)-l.head {
			at = l.head
		} else if n > l.tail {
			return 0, false
		}
	case l.head < l.tail: // free: ring[head:tail]
		if n > l.tail-l.head {
			return 0, false
		}
		at = l.head
	default: // head == tail: full
		return 0, false
	}
	copy(l.ring[at:], p)
	l.head = at + n
	l.copies++
	return at, true
}

// closeAcked half-closes the connection and waits (a bounded time) for
// Carbon to close its side: it does so only after reading everything sent
// before our end of stream, so then the whole window is acknowledged and
// returned. The connection is closed either way.
func (l *link) closeAcked() []batch {
	if l.conn == nil {
		return nil
	}
	defer l.close()
	tc, ok := l.conn.(*net.TCPConn)
	if !ok || len(l.window) == 0 || tc.CloseWrite() != nil {
		return nil
	}
	tc.SetReadDeadline(time.Now().Add(closeWait))
	var b [512]byte
	for {
		if _, err := tc.Read(b[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return l.takeWindow()
			}
			return nil
		}
	}
}

// closeWait bounds how long Close waits for Carbon's end of stream.
const closeWait = 2 * time.Second

// takeWindow empties the window and returns it, oldest first. Its copies
// are theirs from now on: the ring is let go, not copied into again.
func (l *link) takeWindow() []batch {
	w := l.window
	l.window, l.windowSize = nil, 0
	for i := range w {
		w[i].inRing = false
	}
	l.ring, l.copies = nil, 0
	return w
}

// dial resolves Addr afresh (a Carbon moved by DNS is found on the next
// reconnect) and caps the send buffer.
func (l *link) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: l.cfg.DialTimeout}
	c, err := d.DialContext(ctx, l.cfg.Network, l.addr)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(l.cfg.SendBuffer)
	}
	// Cancelling ctx closes the connection, so a write blocked on a
	// stalled Carbon ends at once at shutdown instead of at its write
	// deadline.
	l.conn, l.stopClose = c, context.AfterFunc(ctx, func() { c.Close() })
	l.connAt, l.wrote = time.Now(), false
	return nil
}

// write sends whole lines: TCP in chunks of at most maxWrite bytes, UDP in
// datagrams of at most maxDatagram bytes (a longer single line goes alone).
// Every write that must wait has its own deadline (writeNoWait): without
// one, a Carbon that accepts and never reads blocks the sender forever.
func (l *link) write(b []byte) error {
	limit := maxWrite
	if l.udp {
		limit = maxDatagram
	}
	for len(b) > 0 {
		n := chunk(b, limit)
		if err := writeNoWait(l.conn, b[:n], l.cfg.WriteTimeout); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// writeNoWait is c.Write of b under a deadline of timeout, with each
// write(2) made without the scheduler's system-call bookkeeping
// (internal/nowait): the socket is non-blocking, so a write never waits in
// the kernel; when the send buffer is full it waits for room in the
// runtime's network poller, as c.Write does. A loopback write to Carbon
// lasts longer than the runtime monitor's 20 µs poll, and through c.Write
// it woke the monitor once a cycle. The deadline is set only when the
// write must wait: set and cleared at every write, it was a runtime timer
// left in the timer heap, which woke the process when its time came.
// Errors read as c.Write's.
func writeNoWait(c net.Conn, b []byte, timeout time.Duration) error {
	rc, err := rawConn(c)
	if err != nil {
		c.SetWriteDeadline(time.Now().Add(timeout))
		defer c.SetWriteDeadline(time.Time{})
		_, err := c.Write(b)
		return err
	}
	var werr error
	waited := false
	err = rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			n, err := nowait.Write(int(fd), b)
			switch err {
			case nil:
				b = b[n:]
			case syscall.EINTR:
			case syscall.EAGAIN:
				if !waited {
					waited = true
					c.SetWriteDeadline(time.Now().Add(timeout))
				}
				return false // wait for room
			default:
				werr = os.NewSyscallError("write", err)
				return true
			}
		}
		return true
	})
	if waited {
		c.SetWriteDeadline(time.Time{})
	}
	if err == nil {
		err = werr
	} else if oe, ok := err.(*net.OpError); ok {
		err = oe.Err // the deadline or a closed conn, said as c.Write says it
	}
	if err != nil {
		return &net.OpError{Op: "write", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return nil
}

// rawConn is c's descriptor access, an error when it has none.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("no descriptor")
	}
	return sc.SyscallConn()
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
// costs one syscall and no wait (made without the scheduler's bookkeeping:
// internal/nowait); a conn without a file descriptor falls back to a read
// with a 1 ms deadline.
func peerClosed(c net.Conn) bool {
	if rc, err := rawConn(c); err == nil {
		closed := false
		err = rc.Read(func(fd uintptr) bool {
			n, rerr := nowait.Peek(int(fd))
			switch {
			case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
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
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	var one [1]byte
	_, err := c.Read(one[:])
	c.SetReadDeadline(time.Time{})
	return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}
