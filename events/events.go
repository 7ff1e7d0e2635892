// SPDX-License-Identifier: Apache-2.0

// Package events is the container lifecycle audit trail (docs/metrics.md, Lifecycle events,
// "Lifecycle events"): events from the Docker /events stream and, runtime
// neutral, from the containers collector (cgroups appearing and vanishing,
// oom_kill counters increasing) go to
//
//   - graphite-web's POST /events/ (Grafana annotations), through a bounded
//     in-memory queue with retry that never blocks the caller;
//   - per-cycle counters containers.events.<event> (see Counts);
//   - optionally a JSON-lines audit file.
//
// Emit never blocks on the network: a full queue drops its oldest event
// (counted in Stats.Dropped).
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/ratelog"
)

// The lifecycle events we know; Counts publishes one counter per name.
const (
	Start   = "start"
	Die     = "die"
	OOM     = "oom"
	Kill    = "kill"
	Destroy = "destroy"
)

// Names are the events counted, in publishing order.
var Names = names[:]

var names = [...]string{Start, Die, OOM, Kill, Destroy}

// countPaths are Counts' paths, by Names index: joined once, not every
// cycle.
var countPaths = func() (p [len(names)]string) {
	for i, n := range names {
		p[i] = "containers.events." + n
	}
	return p
}()

// counts are per event, by Names index.
type counts [len(names)]uint64

// index is the Names index of an event, or -1.
func index(action string) int {
	for i, n := range Names {
		if n == action {
			return i
		}
	}
	return -1
}

// Sources of an event.
const (
	SourceDocker = "docker" // the Docker Engine /events stream
	SourceCgroup = "cgroup" // the containers collector's cgroup walk
)

// Event is one lifecycle event of one container.
type Event struct {
	Time     time.Time
	ID       string // full container id (or machine name)
	Name     string
	Image    string
	Runtime  string
	Labels   map[string]string
	Action   string // start, die, oom, kill, destroy
	ExitCode *int   // die only, when known (Docker)
	Signal   string // kill only, when known (Docker)
	Source   string // SourceDocker or SourceCgroup
}

// Options configure a Dispatcher.
type Options struct {
	Host      string // the agent's host name, a tag of every event
	URL       string // graphite-web base URL, "" for no posting
	AuditFile string // JSON-lines file, "" for none
	QueueLen  int    // pending posts kept at most (default 1000)
	Timeout   time.Duration
	// Suppress drops an event before anything is done with it; main uses it
	// to drop cgroup events of Docker containers while the Docker stream
	// covers them (no double events).
	Suppress func(Event) bool
	Logger   *slog.Logger
}

// Stats are the dispatcher's own counters.
type Stats struct {
	Emitted, Posted, Failed, Dropped uint64
}

// Dispatcher fans events out. The zero value is not usable; use New.
type Dispatcher struct {
	opts  Options
	log   *slog.Logger
	errs  *ratelog.Logger // keys "post" and "audit"
	http  *http.Client
	audit *os.File

	mu      sync.Mutex
	queue   []Event
	pending counts // events not yet published
	taken   counts // what the last Counts published
	stats   Stats
	wake    chan struct{}
	auditMu sync.Mutex
}

// New opens the audit file (append) and returns a dispatcher; call Run for
// the posting to graphite-web.
func New(opts Options) (*Dispatcher, error) {
	if opts.QueueLen <= 0 {
		opts.QueueLen = 1000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Dispatcher{opts: opts, log: opts.Logger, errs: ratelog.New(opts.Logger, 10*time.Minute, ""),
		http: &http.Client{Timeout: opts.Timeout, CheckRedirect: sameOrigin},
		wake: make(chan struct{}, 1)}
	opts.URL = strings.TrimRight(opts.URL, "/")
	d.opts.URL = opts.URL
	if opts.AuditFile != "" {
		f, err := os.OpenFile(opts.AuditFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("audit file: %w", err)
		}
		d.audit = f
	}
	return d, nil
}

// Close closes the audit file.
func (d *Dispatcher) Close() error {
	if d == nil || d.audit == nil {
		return nil
	}
	d.auditMu.Lock()
	defer d.auditMu.Unlock()
	return d.audit.Close()
}

// Emit records ev: counted, written to the audit file, queued for
// graphite-web. It never waits for the network. A nil Dispatcher ignores
// events.
func (d *Dispatcher) Emit(ev Event) {
	if d == nil {
		return
	}
	if d.opts.Suppress != nil && d.opts.Suppress(ev) {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	d.mu.Lock()
	if i := index(ev.Action); i >= 0 {
		d.pending[i]++
	}
	d.stats.Emitted++
	if d.opts.URL != "" {
		if len(d.queue) >= d.opts.QueueLen {
			d.queue = d.queue[1:]
			d.stats.Dropped++
		}
		d.queue = append(d.queue, ev)
	}
	d.mu.Unlock()
	if d.opts.URL != "" {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	d.log.Info("container event", "event", ev.Action, "container", ev.Name, "id", short(ev.ID), "image", ev.Image, "source", ev.Source)
	if d.audit != nil {
		d.writeAudit(ev)
	}
}

// auditRecord is one line of the audit file.
type auditRecord struct {
	Time     string            `json:"time"`
	Host     string            `json:"host"`
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Image    string            `json:"image"`
	Runtime  string            `json:"runtime,omitempty"`
	Labels   map[string]string `json:"labels"`
	Event    string            `json:"event"`
	ExitCode *int              `json:"exit_code"`
	Source   string            `json:"source"`
}

func (d *Dispatcher) writeAudit(ev Event) {
	labels := ev.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	b, err := json.Marshal(auditRecord{
		Time: ev.Time.UTC().Format(time.RFC3339Nano), Host: d.opts.Host, ID: ev.ID, Name: ev.Name,
		Image: ev.Image, Runtime: ev.Runtime, Labels: labels, Event: ev.Action, ExitCode: ev.ExitCode, Source: ev.Source,
	})
	if err != nil {
		return
	}
	b = append(b, '\n')
	d.auditMu.Lock()
	defer d.auditMu.Unlock()
	// One write of one line to an O_APPEND file: lines never interleave.
	if _, err := d.audit.Write(b); err != nil {
		d.errs.Fail("audit", "audit file write failed", err)
	} else {
		d.errs.OK("audit", "audit file writable again")
	}
}

// Counts publishes containers.events.<event> for every known event: the
// number of events of that kind not yet published (per-cycle counts, 0
// when none), so sum() or integral() over any range gives the totals and
// an agent restart loses nothing already published.
//
// Counts does not forget what it published: Settle does, once the sample
// is known to be published. A sample thrown away (its run missed the
// cycle's deadline) leaves the counts to the next one, so nothing is lost.
func (d *Dispatcher) Counts(s *collect.Sample) {
	if d == nil {
		return
	}
	d.mu.Lock()
	v := d.pending
	d.mu.Unlock()
	for i, path := range countPaths {
		dropped := s.Dropped()
		s.GaugeInt(path, v[i])
		if s.Dropped() > dropped {
			// The sample is full (collect.MaxMetrics): a later one
			// publishes what this one refused.
			v[i] = 0
		}
	}
	d.mu.Lock()
	d.taken = v
	d.mu.Unlock()
}

// Settle ends the cycle of the last Counts: when its sample was published
// the counts it carried are forgotten, else they stay for the next Counts.
func (d *Dispatcher) Settle(published bool) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if published {
		for i := range d.pending {
			d.pending[i] -= d.taken[i]
		}
	}
	d.taken = counts{}
}

// Stats returns a snapshot of the dispatcher's counters.
func (d *Dispatcher) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Pending is the number of events waiting to be posted.
func (d *Dispatcher) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue)
}

// Run posts queued events to graphite-web until ctx ends, retrying a failed
// post with backoff (1 s doubling to 30 s); events stay queued meanwhile.
func (d *Dispatcher) Run(ctx context.Context) {
	if d == nil || d.opts.URL == "" {
		return
	}
	backoff := time.Duration(0)
	for {
		d.mu.Lock()
		var ev Event
		have := len(d.queue) > 0
		if have {
			ev = d.queue[0]
		}
		d.mu.Unlock()
		if !have {
			select {
			case <-ctx.Done():
				return
			case <-d.wake:
				continue
			}
		}
		err := d.post(ctx, ev)
		d.mu.Lock()
		if err == nil {
			// The head may have been dropped by an overflow meanwhile:
			// remove it only if it is still the one we posted.
			if len(d.queue) > 0 && sameEvent(d.queue[0], ev) {
				d.queue = d.queue[1:]
			}
			d.stats.Posted++
		} else {
			d.stats.Failed++
		}
		d.mu.Unlock()
		if err == nil {
			d.errs.OK("post", "posting container events to graphite-web works again")
			backoff = 0
			continue
		}
		if backoff == 0 {
			backoff = time.Second
		} else if backoff = backoff * 2; backoff > 30*time.Second {
			backoff = 30 * time.Second
		}
		d.errs.Fail("post", "posting container event to graphite-web failed, will retry", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

func sameEvent(a, b Event) bool {
	return a.ID == b.ID && a.Action == b.Action && a.Time.Equal(b.Time) && a.Source == b.Source
}

// Payload is the JSON body posted to graphite-web's /events/. graphite-web
// 1.1.8 accepts tags as a JSON list or a space-separated string and stores
// them space-separated; /events/get_data?tags=a b returns the events that
// carry all of the tags. Tags therefore never contain spaces.
type Payload struct {
	What string   `json:"what"`
	Tags []string `json:"tags"`
	When int64    `json:"when"`
	Data string   `json:"data"`
}

// PayloadOf is the graphite-web event of ev: what = "<name> <event>", tags
// container, <event>, host=<h>, container=<name>, image=<image>,
// runtime=<runtime> (empty ones omitted), when = the event's time. Tags go
// through the naming rules (collect.Tag); host and container carry the
// path node of the same name (collect.Segment), so an annotation can be
// matched with the host and container nodes of the metric paths.
func (d *Dispatcher) PayloadOf(ev Event) Payload {
	name := ev.Name
	if name == "" {
		name = short(ev.ID)
	}
	tags := []string{"container", collect.Tag(ev.Action)}
	add := func(k, v string, clean func(string) string) {
		if v != "" {
			tags = append(tags, k+"="+clean(v))
		}
	}
	add("host", d.opts.Host, collect.Segment)
	add("container", name, collect.Segment)
	add("image", ev.Image, collect.Tag)
	add("runtime", ev.Runtime, collect.Tag)
	var data strings.Builder
	fmt.Fprintf(&data, "container %s (id %s", name, short(ev.ID))
	if ev.Image != "" {
		fmt.Fprintf(&data, ", image %s", ev.Image)
	}
	fmt.Fprintf(&data, ") %s on %s", ev.Action, d.opts.Host)
	if ev.ExitCode != nil {
		fmt.Fprintf(&data, ", exit code %d", *ev.ExitCode)
	}
	if ev.Signal != "" {
		fmt.Fprintf(&data, ", signal %s", ev.Signal)
	}
	fmt.Fprintf(&data, " (from %s)", ev.Source)
	// what is a title: bounded and on one line (graphite-web keeps 255
	// characters of it).
	return Payload{What: collect.Tag(name) + " " + collect.Tag(ev.Action), Tags: tags, When: ev.Time.Unix(), Data: data.String()}
}

func (d *Dispatcher) post(ctx context.Context, ev Event) error {
	body, err := json.Marshal(d.PayloadOf(ev))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.opts.URL+"/events/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /events/: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// sameOrigin follows a redirect only to the scheme and host of
// --events-url (a graphite-web moved to another path): the events, with
// container names, labels and exit codes, go nowhere else.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if len(via) >= 3 {
		return fmt.Errorf("%d redirects, stopped", len(via))
	}
	if o := via[0].URL; req.URL.Scheme != o.Scheme || req.URL.Host != o.Host {
		return fmt.Errorf("redirect to %s://%s refused: events go only to %s://%s", req.URL.Scheme, req.URL.Host, o.Scheme, o.Host)
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ExitCode parses Docker's exitCode attribute.
func ExitCode(s string) *int {
	if s == "" {
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return &n
}
