// SPDX-License-Identifier: Apache-2.0

// Package services finds the services running on the host and inside its
// containers (nginx, redis, memcached, postgresql) and collects their
// metrics under Diamond's paths, reaching each one through its own
// namespaces: files through <procfs>/<pid>/root (openroot.go), the network
// through setns into <procfs>/<pid>/ns/net on a locked thread (nsdial.go).
// Nothing is installed in a container and nothing is written into one;
// each service gets only its read-only status request.
package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/containers"
)

// Kind is a service type.
type Kind string

// The supported kinds; the names are the [[service]] kind values and the
// service= tag.
const (
	Nginx     Kind = "nginx"
	Redis     Kind = "redis"
	Memcached Kind = "memcached"
	Postgres  Kind = "postgresql"
)

// Kinds lists every kind in publishing order.
var Kinds = kinds[:]

var kinds = [...]Kind{Nginx, Redis, Memcached, Postgres}

// kindIndex is k's index in Kinds.
func kindIndex(k Kind) int {
	for i, x := range kinds {
		if x == k {
			return i
		}
	}
	panic("services: unknown kind " + string(k))
}

// kindStat is what one cycle's probes of a kind came to.
type kindStat struct {
	n, ok, failed int
	dur           float64
}

// selfPaths are each kind's self-metrics, by Kinds index: instances,
// success, failed, duration_seconds; joined once, not every cycle.
var selfPaths = func() (p [len(kinds)][4]string) {
	for i, k := range kinds {
		pre := "agent.services." + k.node() + "."
		p[i] = [4]string{pre + "instances", pre + "success", pre + "failed", pre + "duration_seconds"}
	}
	return p
}()

// node is the kind's first path node (Diamond's collector path).
func (k Kind) node() string {
	if k == Postgres {
		return "postgres"
	}
	return string(k)
}

// byComm recognises a service by its process name (/proc/<pid>/comm).
var byComm = map[string]Kind{
	"nginx":        Nginx,
	"redis-server": Redis,
	"memcached":    Memcached,
	"postgres":     Postgres,
	"postmaster":   Postgres,
}

// Container is a container the containers collector published.
type Container = containers.Running

// Lister returns the containers known now. Wait blocks until a first list
// exists or ctx ends (for --once, where both run in the same cycle).
// *containers.Known is one.
type Lister interface {
	Running() []containers.Running
	Wait(ctx context.Context)
}

// Rule is a [[service]] section of the configuration: it adds a service
// the discovery does not recognise (Port or Socket set) or sets the
// credentials and options of the discovered ones it matches.
type Rule struct {
	Kind Kind
	// Host: the rule is about services of the host. Otherwise it matches
	// containers whose name, image and label (key=glob) match its globs;
	// an empty glob matches every container.
	Host      bool
	Container string
	Image     string
	Label     string
	Port      int
	Socket    string // unix socket path inside the container
	User      string
	Password  string
	Database  string        // postgresql: database to connect to
	Path      string        // nginx: stub_status URL path
	Timeout   time.Duration // per probe; 0 = DefaultTimeout
}

// DefaultTimeout bounds one probe (connect, request, answer).
const DefaultTimeout = 5 * time.Second

// Options configure the collector.
type Options struct {
	Containers Lister // nil: host services only
	Rules      []Rule
	// Rediscover is how many cycles a discovery is kept when the
	// container set does not change (DefaultRediscover when 0).
	Rediscover int
	Tags       bool // tagged series for services in containers
	// Concurrency bounds the probes running at once (8 when 0).
	Concurrency int
}

// DefaultRediscover: discovery reads every recognised process's fds and
// its namespace's socket tables, so it runs when the container set changes,
// when a new service process appears (see watcher) and every 10 cycles
// (60 with the kernel's process events), not every cycle.
const DefaultRediscover = 10

// eventsRediscover stretches the periodic pass while the kernel reports
// every exec (procEvents): a full pass walks every process of the host
// (1200 processes: 30 ms and more), and new services are found from the
// events within a cycle.
const eventsRediscover = 6

// Factory is the registry row of the services collector. options is
// called when the collector is built, only if it is selected.
func Factory(options func() Options) collect.Factory {
	return collect.Factory{
		Name:    "services",
		Default: true,
		Paths: []string{
			"nginx.<active_connections|conn_accepted|conn_handled|req_handled|req_per_conn|act_reads|act_writes|act_waits>",
			"redis.<port>.<" + strings.Join(redisNames(), "|") + ">",
			"redis.<port>.db<N>.<keys|expires|avg_ttl>",
			"memcached.<localhost|port>.<stat> (every numeric stat but pid, time, version, libevent, pointer_size...; limit_maxconn)",
			"postgres.database.<db>.<" + strings.Join(pgStatNames, "|") + "|connections>",
			"postgres.<db>.connections.<" + strings.Join(pgStates, "|") + ">",
			"containers.<name>.<nginx|redis|memcached|postgres>.<metric> (services in containers)",
			"<nginx|redis|memcached|postgres>.<metric>;<container tags>;service=<kind> (with --tags)",
			"agent.services.<nginx|redis|memcached|postgres>.<instances|success|failed|duration_seconds>",
			"agent.services.discovery.duration_seconds",
		},
		New: func(d collect.Deps) (collect.Collector, error) {
			return New(d.Host, options(), d.Log), nil
		},
	}
}

// Instance is one service found.
type Instance struct {
	Kind   Kind
	Pid    int     // a process of the service: its namespaces are used
	Ports  []int   // listening TCP ports (nginx may have several)
	Addr   string  // host:port to dial (127.0.0.1 for a wildcard listener)
	Socket string  // unix socket path inside the container, when no TCP
	Rule   *Rule   // the matching [[service]] rule, nil if none
	target *target // where it runs
	paths  pathSet // built once per discovery
}

// target is the host or one container.
type target struct {
	c    Container // zero for the host
	host bool
	base string // "" or "containers.<node>."
	tags string // ";k=v..." with service= added per kind, sorted
}

// Collector is the services collector.
type Collector struct {
	h    collect.Host
	opts Options
	log  *slog.Logger

	cycles     int
	discovered bool                     // a discovery pass has run (it may have found nothing)
	watch      *watcher                 // new service processes between passes
	lastList   []Container              // the containers of the last discovery
	cache      map[cacheKey][]*Instance // per container, the zero key the host
	sinceDisc  int
	instances  []*Instance
	discSecs   float64
	rediscNow  bool // a probe saw its process gone
}

// New builds the collector.
func New(h collect.Host, opts Options, log *slog.Logger) *Collector {
	if opts.Rediscover <= 0 {
		opts.Rediscover = DefaultRediscover
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if log == nil {
		log = slog.Default()
	}
	return &Collector{h: h, opts: opts, log: log}
}

// Collect discovers when due, probes every instance concurrently, each
// within its own deadline, and publishes in a stable order.
func (c *Collector) Collect(ctx context.Context, s *collect.Sample) error {
	var list []Container
	if c.opts.Containers != nil {
		if c.cycles == 0 {
			// --once and the first cycle: the containers collector runs
			// beside us; wait (bounded) for its first list.
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			c.opts.Containers.Wait(wctx)
			cancel()
		}
		list = c.opts.Containers.Running()
	}
	c.cycles++
	if c.watch == nil {
		c.watch = newWatcher(c.h.Proc)
	}
	started, werr := c.watch.changed()
	if werr != nil {
		c.log.Debug("cannot watch for new services; the periodic pass finds them", "err", werr)
	}
	every := c.opts.Rediscover
	if c.watch.events != nil {
		// Every new service process is reported: the periodic pass is
		// only a safety net (a listener that came after its pending
		// passes).
		every *= eventsRediscover
	}
	full := !c.discovered || c.sinceDisc >= every || c.rediscNow || started
	if full || !sameContainers(list, c.lastList) {
		start := time.Now()
		inst, err := c.discover(ctx, list, full)
		c.discSecs = time.Since(start).Seconds()
		if err != nil && inst == nil {
			return fmt.Errorf("discover: %w", err)
		}
		c.instances, c.lastList, c.discovered = inst, list, true
		c.watch.found(inst)
		if full {
			c.sinceDisc, c.rediscNow = 0, false
		}
		if ctx.Err() != nil {
			c.rediscNow = true // cut short: a full pass next cycle
		}
		if err != nil {
			c.log.Debug("discovery incomplete", "err", err)
		}
	}
	c.sinceDisc++

	results := c.probeAll(ctx)
	var stats [len(kinds)]kindStat
	var errs []error
	for i, in := range c.instances {
		r := results[i]
		st := &stats[kindIndex(in.Kind)]
		st.n++
		st.dur = max(st.dur, r.dur.Seconds())
		if r.err != nil {
			st.failed++
			if len(errs) < 4 {
				errs = append(errs, fmt.Errorf("%s: %w", in.describe(), r.err))
			}
			if errors.Is(r.err, syscall.ESRCH) || errors.Is(r.err, os.ErrNotExist) {
				c.rediscNow = true
			}
		} else {
			st.ok++
		}
		c.emit(s, in, r.points)
	}
	for i := range stats {
		st, p := &stats[i], &selfPaths[i]
		s.GaugeInt(p[0], uint64(st.n))
		s.GaugeInt(p[1], uint64(st.ok))
		s.GaugeInt(p[2], uint64(st.failed))
		s.Gauge(p[3], st.dur)
	}
	s.Gauge("agent.services.discovery.duration_seconds", c.discSecs)
	return errors.Join(errs...)
}

// Close closes what the collector keeps open between cycles: the process
// events socket and the <procfs> listing of its watcher.
func (c *Collector) Close() error {
	if c.watch != nil {
		c.watch.close()
		c.watch = nil
	}
	return nil
}

// describe names an instance in errors and logs: never a credential.
func (in *Instance) describe() string {
	where := "host"
	if !in.target.host {
		where = "container " + in.target.c.Name
	}
	at := in.Addr
	if at == "" {
		at = in.Socket
	}
	return fmt.Sprintf("%s %s at %s", where, in.Kind, at)
}

// sameContainers tells whether a and b are the same containers (by id,
// node and tags), in any order. The containers collector hands over the
// same list while nothing changed, so mostly a comparison in order
// settles it without building anything (1000 containers' ids, joined, were
// ~100 KB a cycle).
func sameContainers(a, b []Container) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Node != b[i].Node || a[i].Tags != b[i].Tags {
			return containerSet(a) == containerSet(b)
		}
	}
	return true
}

// containerSet is the containers' ids, nodes and tags, sorted.
func containerSet(list []Container) string {
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID + "/" + c.Node + "/" + c.Tags
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// point is one value a probe read; the collector turns it into a sample
// after every probe returned (a Sample is not shared between goroutines).
type point struct {
	path string // below the instance's prefix
	kind pointKind
	v    float64
	iv   uint64
}

type pointKind uint8

const (
	gauge    pointKind = iota // v
	gaugeInt                  // iv
	counter                   // iv, a rate over elapsed time (raw with --counters)
	usecs                     // iv µs of CPU: seconds per second
)

type result struct {
	points []point
	err    error
	dur    time.Duration
}

// probeAll runs every instance's probe, at most Concurrency at once, each
// bounded by its own timeout (and the cycle's deadline).
func (c *Collector) probeAll(ctx context.Context) []result {
	results := make([]result, len(c.instances))
	sem := make(chan struct{}, c.opts.Concurrency)
	var wg sync.WaitGroup
	for i, in := range c.instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = result{err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			results[i] = c.probe(ctx, in)
		}()
	}
	wg.Wait()
	return results
}

func (c *Collector) probe(ctx context.Context, in *Instance) (r result) {
	timeout := DefaultTimeout
	if in.Rule != nil && in.Rule.Timeout > 0 {
		timeout = in.Rule.Timeout
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			r.err = fmt.Errorf("panic: %v", p)
		}
		r.dur = time.Since(start)
	}()
	p := &probeEnv{c: c, in: in}
	switch in.Kind {
	case Nginx:
		r.points, r.err = probeNginx(pctx, p)
	case Redis:
		r.points, r.err = probeRedis(pctx, p)
	case Memcached:
		r.points, r.err = probeMemcached(pctx, p)
	case Postgres:
		r.points, r.err = probePostgres(pctx, p)
	}
	return r
}

// probeEnv is what a probe may use: its instance's namespaces.
type probeEnv struct {
	c  *Collector
	in *Instance
}

// nsPath is the instance's network namespace, "" when it is the agent's
// own (no setns needed, e.g. host services with a shared network).
func (p *probeEnv) nsPath() string {
	ns := p.c.h.ProcPath(strconv.Itoa(p.in.Pid), "ns", "net")
	if sameFile(ns, "/proc/thread-self/ns/net") {
		return ""
	}
	return ns
}

// root is the instance's root directory as the host sees it.
func (p *probeEnv) root() Root {
	return NewRoot(p.c.h.ProcPath(strconv.Itoa(p.in.Pid), "root"))
}

// fs is the host's procfs for the procfs library.
func (c *Collector) fs() procfs.FS {
	fs, _ := procfs.NewFS(c.h.Proc)
	return fs
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// pathSet holds the instance's path prefix and, with tags, its tag suffix.
type pathSet struct {
	prefix string // "containers.<node>.redis.6379." (relative to <prefix>.<host>)
	tagged string // "redis.6379." (absolute tagged name start), "" without tags
	suffix string // ";container=..;service=redis"
}

func (c *Collector) emit(s *collect.Sample, in *Instance, pts []point) {
	for _, pt := range pts {
		mark := s.Mark()
		path := in.paths.prefix + pt.path
		switch pt.kind {
		case gauge:
			s.Gauge(path, pt.v)
		case gaugeInt:
			s.GaugeInt(path, pt.iv)
		case counter:
			s.Counter(path, pt.iv)
		case usecs:
			if s.Raw {
				s.GaugeInt(path, pt.iv)
			} else if d, ok := s.Delta(path, pt.iv); ok {
				if el, ok := s.Elapsed(); ok {
					s.Gauge(path, float64(d)/el/1e6)
				}
			}
		}
		if in.paths.suffix != "" {
			s.AlsoTagged(mark, in.paths.tagged+pt.path+in.paths.suffix)
		}
	}
}
