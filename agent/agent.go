// SPDX-License-Identifier: Apache-2.0

// Package agent runs the collectors on a wall-clock-aligned schedule, with
// a deadline and panic recovery, one after the other on a worker goroutine
// and on more when one is slow or hung, formats one batch of Graphite
// lines per cycle and hands it to an Output (the Carbon sender or stdout).
// Collection never waits on the network: Output.Enqueue must not block.
// Only the formatting, after the collectors have returned, may be held by
// a slow Carbon (Pacer), and never past the cycle's deadline.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nodemetrics/nodemetrics/carbon"
	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
	"github.com/nodemetrics/nodemetrics/internal/nowait"
	"github.com/nodemetrics/nodemetrics/internal/ratelog"
)

// Output receives one cycle's lines. It must copy b and never block.
type Output interface {
	Enqueue(b []byte, lines int)
}

// Taker is an Output that can keep b instead of copying it (Take, never
// blocking either). The agent hands it a cycle's lines in buffers of about
// chunkBytes as they fill, each one new or one the Taker gave back
// (Recycler): no buffer of a whole cycle's lines is ever built, and the
// agent holds none between cycles.
type Taker interface {
	Take(b []byte, lines int)
}

// Recycler is a Taker that hands back buffers it is done with (Buf: one
// of at least size bytes' capacity, empty; nil when it has none): the
// agent formats its next lines into them instead of new ones.
type Recycler interface {
	Buf(size int) []byte
}

// Pacer is a Taker that may hold the formatting while the lines handed
// over wait for a slow Carbon (Pace: returns when the agent may go on, or
// when stop is closed). The agent calls it after each buffer it hands
// over, after the collectors have returned: it never holds a collection.
type Pacer interface {
	Pace(stop <-chan struct{})
}

// chunkBytes is the size of the buffers handed to a Taker. At 1000
// containers a cycle is 1.6 MB of lines; in 64 KB pieces (the Carbon
// sender's largest write) the lines being formatted leave for the socket
// while the later collectors' are formatted, and the sender's resend
// window keeps a copy of only the last ~0.6 MB written, not the cycle's
// 1.6 MB.
const chunkBytes = 64 << 10

// lineRoom is the room a buffer must have left for one more line to be
// formatted into it: a longer line grows the buffer, a rare event.
const lineRoom = 512

// Options configure an Agent.
type Options struct {
	Host      collect.Host
	Factories []collect.Factory // the collectors to run, in publishing order
	Prefix    string            // e.g. "servers"
	Hostname  string            // the host node
	Interval  time.Duration
	Raw       bool   // --counters
	StateFile string // "" = keep state in memory only
	Logger    *slog.Logger
	// SenderStats, when set, adds the sender's counters to the self-metrics.
	SenderStats func() carbon.Stats
}

// Agent owns the collectors and their state.
type Agent struct {
	opts    Options
	prefix  string // "<prefix>.<host>." with every node sanitised
	runners []*runner
	deps    collect.Deps // what the collectors share (readers kept open)
	buf     []byte       // reused for an Output that is not a Taker
	bytes   int          // of the recent cycles' lines, a decaying maximum, when handed to a Taker
	log     *slog.Logger
	errs    *ratelog.Logger // per collector: failures, caps reached
	stErrs  *ratelog.Logger // by key: the state file ("save"), skipped ticks ("ticks")
	cycles  uint64
	// Ticks Run let pass without a cycle, since the start: the cycle
	// before them ended after them (the process was not scheduled, or
	// the cycle overran its interval). Each is a point missing from every
	// series, so it is counted (agent.ticks_skipped, once there is one)
	// and logged, never silent.
	ticksSkipped uint64
	// A cycle's bookkeeping, made once in New: a cycle runs after an
	// idle interval, and each allocation, timer and goroutine made then
	// runs cold code.
	lead             chan *workers // the long-lived first worker's (workers.go)
	started, settled []bool
	// watch paces a cycle's nudges and ends its budget (set only while
	// a cycle waits); tick is Run's. Both are nowait.Timers: no runtime
	// timer, so the runtime's monitor thread sleeps through the cycles.
	watch, tick *nowait.Timer
}

// runner is one collector with its state across cycles.
type runner struct {
	name    string
	c       collect.Collector
	settler collect.Settler // c, when it is one (asserted once, not every cycle)
	deps    collect.Deps    // the collector's copy: its kept-open files
	sample  *collect.Sample
	busy    atomic.Bool // a previous run has not returned yet
	done    chan result
	skipped uint64 // ticks skipped because the previous run was still going
	capped  uint64 // runs that hit a cap (file bytes, file lines, metrics)

	// Self-metric paths, built once.
	pDuration, pSuccess, pSkipped, pCapped string
}

type result struct {
	err error
	dur time.Duration
}

// New builds every collector. A collector that cannot be built is an error:
// the user asked for it.
func New(o Options) (*Agent, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	a := &Agent{opts: o, log: o.Logger, prefix: PathPrefix(o.Prefix, o.Hostname),
		errs: ratelog.New(o.Logger, 10*time.Minute, "collector"), stErrs: ratelog.New(o.Logger, 10*time.Minute, "")}
	var prev map[string]collect.State
	if o.StateFile != "" {
		var err error
		if prev, err = loadState(o.StateFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.log.Warn("ignoring state file; rates start from the next sample", "err", err)
		}
	}
	// One set of shared readers for all the collectors: a kernel file
	// several of them read (/proc/stat) is read once per cycle.
	a.deps = collect.NewDeps(o.Host)
	for _, f := range o.Factories {
		deps := a.deps.For(o.Logger.With("collector", f.Name))
		c, err := f.New(deps)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("collector %s: %w", f.Name, err)
		}
		r := &runner{
			name:      f.Name,
			c:         c,
			deps:      deps,
			sample:    collect.NewSample(time.Time{}, o.Raw, collect.State{}),
			done:      make(chan result, 1),
			pDuration: "agent.collectors." + f.Name + ".duration_seconds",
			pSuccess:  "agent.collectors." + f.Name + ".success",
			pSkipped:  "agent.collectors." + f.Name + ".skipped",
			pCapped:   "agent.collectors." + f.Name + ".capped",
		}
		r.settler, _ = c.(collect.Settler)
		r.sample.Restore(prev[f.Name])
		a.runners = append(a.runners, r)
	}
	a.started, a.settled = make([]bool, len(a.runners)), make([]bool, len(a.runners))
	a.watch, a.tick = nowait.NewTimer(), nowait.NewTimer()
	a.lead = make(chan *workers)
	go lead(a.lead)
	return a, nil
}

// Close releases what the collectors hold across cycles (kept-open files,
// inotify and netlink descriptors): the files each collector took from its
// Deps, and every collector that is an io.Closer, once its run has
// returned. One still running (hung past its deadline) keeps its
// descriptors: closing them under it would turn its reads into reads of
// whatever file reuses the number; the process is ending anyway. Close is
// for the end of the agent's life, after the last Cycle or Run.
func (a *Agent) Close() {
	for _, r := range a.runners {
		if !r.busy.CompareAndSwap(false, true) {
			a.log.Debug("not closing a collector that is still running", "collector", r.name)
			continue
		}
		r.deps.CloseFiles()
		if cl, ok := r.c.(io.Closer); ok {
			if err := cl.Close(); err != nil {
				a.log.Warn("closing collector", "collector", r.name, "err", err)
			}
		}
	}
	a.runners = nil
	a.deps.Close()
	if a.lead != nil {
		close(a.lead)
		a.lead = nil
	}
	if a.watch != nil {
		a.watch.Close()
		a.tick.Close()
		a.watch, a.tick = nil, nil
	}
}

// PathPrefix is "<prefix>.<host>." with each node sanitised, so a dot in a
// host name cannot add a level. The prefix may itself have several nodes.
func PathPrefix(prefix, host string) string {
	var b strings.Builder
	for _, p := range strings.Split(prefix, ".") {
		if p != "" {
			b.WriteString(collect.Segment(p))
			b.WriteByte('.')
		}
	}
	if host != "" {
		b.WriteString(collect.Segment(host))
		b.WriteByte('.')
	}
	return b.String()
}

// Cycle runs every collector once for the sample time t and sends the lines,
// stamped ts, to out. Collectors run one after the other on a worker
// goroutine, and the ones after a collector that is slow or hung on more
// workers (see workers); each gets a deadline of budget, counted from the
// start of the cycle. One that has not returned by then is reported failed
// for this cycle and is not started again until its previous run returns
// (ticks are skipped, never stacked). A collector that returned in time is
// reported on what it returned, however long the cycle then waited for a
// slower one.
//
// When ctx ends (SIGTERM) the collectors are not cancelled: a running one
// gets shutdownGrace more to return, and one that still has not is left
// out of the batch, neither failed nor successful (the agent is stopping;
// the collector did nothing wrong). It returns the number of lines sent.
func (a *Agent) Cycle(ctx context.Context, t time.Time, ts int64, budget time.Duration, out Output) int {
	// The collectors' context is not ctx: a SIGTERM must not cancel them
	// (see above); their budget alone ends it.
	cctx := newBudget(time.Now().Add(budget))
	defer cctx.end()
	started := a.started
	clear(started)
	// settled marks the runs whose result this cycle received: only their
	// samples are final. A run clears busy just AFTER sending its result,
	// so busy cannot tell (the state file lost a collector's counters).
	settled := a.settled
	clear(settled)
	p := &workers{ctx: cctx, t: t, queue: make([]*runner, 0, len(a.runners)), allDone: make(chan struct{})}
	for i, r := range a.runners {
		if !r.busy.CompareAndSwap(false, true) {
			r.skipped++
			continue
		}
		// Nobody sends on done while busy is clear: drop the result of a
		// run that finished after its cycle stopped waiting (its sample
		// was never published).
		select {
		case <-r.done:
			r.settle(false)
		default:
		}
		started[i] = true
		p.queue = append(p.queue, r)
	}
	w := waiter{deadline: cctx.Done(), stopping: ctx.Done()}
	defer w.stop()
	if p.start(a.lead) {
		a.watch.Every(overrun)
		w.all(p.allDone, a.watch.C, func(now time.Time) {
			p.nudge()
			cctx.expire(now)
		})
		a.watch.Stop()
	}

	lb := lineBuf{ts: ts}
	if t, ok := out.(Taker); ok {
		lb.taker, lb.size = t, chunkBytes
		if p, ok := t.(Pacer); ok {
			// Held at most until the collectors' deadline (the cycle is
			// then over, and the next must start on time), or SIGTERM.
			lb.pacer, lb.stopCtx = p, ctx
			lb.deadline, _ = cctx.Deadline()
			defer lb.stopPacing()
		}
		if a.bytes > 0 && a.bytes < chunkBytes {
			// A cycle that fits in one buffer (the host alone: ~20 KB)
			// gets one of about its size, not of chunkBytes: the size of
			// the largest recent cycle and an eighth. Cycles differ: a
			// disk is published only in the cycles it did I/O in (27
			// lines each); a buffer sized on the last cycle alone was
			// often short (6 cycles in 20, host only) and their last
			// lines went into a second buffer of chunkBytes, nearly four
			// times the garbage of a cycle.
			lb.size = a.bytes + a.bytes/8 + lineRoom
		}
	} else {
		lb.b = a.buf[:0]
	}
	emit := func(path string, v float64, iv uint64, isInt bool) { lb.add(a.prefix, "", path, v, iv, isInt) }
	for i, r := range a.runners {
		success := 0.0
		var dur time.Duration
		if started[i] {
			res, outcome := w.result(r.done)
			switch outcome {
			case returned:
				settled[i] = true
				dur = res.dur
				success = a.judge(r, res.err)
				for m := range r.sample.All() {
					group := ""
					if m.Prefix != nil {
						group = *m.Prefix
					}
					lb.add(a.prefix, group, m.Path, m.Value(), m.Int(), m.IsInt())
				}
				for _, m := range r.sample.Tagged() {
					lb.add("", "", m.Path, m.Value(), m.Int(), m.IsInt())
				}
				r.settle(true)
			case missed:
				dur = budget
				a.errs.Fail(r.name, "collector missed its deadline", fmt.Errorf("still running after %s", budget))
			case interrupted:
				a.log.Debug("stopping: collector still running, left out of the last batch", "collector", r.name)
				continue
			}
		}
		emit(r.pSuccess, success, 0, false)
		emit(r.pDuration, dur.Seconds(), 0, false)
		emit(r.pSkipped, 0, r.skipped, true)
		if r.capped > 0 {
			emit(r.pCapped, 0, r.capped, true)
		}
	}
	// How late this cycle started after its tick: a stalled scheduler shows
	// here long before the watchdog fires.
	emit("agent.tick_lag_seconds", max(0, t.Sub(time.Unix(ts, 0)).Seconds()), 0, false)
	if a.ticksSkipped > 0 {
		emit("agent.ticks_skipped", 0, a.ticksSkipped, true)
	}
	if a.opts.SenderStats != nil {
		st := a.opts.SenderStats()
		emit("agent.carbon.sent", 0, st.Sent, true)
		emit("agent.carbon.queued", 0, st.Queued, true)
		emit("agent.carbon.spooled", 0, st.Spooled, true)
		emit("agent.carbon.dropped", 0, st.Dropped, true)
		emit("agent.carbon.resent", 0, st.Resent, true)
		emit("agent.carbon.reconnects", 0, st.Reconnects, true)
		emit("agent.carbon.errors", 0, st.Errors, true)
	}
	lines := lb.total + lb.lines
	if lb.taker != nil {
		lb.hand()
		// The maximum decays (halves in ~22 cycles): one large cycle
		// does not size every later buffer, each held until written
		// (and then by the sender as a spare for the next cycle).
		a.bytes = max(lb.bytes, a.bytes-a.bytes/32)
	} else {
		out.Enqueue(lb.b, lb.lines)
		a.buf = lb.b
	}
	a.cycles++
	if a.opts.StateFile != "" {
		a.saveState(settled)
	}
	return lines
}

// lineBuf formats a cycle's lines, stamped ts: into one buffer for an
// Output that copies them, or into buffers of chunkBytes handed to a Taker
// as each fills (whole lines only: a buffer is handed over between two
// lines).
type lineBuf struct {
	taker Taker
	pacer Pacer // the Taker, when it paces us
	size  int   // of the next buffer made for the Taker
	ts    int64
	b     []byte
	lines int // in b
	total int // lines handed over before b
	bytes int // bytes handed over

	// The pacer's holds end at deadline or when stopCtx ends: stop, made
	// at the first hold (a cycle that fits in one buffer, the host alone,
	// has none).
	stopCtx  context.Context
	deadline time.Time
	stop     <-chan struct{}
	cancel   context.CancelFunc
}

// add formats the line of prefix+group+path (group: a Metric's Prefix).
func (l *lineBuf) add(prefix, group, path string, v float64, iv uint64, isInt bool) {
	if l.taker != nil && cap(l.b)-len(l.b) < lineRoom {
		if l.lines > 0 {
			l.hand()
			// The sender, woken by Take, waits to run on this P after
			// us (runnext) when the other is busy: yield, so the buffer
			// leaves for the socket now rather than after the whole
			// cycle is formatted (all of it would be alive at once).
			// Never a wait on the network: a sender blocked on the
			// socket parks.
			runtime.Gosched()
			if l.pacer != nil {
				if l.stop == nil {
					ctx, cancel := context.WithDeadline(l.stopCtx, l.deadline)
					l.stop, l.cancel = ctx.Done(), cancel
				}
				l.pacer.Pace(l.stop)
			}
		}
		l.b = nil
		if r, ok := l.taker.(Recycler); ok {
			l.b = r.Buf(l.size)
		}
		if l.b == nil {
			l.b = make([]byte, 0, l.size)
		}
		l.size = chunkBytes
	}
	l.b = carbon.AppendLine(append(l.b, prefix...), group, path, v, iv, isInt, l.ts)
	l.lines++
}

// stopPacing releases the holds' context, if one was made.
func (l *lineBuf) stopPacing() {
	if l.cancel != nil {
		l.cancel()
	}
}

// hand gives the Taker the lines formatted since the last hand.
func (l *lineBuf) hand() {
	if l.lines > 0 {
		l.taker.Take(l.b, l.lines)
	}
	l.total += l.lines
	l.bytes += len(l.b)
	l.b, l.lines = nil, 0
}

// judge turns what a run returned into its success value and logs it.
// A cap reached (a file over kernfile's caps, more metrics than
// collect.MaxMetrics) is a failure counted in the "capped" self-metric
// and logged once per collector and cap: it stays until the file changes.
// Other failures are logged through the rate-limited logger.
func (a *Agent) judge(r *runner, err error) float64 {
	success := 1.0
	switch {
	case err == nil:
		a.errs.OK(r.name, "collector recovered")
	case errors.Is(err, collect.ErrNoData):
		// Nothing to read on this host: not a failure.
		a.log.Debug("no data", "collector", r.name, "err", err)
	case limitOf(err) != "":
		success = 0
		r.capped++
		a.errs.Once(r.name, limitOf(err), "collector read a file over a cap; the file is not used", "err", err)
	default:
		success = 0
		a.errs.Fail(r.name, "collector failed", err)
	}
	if n := r.sample.Dropped(); n > 0 {
		success = 0
		r.capped++
		a.errs.Once(r.name, "metrics", "collector published more metrics than the cap per cycle; the rest are dropped",
			"cap", collect.MaxMetrics, "dropped", n)
	}
	return success
}

// limitOf is the cap err reports ("bytes", "lines"), or "".
func limitOf(err error) string {
	var l *kernfile.LimitError
	if errors.As(err, &l) {
		return l.What
	}
	return ""
}

// run collects into the runner's own Sample. The Sample is touched only
// here and, after done has delivered, by Cycle: a late run keeps it until it
// returns (busy stays set), so the two never overlap.
func (r *runner) run(ctx context.Context, t time.Time) {
	start := time.Now()
	var err error
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
		r.done <- result{err: err, dur: time.Since(start)}
		r.busy.Store(false)
	}()
	r.sample.Reset(t)
	err = r.c.Collect(ctx, r.sample)
}

// settle tells a Settler collector whether its last run's sample was
// published. Called only while no run is going.
func (r *runner) settle(published bool) {
	if r.settler != nil {
		r.settler.Settle(published)
	}
}

// saveState writes the counters of the runs that returned this cycle; a
// run still going is writing its sample and is left out.
func (a *Agent) saveState(settled []bool) {
	states := make(map[string]collect.State, len(a.runners))
	for i, r := range a.runners {
		if settled[i] {
			states[r.name] = r.sample.Next()
		}
	}
	if err := saveState(a.opts.StateFile, states); err != nil {
		a.stErrs.Fail("save", "cannot save state", err)
	} else {
		a.stErrs.OK("save", "state saved again")
	}
}

// NextTick is the next wall-clock multiple of interval after now: a 60 s
// agent samples at :00 on every node, so the points of all hosts line up.
func NextTick(now time.Time, interval time.Duration) time.Time {
	return now.Truncate(interval).Add(interval)
}

// Run collects at every tick until ctx ends. Each cycle's collectors get a
// deadline of 80% of the interval so a hung one never delays the next tick.
// heartbeat, when set, is called after every cycle (for the watchdog).
func (a *Agent) Run(ctx context.Context, out Output, heartbeat func()) {
	tuneGC()
	budget := a.opts.Interval * 8 / 10
	release := newReleaser()
	var last time.Time // the tick of the last cycle
	skipping := false  // ticks were skipped before it
	defer a.tick.Stop()
	for {
		next := NextTick(time.Now(), a.opts.Interval)
		a.tick.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-a.tick.C:
		}
		if n := next.Sub(last)/a.opts.Interval - 1; !last.IsZero() && n > 0 {
			a.ticksSkipped += uint64(n)
			skipping = true
			a.stErrs.Fail("ticks", "ticks skipped, their points are missing", fmt.Errorf(
				"%d tick(s) after %s passed before that cycle ended: the agent was not scheduled, or the cycle overran the interval",
				n, last.Format(time.RFC3339)))
		} else if skipping {
			skipping = false
			a.stErrs.OK("ticks", "ticks on time again")
		}
		last = next
		// The sample time keeps the monotonic clock reading for rate
		// arithmetic; the Graphite timestamp is the aligned tick.
		a.Cycle(ctx, time.Now(), next.Unix(), budget, out)
		release.after()
		if heartbeat != nil {
			heartbeat()
		}
	}
}

// gcPercent is the agent's GOGC. Its live heap is what it keeps between
// cycles (paths, the previous counters, per-container state: ~5 MB at
// 1000 containers, under 2 MB for the host alone) and a cycle allocates
// little on top (its lines go into buffers the sender gave back:
// Recycler), so a collection costs 1-2 ms of CPU. Go's default of 100
// lets the heap grow to twice the live size before collecting; at 25 it
// stays within a quarter above it. Measured with bench/daemon at 1000
// containers: 100 to 25, agent PSS 36.8 -> 26.1 MB for 1.3x -> 1.4x the
// floor's CPU (within the run-to-run noise). 15 measured 16.7-17.0 MB
// against 17.2-17.3 MB at 1000 containers, but host only 1.92-2.51 ms of
// CPU per cycle against 1.70-1.83 ms (the runtime's smallest heap goal
// scales with GOGC, so a small heap is collected more often): not taken.
// Since the cuts of 2026-12-07 neither 15 nor 10 is below 25 at 1000
// containers (15.6-15.7 MB against 15.3-15.4). A fixed memory limit would not
// scale with the number of containers: above it the runtime collects
// continuously.
const gcPercent = 25

// procs is the agent's GOMAXPROCS. Its work is a short burst per tick,
// mostly system calls, and a second processor buys no useful parallelism
// for it: it costs thread wake-ups, work stolen between the two and a
// runtime monitor kept busy by both, each a context switch, and a context
// switch is dear on a VM. node_exporter runs with one for the same reason
// (its --runtime.gomaxprocs). Collectors stay isolated: one blocked in the
// kernel gives up the processor, one that loops is preempted. Measured
// with perf stat over 30 cycles of the whole process, host only, the
// three changes together (one processor, the collectors on one worker,
// kernfile's reads without the scheduler's system-call bookkeeping):
// 1.9-2.3 to 1.55-1.64 ms of CPU and 27-35 to 13-18 context switches per
// cycle; each alone was within the noise.
const procs = 1

// tuneGC sets gcPercent unless the environment sets GOGC (an operator's
// choice wins).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// SetProcs sets GOMAXPROCS to procs unless the environment sets it (an
// operator's choice wins). It is for the daemon's main, not Run: it holds
// for the whole process, and a test that runs agents in its own process
// keeps its processors.
func SetProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(procs)
	}
}
