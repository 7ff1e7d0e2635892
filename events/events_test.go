// SPDX-License-Identifier: Apache-2.0

package events

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// graphite-web failing (a fault the real one cannot be made to show on
// demand: a 503 from a proxy in front of it) keeps the events queued and
// retried: every event arrives once, in order.
func TestRetryUntilAccepted(t *testing.T) {
	var mu sync.Mutex
	var got []Payload
	fails := 2
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/events/" || r.Method != http.MethodPost {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var p Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			t.Errorf("body: %v", err)
		}
		got = append(got, p)
	}))
	defer srv.Close()
	d := running(t, Options{Host: "h1", URL: srv.URL + "/", Logger: quiet()})
	code := 137
	d.Emit(Event{ID: strings.Repeat("a", 64), Name: "web 1", Image: "web:1", Action: Start, Source: SourceDocker})
	d.Emit(Event{ID: strings.Repeat("a", 64), Name: "web 1", Image: "web:1", Action: Die, ExitCode: &code, Source: SourceDocker})
	deadline := time.Now().Add(30 * time.Second)
	for d.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].What != "web_1 start" {
		t.Fatalf("posted %+v", got)
	}
	if got[1].What != "web_1 die" || !strings.Contains(got[1].Data, "exit code 137") {
		t.Errorf("die event %+v", got[1])
	}
	for _, p := range got {
		for _, tag := range p.Tags {
			if strings.ContainsAny(tag, " \t\n") {
				t.Errorf("tag %q has a space: graphite-web splits tags on spaces", tag)
			}
		}
		if !contains(p.Tags, "container=web_1") || !contains(p.Tags, "host=h1") || !contains(p.Tags, "container") {
			t.Errorf("tags %v", p.Tags)
		}
	}
	if st := d.Stats(); st.Posted != 2 || st.Failed != 2 || st.Emitted != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// running is a dispatcher whose Run goes on until the test ends.
func running(t *testing.T, opts Options) *Dispatcher {
	d, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A graphite-web that never answers: Emit still returns at once, the
// queue keeps the newest QueueLen events and counts what it dropped.
func TestFullQueueDropsOldest(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	d := running(t, Options{URL: srv.URL, QueueLen: 3, Timeout: time.Minute, Logger: quiet()})
	for i := 0; i < 10; i++ {
		d.Emit(Event{ID: "x", Name: "n", Action: Kill, Time: time.Unix(int64(i+1), 0)})
	}
	if p := d.Pending(); p != 3 {
		t.Errorf("pending %d, want 3", p)
	}
	if st := d.Stats(); st.Dropped != 7 || st.Emitted != 10 {
		t.Errorf("stats %+v, want 7 dropped of 10", st)
	}
}

// Counts publishes per-cycle numbers of every known event, zeros included,
// and starts again from zero once published; Suppress removes an event entirely; the
// audit file has one JSON object per event.
func TestCountsSuppressAudit(t *testing.T) {
	audit := filepath.Join(t.TempDir(), "audit.jsonl")
	d, err := New(Options{Host: "h", AuditFile: audit, Logger: quiet(),
		Suppress: func(ev Event) bool { return ev.Source == SourceCgroup && ev.Runtime == "docker" }})
	if err != nil {
		t.Fatal(err)
	}
	d.Emit(Event{ID: "m1", Name: "box", Runtime: "nspawn", Action: Start, Source: SourceCgroup})
	d.Emit(Event{ID: "d1", Name: "dup", Runtime: "docker", Action: Start, Source: SourceCgroup})
	d.Emit(Event{ID: "m1", Name: "box", Runtime: "nspawn", Action: OOM, Source: SourceCgroup})
	d.Emit(Event{ID: "m1", Name: "box", Runtime: "nspawn", Action: OOM, Source: SourceCgroup})
	counts := func() map[string]float64 {
		s := collect.NewSample(time.Unix(100, 0), false, collect.State{})
		d.Counts(s)
		d.Settle(true)
		m := map[string]float64{}
		for x := range s.All() {
			m[x.Path] = x.Value()
		}
		return m
	}
	c := counts()
	if len(c) != len(Names) || c["containers.events.start"] != 1 || c["containers.events.oom"] != 2 || c["containers.events.die"] != 0 {
		t.Errorf("first counts %v", c)
	}
	if c = counts(); c["containers.events.oom"] != 0 || c["containers.events.start"] != 0 {
		t.Errorf("second counts %v, want zeros", c)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(audit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 || lines[0]["name"] != "box" || lines[0]["event"] != "start" || lines[0]["host"] != "h" || lines[2]["event"] != "oom" {
		t.Errorf("audit %v", lines)
	}
}

// Counts not published (Settle(false): the sample was thrown away) are
// published by the next Counts, added to the events since; events emitted
// between a Counts and its Settle(true) are kept for the next cycle.
func TestCountsCarriedUntilPublished(t *testing.T) {
	d, err := New(Options{Host: "h", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	counts := func(published bool, emitBeforeSettle ...string) map[string]float64 {
		t.Helper()
		s := collect.NewSample(time.Unix(100, 0), false, collect.State{})
		d.Counts(s)
		for _, a := range emitBeforeSettle {
			d.Emit(Event{ID: "x", Action: a, Source: SourceDocker})
		}
		d.Settle(published)
		m := map[string]float64{}
		for x := range s.All() {
			m[strings.TrimPrefix(x.Path, "containers.events.")] = x.Value()
		}
		return m
	}
	d.Emit(Event{ID: "a", Action: Start, Source: SourceDocker})
	d.Emit(Event{ID: "a", Action: Die, Source: SourceDocker})
	if c := counts(false); c[Start] != 1 || c[Die] != 1 {
		t.Fatalf("thrown-away cycle %v", c)
	}
	d.Emit(Event{ID: "b", Action: Start, Source: SourceDocker})
	d.Emit(Event{ID: "b", Action: "pause", Source: SourceDocker}) // not counted
	if c := counts(true, OOM); c[Start] != 2 || c[Die] != 1 || c[OOM] != 0 || len(c) != len(Names) {
		t.Errorf("next published cycle %v, want start 2 die 1 oom 0", c)
	}
	if c := counts(true); c[Start] != 0 || c[Die] != 0 || c[OOM] != 1 {
		t.Errorf("cycle after %v, want only the oom emitted during the previous one", c)
	}
	if c := counts(true); c[OOM] != 0 {
		t.Errorf("quiet cycle %v, want zeros", c)
	}
}

// An audit file that cannot be opened is a configuration error.
func TestAuditFileError(t *testing.T) {
	_, err := New(Options{AuditFile: filepath.Join(t.TempDir(), "no", "such", "dir", "a.jsonl")})
	if err == nil || !strings.Contains(err.Error(), "audit file") {
		t.Fatalf("err %v", err)
	}
}

// Whatever the names, the event's tags are clean (no spaces: graphite-web
// splits on them; nothing the naming rules replace), the title is one
// bounded line, and the payload is valid JSON.
func FuzzPayload(f *testing.F) {
	f.Add("web 1", "img:1", "host.a", "die", "7")
	f.Add("", "", "", "", "")
	f.Fuzz(func(t *testing.T, name, image, host, action, code string) {
		d := &Dispatcher{opts: Options{Host: host}}
		p := d.PayloadOf(Event{ID: name + image, Name: name, Image: image, Runtime: "docker", Action: action, ExitCode: ExitCode(code)})
		for _, tag := range p.Tags {
			_, v, _ := strings.Cut(tag, "=")
			if strings.ContainsAny(tag, " \t\r\n") || collect.Tag(v) != v {
				t.Fatalf("tag %q", tag)
			}
		}
		if strings.ContainsAny(p.What, "\r\n") || len(p.What) > 2*collect.MaxName+1 {
			t.Fatalf("what %q", p.What)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	})
}

// A graphite-web (or whatever answers at --events-url) that redirects the
// POST to another host: the redirect is refused, nothing reaches the other
// host, the event stays queued. A redirect to another path of the same
// host is followed.
func TestRedirectToAnotherHostRefused(t *testing.T) {
	var mu sync.Mutex
	foreign, local := 0, 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		foreign++
		mu.Unlock()
	}))
	defer other.Close()
	var srvURL string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away/events/":
			http.Redirect(w, r, other.URL+"/events/", http.StatusTemporaryRedirect)
		case "/moved/events/":
			http.Redirect(w, r, srvURL+"/new/events/", http.StatusPermanentRedirect)
		case "/new/events/":
			mu.Lock()
			local++
			mu.Unlock()
		}
	}))
	defer srv.Close()
	srvURL = srv.URL
	away := running(t, Options{Host: "h", URL: srv.URL + "/away", Logger: quiet()})
	moved := running(t, Options{Host: "h", URL: srv.URL + "/moved", Logger: quiet()})
	for _, d := range []*Dispatcher{away, moved} {
		d.Emit(Event{ID: strings.Repeat("b", 64), Name: "web", Action: Start, Source: SourceDocker})
	}
	deadline := time.Now().Add(10 * time.Second)
	for (moved.Pending() > 0 || away.Stats().Failed == 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if foreign != 0 || away.Pending() != 1 || away.Stats().Failed == 0 {
		t.Errorf("redirect to another host: %d posts reached it, %d pending, %d failed", foreign, away.Pending(), away.Stats().Failed)
	}
	if local != 1 || moved.Pending() != 0 {
		t.Errorf("same-host redirect: %d posts arrived, %d pending", local, moved.Pending())
	}
}
