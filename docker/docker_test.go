// SPDX-License-Identifier: Apache-2.0

package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/events"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// fakeDaemon is a Docker Engine API on a unix socket.
type fakeDaemon struct {
	t          *testing.T
	sock       string
	apiVersion string
	minVersion string
	modern     bool // API >= 1.45: events without status/id/from

	mu       sync.Mutex
	paths    []string
	conts    []fakeContainer
	events   []Message // the daemon's event log
	hang     chan struct{}
	streamCh chan struct{} // closed to end the current stream
	srv      *http.Server
	ln       net.Listener
	sinces   []string
	noEvents bool // the events endpoint answers 500
}

type fakeContainer struct {
	id, name, image string
	labels          map[string]string
	pid             int
	running         bool
}

func newFake(t *testing.T, apiVersion, minVersion string) *fakeDaemon {
	d := &fakeDaemon{t: t, sock: filepath.Join(shortTemp(t), "docker.sock"), apiVersion: apiVersion, minVersion: minVersion,
		modern: compareVersion(apiVersion, "1.45") >= 0, streamCh: make(chan struct{})}
	d.serve()
	t.Cleanup(d.close)
	return d
}

// shortTemp is a temp dir with a path short enough for a unix socket.
func shortTemp(t *testing.T) string {
	dir, err := os.MkdirTemp("/tmp", "nmd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (d *fakeDaemon) serve() {
	os.Remove(d.sock)
	ln, err := net.Listen("unix", d.sock)
	if err != nil {
		d.t.Fatal(err)
	}
	d.ln = ln
	d.srv = &http.Server{Handler: http.HandlerFunc(d.handle)}
	go d.srv.Serve(ln)
}

func (d *fakeDaemon) close() {
	d.mu.Lock()
	if d.hang != nil {
		select {
		case <-d.hang:
		default:
			close(d.hang)
		}
	}
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	d.srv.Shutdown(ctx)
	d.srv.Close()
}

// restart stops the daemon (every connection, the listener) and serves again
// on the same socket path.
func (d *fakeDaemon) restart() {
	d.srv.Close()
	d.mu.Lock()
	d.streamCh = make(chan struct{})
	d.mu.Unlock()
	d.serve()
}

func (d *fakeDaemon) add(ev Message) {
	d.mu.Lock()
	d.events = append(d.events, ev)
	d.mu.Unlock()
}

// checkVersion strips /vX.Y and refuses versions the daemon does not speak.
func (d *fakeDaemon) checkVersion(w http.ResponseWriter, r *http.Request) (string, bool) {
	p := r.URL.Path
	if len(p) > 2 && strings.HasPrefix(p, "/v") && p[2] >= '0' && p[2] <= '9' {
		i := strings.Index(p[1:], "/") + 1
		v := p[2:i]
		if compareVersion(v, d.minVersion) < 0 {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"message":"client version %s is too old. Minimum supported API version is %s"}`, v, d.minVersion)
			return "", false
		}
		if compareVersion(v, d.apiVersion) > 0 {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"message":"client version %s is too new. Maximum supported API version is %s"}`, v, d.apiVersion)
			return "", false
		}
		p = p[i:]
	}
	return p, true
}

func (d *fakeDaemon) handle(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.paths = append(d.paths, r.URL.Path)
	hang := d.hang
	d.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
		return
	}
	p, ok := d.checkVersion(w, r)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	enc := json.NewEncoder(w)
	switch {
	case p == "/version":
		enc.Encode(map[string]string{"Version": "fake", "ApiVersion": d.apiVersion, "MinAPIVersion": d.minVersion})
	case p == "/containers/json":
		var out []map[string]any
		for _, c := range d.conts {
			if !c.running && r.URL.Query().Get("all") == "" {
				continue
			}
			state := "exited"
			if c.running {
				state = "running"
			}
			out = append(out, map[string]any{"Id": c.id, "Names": []string{"/" + c.name}, "Image": c.image, "Labels": c.labels, "State": state})
		}
		enc.Encode(out)
	case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json")
		for _, c := range d.conts {
			if c.id == id {
				enc.Encode(map[string]any{"Id": c.id, "Name": "/" + c.name,
					"State":  map[string]any{"Running": c.running, "Pid": c.pid},
					"Config": map[string]any{"Image": c.image, "Labels": c.labels}})
				return
			}
		}
		w.WriteHeader(404)
		enc.Encode(map[string]string{"message": "No such container: " + id})
	case p == "/images/json":
		if r.URL.Query().Get("filters") != "" {
			enc.Encode([]map[string]string{{"Id": "sha256:d1"}})
		} else {
			enc.Encode([]map[string]string{{"Id": "sha256:a"}, {"Id": "sha256:b"}, {"Id": "sha256:d1"}})
		}
	case p == "/events" && d.noEvents:
		w.WriteHeader(500)
		enc.Encode(map[string]string{"message": "events unavailable"})
	case p == "/events":
		d.streamEvents(w, r)
	default:
		w.WriteHeader(404)
	}
}

// streamEvents replays the log from since (inclusive, as dockerd does), then
// sends new events as they are added, until the stream is ended.
func (d *fakeDaemon) streamEvents(w http.ResponseWriter, r *http.Request) {
	var f map[string][]string
	if err := json.Unmarshal([]byte(r.URL.Query().Get("filters")), &f); err != nil || f["type"][0] != "container" {
		w.WriteHeader(400)
		return
	}
	since := int64(0)
	if s := r.URL.Query().Get("since"); s != "" {
		d.sinces = append(d.sinces, s)
		sec, frac, _ := strings.Cut(s, ".")
		a, _ := strconv.ParseInt(sec, 10, 64)
		b, _ := strconv.ParseInt(frac, 10, 64)
		since = a*1e9 + b
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	sent := 0
	end := d.streamCh
	for {
		for ; sent < len(d.events); sent++ {
			ev := d.events[sent]
			if ev.TimeNano < since {
				continue
			}
			if d.modern {
				ev.Status, ev.ID, ev.From = "", "", ""
			}
			json.NewEncoder(w).Encode(ev)
		}
		w.(http.Flusher).Flush()
		d.mu.Unlock()
		select {
		case <-end:
			d.mu.Lock()
			return
		case <-r.Context().Done():
			d.mu.Lock()
			return
		case <-time.After(20 * time.Millisecond):
		}
		d.mu.Lock()
	}
}

func id64(n int) string { return fmt.Sprintf("%064x", n) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name, api, min, want string
	}{
		{"old daemon 1.41", "1.41", "1.12", "1.41"},
		{"new daemon 1.47", "1.47", "1.24", "1.47"},
		{"newer daemon, Engine 29 minimum", "1.52", "1.44", "1.47"},
		{"daemon minimum above ours", "1.60", "1.50", "1.50"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFake(t, tc.api, tc.min)
			d.conts = []fakeContainer{{id: id64(1), name: "web", image: "nginx:1", running: true, pid: 4242,
				labels: map[string]string{"io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "ns", "tier": "front"}},
				{id: id64(2), name: "old", image: "busybox", running: false}}
			c := NewClient(d.sock)
			cache := NewCache(c, Options{Images: true, Logger: quietLog()})
			if err := cache.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.APIVersion() != tc.want {
				t.Fatalf("negotiated %q, want %q", c.APIVersion(), tc.want)
			}
			d.mu.Lock()
			for _, p := range d.paths[1:] {
				if !strings.HasPrefix(p, "/v"+tc.want+"/") {
					t.Errorf("call %s not at /v%s", p, tc.want)
				}
			}
			d.mu.Unlock()
			info, ok := cache.Lookup(id64(1))
			want := containers.Info{Name: "web", Image: "nginx:1", Runtime: "docker", Pod: "p", Namespace: "ns", Pid: 4242}
			info.Labels = nil
			if !ok || fmt.Sprint(info) != fmt.Sprint(want) {
				t.Errorf("Lookup = %+v %v, want %+v", info, ok, want)
			}
			s := cache.Snapshot()
			if s.RunningCount != 1 || s.StoppedCount != 1 || s.ImagesCount != 3 || s.DanglingCount != 1 {
				t.Errorf("counts %d %d %d %d", s.RunningCount, s.StoppedCount, s.ImagesCount, s.DanglingCount)
			}
		})
	}
}

// A daemon that accepts connections and never answers: a cycle of the
// containers collector with the cache as Namer returns at once, and the
// refresh gives up after the client timeout.
func TestHangingDaemon(t *testing.T) {
	d := newFake(t, "1.41", "1.12")
	d.hang = make(chan struct{})
	c := NewClient(d.sock)
	// A timeout far longer than a cycle may take: a cycle that waited for
	// the daemon would show, however loaded the machine.
	c.Timeout = 3 * time.Second
	cache := NewCache(c, Options{Interval: 50 * time.Millisecond, Events: mustDispatcher(t), Logger: quietLog()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cache.Run(ctx); close(done) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("cache.Run did not stop")
		}
	}()

	// A fixture cgroup tree with one Docker container.
	root := t.TempDir()
	id := id64(7)
	for _, ctrl := range []string{"memory", "cpuacct"} {
		dir := filepath.Join(root, "sys/fs/cgroup", ctrl, "docker", id)
		must(t, os.MkdirAll(dir, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory/memory.usage_in_bytes"), []byte("1\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sys/fs/cgroup/cpuacct/cpuacct.usage"), []byte("1\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory/docker", id, "memory.usage_in_bytes"), []byte("1000\n"), 0o644))
	h := collect.Host{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Root: root}
	col, err := containers.NewCollector(h, containers.Options{Namer: cache, Tags: true, Hostname: "h"}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the refresh and the stream are now stuck
	for i := 0; i < 5; i++ {
		s := collect.NewSample(time.Now(), false, collect.State{})
		start := time.Now()
		if err := col.Collect(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > time.Second {
			t.Fatalf("cycle took %v with a hanging daemon", el)
		}
		var names []string
		for m := range s.All() {
			names = append(names, m.FullPath())
		}
		if !strings.Contains(strings.Join(names, " "), "containers."+id[:12]+".memory.usage_byte") {
			t.Fatalf("the container is not published under its short id: %v", names)
		}
	}
	// The refresh returns after the client timeout.
	start := time.Now()
	if err := cache.Refresh(context.Background()); err == nil {
		t.Fatal("refresh of a hanging daemon succeeded")
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("refresh took %v with a 3s timeout", el)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustDispatcher(t *testing.T) *events.Dispatcher {
	d, err := events.New(events.Options{Host: "h", AuditFile: filepath.Join(t.TempDir(), "audit.jsonl"), Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// The daemon restarts mid stream (old 1.41 and new 1.47 event formats):
// the cache reconnects with since=<last event time>, the daemon replays from
// there, and every event reaches the audit file exactly once.
func TestEventsAcrossRestart(t *testing.T) {
	for _, api := range []string{"1.41", "1.47"} {
		t.Run(api, func(t *testing.T) {
			d := newFake(t, api, "1.12")
			audit := filepath.Join(t.TempDir(), "audit.jsonl")
			disp, err := events.New(events.Options{Host: "h", AuditFile: audit, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer disp.Close()
			c := NewClient(d.sock)
			cache := NewCache(c, Options{Interval: time.Hour, Events: disp, MinBackoff: 20 * time.Millisecond,
				MaxBackoff: 100 * time.Millisecond, Logger: quietLog()})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { cache.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			base := time.Now().Add(time.Second).UnixNano()
			n := 0
			add := func(action string, attrs map[string]string) {
				n++
				id := id64(n%3 + 1)
				a := map[string]string{"name": "c" + id[63:], "image": "img:1"}
				for k, v := range attrs {
					a[k] = v
				}
				// Two events share one timestamp, as a die and a kill can.
				ns := base + int64(n/2)*1000
				d.add(Message{Status: action, ID: id, From: "img:1", Type: "container", Action: action,
					Actor: Actor{ID: id, Attributes: a}, Time: ns / 1e9, TimeNano: ns})
			}
			add("start", nil)
			add("kill", map[string]string{"signal": "15"})
			add("die", map[string]string{"exitCode": "143"})
			add("exec_start: sh", nil) // not a lifecycle event
			waitLines(t, audit, 3)

			// Stream ends (daemon restart) right after events that share a
			// timestamp with the next ones.
			add("oom", nil)
			waitLines(t, audit, 4)
			d.restart()
			add("die", map[string]string{"exitCode": "137"}) // same timeNano as the oom
			add("destroy", nil)
			add("start", map[string]string{"tier": "front"})
			waitLines(t, audit, 7)
			time.Sleep(200 * time.Millisecond) // duplicates would arrive now
			lines := readLines(t, audit)
			if len(lines) != 7 {
				t.Fatalf("%d audit lines, want 7:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			var got []string
			for _, l := range lines {
				var r struct {
					Event    string
					ExitCode *int `json:"exit_code"`
					Name     string
					Image    string
					Host     string
					Labels   map[string]string
				}
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatal(err)
				}
				if r.Image != "img:1" || r.Host != "h" || r.Name == "" {
					t.Errorf("bad record %s", l)
				}
				e := r.Event
				if r.ExitCode != nil {
					e += fmt.Sprintf("(%d)", *r.ExitCode)
				}
				if r.Labels["tier"] != "" {
					e += "[tier=" + r.Labels["tier"] + "]"
				}
				got = append(got, e)
			}
			want := "start kill die(143) oom die(137) destroy start[tier=front]"
			if strings.Join(got, " ") != want {
				t.Errorf("events %q, want %q", strings.Join(got, " "), want)
			}
			d.mu.Lock()
			sinces := d.sinces
			d.mu.Unlock()
			if len(sinces) < 2 {
				t.Errorf("reconnects asked since=%v, want the first and a reconnect", sinces)
			}
		})
	}
}

// listCounter counts the container list requests of a client (see
// countingClient).
type listCounter struct {
	rt    http.RoundTripper
	lists atomic.Int32
}

func (c *listCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/containers/json") {
		c.lists.Add(1)
	}
	return c.rt.RoundTrip(r)
}

// countingClient is a client of the daemon at socket whose container list
// requests are counted.
func countingClient(socket string) (*Client, *listCounter) {
	c := NewClient(socket)
	n := &listCounter{rt: c.http.Transport}
	c.http.Transport = n
	return c, n
}

// The agent's ticks list the containers only when the events stream cannot
// be trusted to report a change: with a live stream none does (the
// snapshot is marked current instead), and an event refreshes at once;
// without one (no stream followed, or the daemon refusing it) and when
// images are counted (no followed event reports them), every tick lists.
func TestCacheTicksListOnlyWithoutLiveStream(t *testing.T) {
	for _, tc := range []struct {
		name             string
		follow, noEvents bool
		images           bool
		perTick          bool
	}{
		{name: "live stream", follow: true},
		{name: "stream refused", follow: true, noEvents: true, perTick: true},
		{name: "no stream", perTick: true},
		{name: "images", follow: true, images: true, perTick: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := newFake(t, "1.41", "1.12")
			d.mu.Lock()
			d.noEvents = tc.noEvents
			d.conts = []fakeContainer{{id: id64(1), name: "one", image: "img:1", pid: 41, running: true}}
			d.mu.Unlock()
			opts := Options{Interval: time.Second, Images: tc.images, MinBackoff: 20 * time.Millisecond,
				MaxBackoff: 100 * time.Millisecond, Logger: quietLog()}
			if tc.follow {
				opts.Events = mustDispatcher(t)
			}
			client, counter := countingClient(d.sock)
			cache := NewCache(client, opts)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { cache.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			deadline := time.Now().Add(5 * time.Second)
			for cache.Snapshot() == nil || (tc.follow && !tc.noEvents && !cache.Live()) {
				if time.Now().After(deadline) {
					t.Fatal("no snapshot (or no live stream) after 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			before := counter.lists.Load()
			time.Sleep(3500 * time.Millisecond) // three ticks at least
			listed := int(counter.lists.Load() - before)
			if tc.perTick && listed < 3 {
				t.Fatalf("%d lists over three ticks, want one a tick", listed)
			}
			if tc.perTick {
				return
			}
			if listed != 0 {
				t.Fatalf("%d lists over three ticks with a live stream and no change, want none", listed)
			}
			if age := time.Since(cache.Snapshot().At); age > 1500*time.Millisecond {
				t.Errorf("snapshot last current %v ago, want at the last tick", age)
			}
			// A change: the event refreshes at once, not at a tick.
			d.mu.Lock()
			d.conts = append(d.conts, fakeContainer{id: id64(2), name: "two", image: "img:1"})
			d.mu.Unlock()
			ns := time.Now().UnixNano()
			d.add(Message{Type: "container", Action: "create", Actor: Actor{ID: id64(2),
				Attributes: map[string]string{"name": "two", "image": "img:1"}}, Time: ns / 1e9, TimeNano: ns})
			for cache.Snapshot().StoppedCount != 1 {
				if time.Since(time.Unix(0, ns)) > 3*time.Second {
					t.Fatal("a create event did not refresh the snapshot within 3 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// A host where Docker starts after the agent: with no socket the events
// stream is looked for again at the agent's ticks (not every MaxBackoff),
// and once the daemon is there it is followed, an event from the moment
// the daemon came up included.
func TestEventsDaemonStartsLater(t *testing.T) {
	d := newFake(t, "1.41", "1.12")
	d.srv.Close() // no daemon yet: no socket
	os.Remove(d.sock)
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	disp, err := events.New(events.Options{Host: "h", AuditFile: audit, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer disp.Close()
	cache := NewCache(NewClient(d.sock), Options{Interval: time.Second, Events: disp,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: quietLog()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cache.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(1500 * time.Millisecond)
	if cache.Live() {
		t.Fatal("events stream live with no daemon")
	}
	d.restart()
	id := id64(5)
	ns := time.Now().UnixNano()
	d.add(Message{Status: "start", ID: id, From: "img:1", Type: "container", Action: "start",
		Actor: Actor{ID: id, Attributes: map[string]string{"name": "late", "image": "img:1"}}, Time: ns / 1e9, TimeNano: ns})
	waitLines(t, audit, 1)
	if !cache.Live() {
		t.Error("events stream not live once the daemon is up")
	}
}

// With no socket, the cache looks for one at the first tick after
// MaxBackoff, not at every tick: a daemon that comes up is listed then.
func TestCacheWithoutSocketLooksEveryMaxBackoff(t *testing.T) {
	d := newFake(t, "1.41", "1.12")
	d.srv.Close()
	os.Remove(d.sock)
	d.mu.Lock()
	d.conts = []fakeContainer{{id: id64(1), name: "one", image: "img:1", pid: 41, running: true}}
	d.mu.Unlock()
	cache := NewCache(NewClient(d.sock), Options{Interval: 100 * time.Millisecond, MaxBackoff: time.Second,
		Logger: quietLog()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { cache.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(300 * time.Millisecond)
	d.restart() // the daemon comes up between two ticks
	time.Sleep(300 * time.Millisecond)
	if cache.Snapshot() != nil {
		t.Fatal("listed at a tick soon after the socket appeared: the cache looked at every tick")
	}
	for cache.Snapshot() == nil {
		if time.Since(start) > 5*time.Second {
			t.Fatal("not listed 5 s after the daemon came up, with a MaxBackoff of 1 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("listed %s after the start, before MaxBackoff", took)
	}
}

func readLines(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func waitLines(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if len(readLines(t, path)) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("audit has %d lines, want %d:\n%s", len(readLines(t, path)), n, strings.Join(readLines(t, path), "\n"))
}

func TestSocketPath(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	for _, tc := range []struct{ host, procfs, want string }{
		{"", "/proc", "/run/docker.sock"},
		{"", "/host/proc", "/host/run/docker.sock"},
		{"unix:///var/run/d.sock", "/host/proc", "/var/run/d.sock"},
	} {
		if got, err := SocketPath(tc.host, tc.procfs); err != nil || got != tc.want {
			t.Errorf("SocketPath(%q, %q) = %q %v, want %q", tc.host, tc.procfs, got, err, tc.want)
		}
	}
	if _, err := SocketPath("tcp://1.2.3.4:2375", "/proc"); err == nil {
		t.Error("tcp:// accepted")
	}
	t.Setenv("DOCKER_HOST", "unix:///x/d.sock")
	if got, _ := SocketPath("", "/host/proc"); got != "/x/d.sock" {
		t.Errorf("$DOCKER_HOST ignored: %q", got)
	}
}

// No Docker daemon on the host: the list refresh and the events stream fail
// in turn, with different errors, for as long as the agent runs. Each is
// logged once (then once an hour), not at every alternation (17k WARN lines
// a day with a "same as the last error" filter).
func TestNoDaemonAlternatingErrorsThrottled(t *testing.T) {
	dir := t.TempDir()
	var logs syncbuf.Buffer
	disp, err := events.New(events.Options{Host: "h", Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer disp.Close()
	k := NewCache(NewClient(filepath.Join(dir, "docker.sock")), Options{Interval: 10 * time.Millisecond,
		Events: disp, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	k.Run(ctx)
	out := logs.String()
	for msg, want := range map[string]int{`msg="docker refresh failed"`: 1, `msg="docker events stream unavailable"`: 1} {
		if n := strings.Count(out, msg); n != want {
			t.Errorf("%s logged %d times, want %d:\n%s", msg, n, want, out)
		}
	}
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Errorf("%d WARN lines, want 2:\n%s", n, out)
	}
}

// TestLookupOnDemandBounded: an id the last refresh did not list is
// inspected at once (named from its first cycle), an id the daemon does not
// know is asked once, and a daemon that stops answering costs one bounded
// wait, not one per container, until a refresh succeeds again. The real
// daemon's answer is tested in cmd/collector's Docker end-to-end test; a
// hang on demand needs this fake.
func TestLookupOnDemandBounded(t *testing.T) {
	d := newFake(t, "1.41", "1.12")
	cache := NewCache(NewClient(d.sock), Options{Interval: time.Minute, Logger: quietLog()})
	if err := cache.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	inspects := func(id string) int {
		d.mu.Lock()
		defer d.mu.Unlock()
		n := 0
		for _, p := range d.paths {
			if strings.HasSuffix(p, "/containers/"+id+"/json") {
				n++
			}
		}
		return n
	}
	// Started after the refresh.
	d.mu.Lock()
	d.conts = append(d.conts, fakeContainer{id: id64(1), name: "web", image: "nginx", pid: 42, running: true,
		labels: map[string]string{"io.kubernetes.pod.name": "p", "io.kubernetes.pod.namespace": "ns", "io.kubernetes.container.name": "c"}})
	d.mu.Unlock()
	info, ok := cache.Lookup(id64(1))
	if !ok || info.Name != "ns/p/c" || info.Pod != "p" || info.Image != "nginx" || info.Pid != 42 || info.Runtime != "docker" {
		t.Fatalf("new container: %+v %v", info, ok)
	}
	if _, ok := cache.Lookup(id64(1)); !ok || inspects(id64(1)) != 1 {
		t.Errorf("the second lookup inspected again (%d inspects)", inspects(id64(1)))
	}
	// Another runtime's container: asked once.
	for i := 0; i < 3; i++ {
		if _, ok := cache.Lookup(id64(2)); ok {
			t.Fatal("an id the daemon does not know was named")
		}
	}
	if n := inspects(id64(2)); n != 1 {
		t.Errorf("an unknown id was inspected %d times, want 1", n)
	}
	// Not a Docker id (an nspawn machine name): never asked.
	cache.Lookup("web-machine")
	if n := inspects("web-machine"); n != 0 {
		t.Errorf("a machine name was inspected %d times", n)
	}

	// The daemon hangs: one bounded wait, then none until a refresh.
	d.mu.Lock()
	d.hang = make(chan struct{})
	d.mu.Unlock()
	start := time.Now()
	for i := 3; i < 20; i++ {
		if _, ok := cache.Lookup(id64(i)); ok {
			t.Fatal("named by a hanging daemon")
		}
	}
	if el := time.Since(start); el > ondemandTimeout+time.Second {
		t.Errorf("17 lookups of new ids took %v with a hanging daemon; want one %v wait", el, ondemandTimeout)
	}
	d.mu.Lock()
	close(d.hang)
	d.hang = nil
	d.conts = append(d.conts, fakeContainer{id: id64(21), name: "late", image: "x", pid: 7, running: true})
	d.mu.Unlock()
	if _, ok := cache.Lookup(id64(21)); ok {
		t.Error("lookups on demand resumed before a refresh succeeded")
	}
	if err := cache.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.conts = append(d.conts, fakeContainer{id: id64(22), name: "later", image: "x", pid: 8, running: true})
	d.mu.Unlock()
	if info, ok := cache.Lookup(id64(22)); !ok || info.Name != "later" {
		t.Errorf("after a good refresh: %+v %v", info, ok)
	}
}

// Diamond's docker collector over a fixture tree: the daemon's counts, the
// container's cgroup v1 values, and cpu.system from the host's /proc/stat
// "cpu" line (user..softirq ticks, in ns).
func TestDiamondCollector(t *testing.T) {
	d := newFake(t, "1.41", "1.12")
	d.conts = []fakeContainer{{id: id64(1), name: "web", image: "nginx:1", running: true, pid: 4242},
		{id: id64(2), name: "old", image: "busybox", running: false}}
	cache := NewCache(NewClient(d.sock), Options{Images: true, Logger: quietLog()})
	if err := cache.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(s), 0o644))
	}
	write("proc/stat", "cpu  100 1 50 1000 2 3 4 5 0 0\ncpu0 100 1 50 1000 2 3 4 5 0 0\nctxt 9\n")
	write("sys/fs/cgroup/memory/memory.usage_in_bytes", "1\n")
	write("sys/fs/cgroup/cpuacct/cpuacct.usage", "1\n")
	write("sys/fs/cgroup/memory/docker/"+id64(1)+"/memory.stat", "total_rss 4096\ntotal_cache 8192\n")
	write("sys/fs/cgroup/cpuacct/docker/"+id64(1)+"/cpuacct.usage", "123456789\n")
	write("sys/fs/cgroup/cpuacct/docker/"+id64(1)+"/cpuacct.stat", "user 30\nsystem 20\n")
	h := collect.Host{Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Root: root}
	col, err := DiamondFactory(func() (*Cache, error) { return cache, nil }).New(collect.Deps{Host: h, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	s := collect.NewSample(time.Now(), true, collect.State{})
	if err := col.Collect(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range s.All() {
		got = append(got, fmt.Sprintf("%s %d", m.Path, m.Int()))
	}
	const p = "docker.containers.web."
	want := []string{"docker.containers_running_count 1", "docker.containers_stopped_count 1",
		p + "RSS_byte 4096", p + "cache_byte 8192", p + "cpu.total 123456789",
		p + "cpu.kernelmode 200000000", p + "cpu.usermode 300000000",
		p + "cpu.system 11600000000"} // (100+1+50+1000+2+3+4) ticks * 1e7 ns
	for _, w := range want {
		if !strings.Contains(strings.Join(got, "\n")+"\n", w+"\n") {
			t.Errorf("no %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}
