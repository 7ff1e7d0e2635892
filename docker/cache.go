// SPDX-License-Identifier: Apache-2.0

package docker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nodemetrics/nodemetrics/agent"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/events"
	"github.com/nodemetrics/nodemetrics/internal/nowait"
	"github.com/nodemetrics/nodemetrics/internal/ratelog"
)

// Options configure a Cache.
type Options struct {
	// Interval is the agent's: the cache's ticks are its (see Run for
	// which of them list the containers); an event or an unknown id looked
	// up refreshes sooner (at most once a second).
	Interval time.Duration
	// Events receives the daemon's lifecycle events; nil: the stream is
	// not followed.
	Events *events.Dispatcher
	// Images: also count images (Diamond's docker collector).
	Images bool
	// MinBackoff, MaxBackoff bound the reconnect delay of the events stream
	// (default 200 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Snapshot is the cache's view of the daemon at its last refresh.
type Snapshot struct {
	// At is when the snapshot was last known to be the daemon's state:
	// its refresh, or a later tick at which the events stream, connected,
	// had reported no change since.
	At            time.Time
	ByID          map[string]containers.Info // every container, running or not
	Running       []string                   // ids of running containers
	RunningCount  int
	StoppedCount  int
	ImagesCount   int
	DanglingCount int
	ImagesOK      bool
	running       map[string]bool
	inspected     map[string]bool // ids whose Pid came from inspect
	// DockerNames are the daemon's names (no leading '/') by id, for
	// Diamond's docker.containers.<name>; Info.Name of a Kubernetes
	// container is namespace/pod/container instead.
	DockerNames map[string]string
}

// Cache is a background-refreshed copy of the daemon's containers. Lookup
// (containers.Namer) only reads the last snapshot: a missing, dead or
// hanging daemon never delays its caller.
type Cache struct {
	c    *Client
	opts Options
	log  *slog.Logger

	snap atomic.Pointer[Snapshot]
	poke chan struct{}
	// noSocket: the last refresh found no socket, and Run looks again
	// only every MaxBackoff; the events stream pokes it on connecting.
	noSocket atomic.Bool

	mu           sync.Mutex
	stale        map[string]bool // ids to inspect again (restarted)
	connected    bool
	disconnected time.Time
	everOK       bool
	errs         *ratelog.Logger // keys "refresh" and "events": each throttled

	// stream dedupe: keys of events at or after since - dedupeWindow
	since time.Time
	seen  map[string]int64

	// On-demand lookups of ids the last refresh did not list (see Lookup),
	// guarded by mu and reset by every successful Refresh.
	ondemand  map[string]containers.Info
	notDocker map[string]bool // the daemon answered 404: another runtime's
	spent     time.Duration   // time spent on on-demand lookups since
	syncOff   bool            // an on-demand lookup failed: wait for a refresh
}

// ondemandTimeout bounds one on-demand inspect; ondemandBudget bounds all of
// them between two refreshes, or ticks that need none (and is at most a
// twentieth of the interval), so a slow daemon costs a cycle at most that
// much.
const (
	ondemandTimeout = 250 * time.Millisecond
	ondemandBudget  = 500 * time.Millisecond
)

// NewCache returns a cache over client c; call Run.
func NewCache(c *Client, opts Options) *Cache {
	if opts.Interval <= 0 {
		opts.Interval = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// A host without Docker is normal (the collectors then publish nothing,
	// quietly): one line an hour per failing source is enough.
	return &Cache{c: c, opts: opts, log: opts.Logger, errs: ratelog.New(opts.Logger, time.Hour, ""), poke: make(chan struct{}, 1),
		stale: map[string]bool{}, seen: map[string]int64{},
		ondemand: map[string]containers.Info{}, notDocker: map[string]bool{}}
}

// Lookup implements containers.Namer: the cached info of a container by
// full id. An id the last refresh did not list (a container started since)
// is inspected at once, so that its first cycle is already published under
// its name rather than leaving a stray series under its short id: each
// such call is bounded by ondemandTimeout and all of them together by
// ondemandBudget per refresh; after a failure, and before the daemon ever
// answered, none is made until a refresh succeeds. An id the daemon does
// not know (another runtime's container) is remembered and not asked again.
func (k *Cache) Lookup(id string) (containers.Info, bool) {
	s := k.snap.Load()
	if s != nil {
		if info, ok := s.ByID[id]; ok {
			return info, true
		}
	}
	if s == nil || !isDockerID(id) {
		k.Poke()
		return containers.Info{}, false
	}
	k.mu.Lock()
	if info, ok := k.ondemand[id]; ok {
		k.mu.Unlock()
		return info, true
	}
	if k.notDocker[id] {
		k.mu.Unlock()
		return containers.Info{}, false
	}
	budget := min(ondemandBudget, k.opts.Interval/20) - k.spent
	if k.syncOff || budget <= 0 {
		k.mu.Unlock()
		k.Poke()
		return containers.Info{}, false
	}
	k.mu.Unlock()

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), min(ondemandTimeout, budget))
	in, err := k.c.Inspect(ctx, id)
	cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.spent += time.Since(start)
	var apiErr *APIError
	switch {
	case err == nil:
		info := containers.Info{Name: strings.TrimPrefix(in.Name, "/"), Image: in.Config.Image,
			Runtime: "docker", Labels: in.Config.Labels, Pid: in.State.Pid}
		containers.KubeletLabels(&info)
		k.ondemand[id] = info
		k.Poke() // the next refresh lists it, with everything else
		return info, true
	case errors.As(err, &apiErr) && apiErr.Status == 404:
		if len(k.notDocker) >= 4096 {
			clear(k.notDocker) // ids churn: do not grow forever
		}
		k.notDocker[id] = true
	default:
		k.syncOff = true
		k.log.Debug("docker inspect of a new container failed", "id", id, "err", err)
		k.Poke()
	}
	return containers.Info{}, false
}

// isDockerID: Docker's container ids are 64 lower-case hex digits (nspawn
// machine names and the like are never looked up on the daemon).
func isDockerID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Snapshot is the last refresh, nil before the first success.
func (k *Cache) Snapshot() *Snapshot { return k.snap.Load() }

// Poke requests a refresh soon, without waiting.
func (k *Cache) Poke() {
	select {
	case k.poke <- struct{}{}:
	default:
	}
}

// Live reports whether the events stream covers Docker's containers: it is
// connected, or was less than a minute ago (a reconnect replays what was
// missed with since=).
func (k *Cache) Live() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.connected || (!k.disconnected.IsZero() && time.Since(k.disconnected) < time.Minute)
}

// resync bounds how long the cache goes on the events stream's word
// alone: while the stream is connected the list is taken again at least
// this often, a net for a change the stream did not report.
const resync = 5 * time.Minute

// Run refreshes the cache when poked (an event, an unknown id) and follows
// the events stream, until ctx is done. At the agent's ticks it refreshes
// only when the stream cannot be trusted to report every change: it is not
// connected, the last refresh failed, or resync has passed since the last
// one that succeeded; and at every tick when the cache counts images,
// whose changes the followed events do not include. Listing every tick
// cost a host with Docker running and no containers 0.25-0.5 ms of the
// agent's CPU per cycle (two agents side by side at the same ticks, each
// in a cgroup of its own, swapped and run again), about what everything
// the host collectors read costs.
func (k *Cache) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if k.opts.Events != nil {
		wg.Add(1)
		go func() { defer wg.Done(); k.follow(ctx, time.Now()) }()
	}
	var last, listed time.Time // the last refresh; the last one that succeeded (zero: it failed)
	// A nowait.Timer, as the agent's tick: the runtime's monitor thread
	// sleeps through the ticks.
	t := nowait.NewTimer()
	defer t.Close()
	t.Reset(0)
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			if k.current(listed) {
				t.Reset(k.untilTick(0))
				continue
			}
		case <-k.poke:
			// At most one early refresh a second: a flood of unknown ids
			// (a cgroup of a foreign runtime) must not hammer the daemon.
			if d := time.Since(last); d < time.Second {
				select {
				case <-ctx.Done():
					wg.Wait()
					return
				case <-time.After(time.Second - d):
				}
			}
		}
		last = time.Now()
		listed = last
		err := k.Refresh(ctx)
		wait := k.untilTick(0)
		noSocket := errors.As(err, new(*socketError))
		k.noSocket.Store(noSocket)
		if err != nil {
			listed = time.Time{}
			if ctx.Err() == nil {
				k.errs.Fail("refresh", "docker refresh failed", err, "socket", k.c.Socket)
			}
			if noSocket {
				// No Docker on this host (yet): look again at the first
				// tick after MaxBackoff, as the events stream does, and
				// at once when the stream connects (follow pokes). At
				// every tick it was a wake-up of this goroutine and a
				// stat: 4% of the agent's CPU on a host without Docker
				// (perf, host only).
				wait = k.untilTick(k.opts.MaxBackoff)
			}
		}
		t.Reset(wait)
	}
}

// current reports whether a tick can do without a refresh (see Run), the
// last one having succeeded at listed, and if so marks the snapshot
// current as of now. Not while an on-demand lookup found a container the
// snapshot lacks or failed (the next refresh resets those), and the
// on-demand budget starts again, as at a refresh: it bounds what lookups
// cost a cycle.
func (k *Cache) current(listed time.Time) bool {
	if k.opts.Events == nil || k.opts.Images || listed.IsZero() || time.Since(listed) >= resync {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.connected || k.syncOff || len(k.ondemand) > 0 {
		return false
	}
	k.spent = 0
	s := *k.snap.Load() // listed: there is one
	s.At = time.Now()
	k.snap.Store(&s)
	return true
}

// untilTick is the time to the agent's first tick (a wall-clock multiple
// of the interval) after wait from now. The cache's timers fire then, so the process wakes
// once for them and the agent's cycle: a timer of their own, at another
// phase, was one more wake-up of the process every time.
func (k *Cache) untilTick(wait time.Duration) time.Duration {
	return time.Until(agent.NextTick(time.Now().Add(wait), k.opts.Interval))
}

// socketMissing is an error when the daemon's socket is not there (a host
// without Docker): the refresh and the events stream stat it instead of
// making an HTTP request whose dial fails. Such a request cost the
// transport's goroutines, buffers and connection bookkeeping at every
// refresh, every interval (5-9% of the agent's CPU on such a host, perf of
// bench/daemon), and ran net/http's client code, whose pages then stayed
// mapped in the agent's memory.
//
// It runs every MaxBackoff on such a host, so it stats into a local buffer
// (os.Stat allocates a FileInfo) and makes its error without fmt, whose
// cold code and allocations cost more than the stat itself (perf, host
// only: 2.5% of the agent's CPU), and without the scheduler's system-call
// bookkeeping (internal/nowait: the socket is on a local filesystem, /run).
func (k *Cache) socketMissing() error {
	var st syscall.Stat_t
	if err := nowait.Stat(k.c.Socket, &st); err != nil {
		return &socketError{path: k.c.Socket, err: err}
	}
	return nil
}

// socketError is socketMissing's: "docker socket: stat PATH: ERRNO", as
// the fmt.Errorf around os.Stat's error it replaces said.
type socketError struct {
	path string
	err  error
}

func (e *socketError) Error() string { return "docker socket: stat " + e.path + ": " + e.err.Error() }
func (e *socketError) Unwrap() error { return e.err }

// Refresh lists the containers and inspects the new running ones (for
// their host pid and configured image). Each API call is bounded by the
// client's timeout.
func (k *Cache) Refresh(ctx context.Context) error {
	if err := k.socketMissing(); err != nil {
		return err
	}
	if k.c.APIVersion() == "" {
		if _, err := k.c.Negotiate(ctx); err != nil {
			return err
		}
	}
	list, err := k.c.Containers(ctx, true)
	if err != nil {
		return err
	}
	prev := k.snap.Load()
	k.mu.Lock()
	stale := k.stale
	k.stale = map[string]bool{}
	k.mu.Unlock()
	s := &Snapshot{At: time.Now(), ByID: make(map[string]containers.Info, len(list)),
		running: map[string]bool{}, inspected: map[string]bool{}, DockerNames: map[string]string{}}
	for _, c := range list {
		info := containers.Info{Image: c.Image, Runtime: "docker", Labels: c.Labels}
		if len(c.Names) > 0 {
			info.Name = strings.TrimPrefix(c.Names[0], "/")
		}
		running := c.State == "running" || c.State == "paused" || c.State == "restarting"
		if running {
			s.RunningCount++
			s.Running = append(s.Running, c.ID)
			s.running[c.ID] = true
			if prev != nil && prev.inspected[c.ID] && prev.running[c.ID] && !stale[c.ID] {
				old := prev.ByID[c.ID]
				info.Pid, info.Image = old.Pid, old.Image
				s.inspected[c.ID] = true
			} else if in, err := k.c.Inspect(ctx, c.ID); err == nil {
				info.Pid = in.State.Pid
				if in.Config.Image != "" {
					info.Image = in.Config.Image
				}
				if n := strings.TrimPrefix(in.Name, "/"); n != "" {
					info.Name = n
				}
				if in.Config.Labels != nil {
					info.Labels = in.Config.Labels
				}
				s.inspected[c.ID] = true
			} else if ctx.Err() != nil {
				return err
			}
		} else {
			s.StoppedCount++
		}
		s.DockerNames[c.ID] = info.Name
		containers.KubeletLabels(&info)
		s.ByID[c.ID] = info
	}
	if k.opts.Images {
		imgs, err1 := k.c.Images(ctx, false)
		dang, err2 := k.c.Images(ctx, true)
		if err := errors.Join(err1, err2); err == nil {
			ids := map[string]bool{}
			for _, i := range imgs {
				ids[i.ID] = true
			}
			s.ImagesCount, s.DanglingCount, s.ImagesOK = len(ids), len(dang), true
		} else if prev != nil && prev.ImagesOK {
			s.ImagesCount, s.DanglingCount, s.ImagesOK = prev.ImagesCount, prev.DanglingCount, true
		}
	}
	k.snap.Store(s)
	k.mu.Lock()
	clear(k.ondemand)
	k.spent, k.syncOff = 0, false
	if !k.everOK {
		k.log.Info("docker API connected", "socket", k.c.Socket, "api_version", k.c.APIVersion(), "containers", len(list))
	}
	k.everOK = true
	k.mu.Unlock()
	k.errs.OK("refresh", "docker API reachable again", "socket", k.c.Socket)
	return nil
}

// dedupeWindow: a reconnect asks since=<last event time>; the daemon
// replays events at that time (and clocks of a restarted daemon may step),
// so keys are kept for this long behind the newest event.
const dedupeWindow = 2 * time.Minute

// follow reads the events stream, reconnecting with backoff and since=<time
// of the last event seen> so that nothing is lost; replayed events are
// dropped by their id+action+timeNano key.
func (k *Cache) follow(ctx context.Context, start time.Time) {
	k.since = start
	backoff := k.opts.MinBackoff
	// On a host without Docker the retries come at ticks (see below): a
	// nowait.Timer, as Run's.
	retry := nowait.NewTimer()
	defer retry.Close()
	for ctx.Err() == nil {
		opened := false
		open := func() {
			opened = true
			backoff = k.opts.MinBackoff
			k.mu.Lock()
			if since := k.since.UTC().Format(time.RFC3339Nano); !k.connected &&
				!k.errs.OK("events", "docker events stream connected", "since", since) {
				k.log.Info("docker events stream connected", "since", since)
			}
			k.connected = true
			k.mu.Unlock()
			// A daemon that just came up is listed now, not at Run's
			// next look for its socket.
			if k.noSocket.Load() {
				k.Poke()
			}
		}
		wait := backoff
		err := k.socketMissing()
		if err == nil {
			err = k.c.Events(ctx, k.since, open, k.handle)
		} else {
			// No Docker on this host (yet): look again at the first tick
			// after the backoff, as the refresh does, not every
			// MaxBackoff (six wake-ups a minute at the default interval).
			// A wait of its own phase (the backoff when it is longer than
			// the interval) was one more wake-up of the process per
			// interval, and its stat woke the runtime's monitor, which
			// then polled every 20 µs through the next cycle. A daemon
			// that starts in between is followed from then on, its events
			// since k.since replayed.
			wait = k.untilTick(wait)
		}
		k.mu.Lock()
		if k.connected {
			k.connected, k.disconnected = false, time.Now()
		}
		k.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		if opened {
			k.log.Warn("docker events stream ended, reconnecting", "err", err)
		} else {
			k.errs.Fail("events", "docker events stream unavailable", err, "socket", k.c.Socket)
		}
		retry.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		if backoff *= 2; backoff > k.opts.MaxBackoff {
			backoff = k.opts.MaxBackoff
		}
	}
}

// handle is one stream message.
func (k *Cache) handle(m Message) {
	action, id := m.Action, m.Actor.ID
	if action == "" {
		action = m.Status
	}
	if id == "" {
		id = m.ID
	}
	if m.Type != "" && m.Type != "container" {
		return
	}
	// "exec_start: sh" style actions are not lifecycle events.
	if i := strings.IndexByte(action, ':'); i >= 0 {
		action = action[:i]
	}
	ns := m.TimeNano
	if ns == 0 {
		ns = m.Time * 1e9
	}
	key := id + "|" + action + "|" + itoa(ns)
	if _, dup := k.seen[key]; dup {
		return
	}
	k.seen[key] = ns
	if t := time.Unix(0, ns); t.After(k.since) {
		k.since = t
	}
	if len(k.seen) > 256 {
		cut := k.since.Add(-dedupeWindow).UnixNano()
		for key, t := range k.seen {
			if t < cut {
				delete(k.seen, key)
			}
		}
	}
	switch action {
	case events.Start, events.Die, events.OOM, events.Kill, events.Destroy:
	case "create", "rename":
		// Not lifecycle events of ours, but changes the snapshot shows
		// (the stopped count, the name).
		k.Poke()
		return
	default:
		return
	}
	if action == events.Start {
		k.mu.Lock()
		k.stale[id] = true // a restart has a new pid
		k.mu.Unlock()
	}
	k.Poke()
	attrs := m.Actor.Attributes
	ev := events.Event{
		Time: time.Unix(0, ns), ID: id, Name: attrs["name"], Image: attrs["image"],
		Runtime: "docker", Action: action, Source: events.SourceDocker,
	}
	if ev.Image == "" {
		ev.Image = m.From
	}
	if action == events.Die {
		ev.ExitCode = events.ExitCode(attrs["exitCode"])
	}
	if action == events.Kill {
		ev.Signal = attrs["signal"]
	}
	if s := k.snap.Load(); s != nil {
		if info, ok := s.ByID[id]; ok {
			ev.Labels = info.Labels
			if ev.Name == "" {
				ev.Name = info.Name
			}
		}
	}
	if ev.Labels == nil {
		// Container events carry the labels among the attributes.
		ev.Labels = map[string]string{}
		for k, v := range attrs {
			switch k {
			case "name", "image", "exitCode", "signal", "execDuration":
				continue
			}
			ev.Labels[k] = v
		}
	}
	k.opts.Events.Emit(ev)
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
