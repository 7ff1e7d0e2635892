// SPDX-License-Identifier: Apache-2.0

// Package containers publishes per-container metrics, runtime-neutral: it
// finds containers by walking the host's cgroup tree (cgroup v2, or the v1
// controller hierarchies of legacy and hybrid hosts) and reads each one's
// cgroup files, plus /proc/<pid>/net/dev of one of its processes for the
// network. Names, images and labels come from an optional Namer (the Docker
// API client); without one a container is named by its short id.
// See docs/metrics.md, Containers.
package containers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodemetrics/nodemetrics/internal/cgroup"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
	"github.com/nodemetrics/nodemetrics/internal/nowait"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/events"
)

// Info is what a runtime API or its state files know about a container.
type Info struct {
	Name, Image, Runtime, Pod, Namespace string
	Labels                               map[string]string
	Pid                                  int // a host pid of the container, 0 if unknown
	// Sandbox marks a Kubernetes pod's sandbox (pause) container: it is
	// not a workload and is not published; the pod's network is published
	// by its first workload container, which shares the namespace.
	Sandbox bool
}

// Namer names containers by id (the 64-hex id, or the machine name for
// nspawn machines). Lookup must never block: it is called for every
// container in every cycle and must be served from a cache.
type Namer interface {
	Lookup(id string) (Info, bool)
}

// Options configure the collector.
type Options struct {
	// MaxContainers bounds how many containers a cycle publishes (the
	// first by name); the rest are counted in containers.skipped_count.
	// 0 means DefaultMaxContainers.
	MaxContainers int
	// Namer may be nil.
	Namer Namer
	// Filter, when set, selects the containers published.
	Filter *Filter
	// Resolver, when set, names the containers the Namer does not know
	// from the runtimes' own state files (runtimes.Reader); it is asked
	// once per container, off the cycle.
	Resolver Resolver
	// Events, when set, receives the runtime-neutral lifecycle events seen
	// in the cgroup tree: a container cgroup appearing after the first
	// cycle (start), vanishing (die), its oom_kill count increasing (oom);
	// and the collector publishes containers.events.<event> every cycle.
	Events *events.Dispatcher
	// Tags: also publish every container metric as a Graphite 1.1 tagged
	// series container.<metric>;host=..;container=..;image=..;runtime=..
	// ;pod=..;namespace=..;label_<k>=<v> (labels only those in TagLabels).
	Tags      bool
	TagLabels []string
	Hostname  string
	// Known, when set, receives the published containers after every
	// cycle (for the services collector).
	Known *Known
}

// DefaultMaxContainers is Options.MaxContainers when unset.
const DefaultMaxContainers = 1000

// Factory is the registry row of the containers collector. options is
// called when the collector is built, only if it is selected: what the
// options hold (a Docker cache, an event dispatcher) is made only then.
func Factory(options func() (Options, error)) collect.Factory {
	return collect.Factory{
		Name:    "containers",
		Default: true,
		Paths: []string{
			"containers.running_count", "containers.skipped_count",
			"containers.<name>.cpu.<total|user|system>",
			"containers.<name>.cpu.<throttled_periods|throttled_seconds>",
			"containers.<name>.memory.<usage_byte|working_set_byte|rss_byte|cache_byte|limit_byte|oom_kills>",
			"containers.<name>.io.<read_byte_per_second|write_byte_per_second|reads_per_second|writes_per_second>",
			"containers.<name>.network.<if>.<rx_byte|tx_byte|rx_packets|tx_packets|rx_errors|tx_errors|rx_drop|tx_drop>",
			"containers.<name>.pids.current",
			"containers.<name>.pressure.<cpu|memory|io>.<some_percentage|full_percentage>",
			"containers.events.<start|die|oom|kill|destroy> (events seen in the cycle)",
			"container.<metric>;host=..;container=..;image=..;runtime=..;pod=..;namespace=..;label_<k>=.. (with --tags)",
		},
		New: func(d collect.Deps) (collect.Collector, error) {
			opts, err := options()
			if err != nil {
				return nil, err
			}
			return NewCollector(d.Host, opts, d.Log)
		},
	}
}

// Metric indexes of metricNames, a container's paths below its prefix.
// The counters come first: their indexes are the slots of the
// container's collect.Counters, which holds nCounters values.
const (
	mCPUTotal = iota
	mCPUUser
	mCPUSystem
	mThrottledPeriods
	mThrottledSeconds
	mIOReadBytes
	mIOWriteBytes
	mIOReads
	mIOWrites
	mPSICPUSome
	mPSICPUFull
	mPSIMemSome
	mPSIMemFull
	mPSIIOSome
	mPSIIOFull
	nCounters
)

// The gauges.
const (
	mMemUsage = nCounters + iota
	mMemWorkingSet
	mMemRSS
	mMemCache
	mMemLimit
	mMemOOMKills
	mPids
	nMetrics
)

var metricNames = [nMetrics]string{
	"cpu.total", "cpu.user", "cpu.system", "cpu.throttled_periods", "cpu.throttled_seconds",
	"io.read_byte_per_second", "io.write_byte_per_second", "io.reads_per_second", "io.writes_per_second",
	"pressure.cpu.some_percentage", "pressure.cpu.full_percentage",
	"pressure.memory.some_percentage", "pressure.memory.full_percentage",
	"pressure.io.some_percentage", "pressure.io.full_percentage",
	"memory.usage_byte", "memory.working_set_byte", "memory.rss_byte", "memory.cache_byte",
	"memory.limit_byte", "memory.oom_kills",
	"pids.current",
}

// A container's cgroup files, by slot. fileNames are their names on a
// cgroup v1 host (legacy or hybrid) and on a v2 one; "" where the layout
// has no such file. The pressure files are cgroup2's (on hybrid hosts in
// the unified/ tree).
const (
	fCPUStat = iota
	fCPUAcctUsage
	fCPUAcctStat
	fMemUsage
	fMemStat
	fMemLimit
	fMemOOM
	fIOStat
	fBlkioBytes
	fBlkioIOs
	fPidsCurrent
	fPSICPU
	fPSIMem
	fPSIIO
	nFiles
)

var fileNames = [2][nFiles]string{{
	fCPUStat: "cpu.stat", fCPUAcctUsage: "cpuacct.usage", fCPUAcctStat: "cpuacct.stat",
	fMemUsage: "memory.usage_in_bytes", fMemStat: "memory.stat", fMemLimit: "memory.limit_in_bytes",
	fMemOOM: "memory.oom_control",
	// The _recursive files include the IO of nested cgroups, as v2's
	// io.stat and v1's cpuacct and memory counters do.
	fBlkioBytes: "blkio.throttle.io_service_bytes_recursive", fBlkioIOs: "blkio.throttle.io_serviced_recursive",
	fPidsCurrent: "pids.current",
	fPSICPU:      "cpu.pressure", fPSIMem: "memory.pressure", fPSIIO: "io.pressure",
}, {
	fCPUStat: "cpu.stat", fMemUsage: "memory.current", fMemStat: "memory.stat", fMemLimit: "memory.max",
	fMemOOM: "memory.events", fIOStat: "io.stat", fPidsCurrent: "pids.current",
	fPSICPU: "cpu.pressure", fPSIMem: "memory.pressure", fPSIIO: "io.pressure",
}}

// files are a container's files, kept open across cycles (each cycle is a
// pread per file, not an open, read and close) while the process's
// descriptor budget allows (fds.go). A file is named by its slot's name and
// the container's directory in hierarchy at[slot]-1 (at 0: not read, its
// controller is not mounted), so each holds 9 bytes, not a kernfile.File's
// 56 and its strings.
type files struct {
	desc [nFiles]kernfile.Desc
	at   [nFiles]uint8
	// payload: bit h set when the files of hierarchy h are in payload/
	// below the container's directory (nspawn).
	payload uint8
	// the cgroup dir whose cgroup.procs (and its children's) lists the
	// container's pids: read only when a pid is needed, not every cycle.
	procsDir string
}

// maxRoots bounds the hierarchies walked: the five v1 controllers read
// and a cgroup2 tree.
const maxRoots = 6

// container is what is cached per container between cycles.
type container struct {
	key      string // runtime/id: one container wherever each hierarchy places it
	id       string // 64-hex id, or machine name
	runtime  string
	pod      string // pod uid (Kubernetes)
	fallback string // name when the Namer does not know the id
	seen     uint64 // discovery generation
	// dirs are the container's directories, one per hierarchy of the
	// layout, below its root ("docker/<id>"; "" where it was not found):
	// one string where they are the same, as they mostly are (only the
	// roots differ); dirty when one was added.
	dirs [maxRoots]string
	// info is what the Resolver said when it knew the container (nil
	// until then, as for most: a pointer, not 104 bytes in each; asked:
	// it was asked).
	info *Info

	want    string // this cycle's name before sanitising
	rawName string // name of the events
	node    string // path node: the name sanitised, unique (collect.Unique)
	// prefix is "containers.<node>.", the prefix of the container's
	// paths (collect.Sample.SetPrefix): a new string when node changes.
	prefix *string
	f      files
	// counters are its cgroup counters' last values, by metric index
	// (metricNames[:nCounters]), kept here rather than by name in the
	// Sample.
	counters collect.Counters

	// pid is the process whose network namespace is read: the Namer's,
	// else cgPid, the first of cgroup.procs, kept across cycles and read
	// again only when that process has gone. procFD is its /proc/<pid>
	// directory, kept open (procOpen): once the process exits every lookup
	// below it fails, even when the pid is reused, so the check is one
	// fstatat and the pid can be trusted.
	// pidDir is the pid in decimal, the directory below <procfs> of its
	// ns/net and net/dev: their paths are joined only to open them.
	pid, cgPid int
	procFD     int32
	// fds: the files are kept open, fds of them taken from the process's
	// descriptor budget (kept); 0 when they are opened at each read.
	fds    int32
	pidDir string
	dev    kernfile.Desc      // <procfs>/<pid>/net/dev
	ifaces map[string]*string // "containers.<node>.network.<if>.", the prefix of its netDevNames

	oom       uint64            // oom_kill count read this cycle (haveOOM)
	oomPrev   uint64            // oom_kill count of the previous read (oomSeen)
	tagSuffix string            // ";host=..;container=.." of the current info
	tagged    map[tagKey]string // plain path -> tagged path

	// The flags, together: apart, each took a word (a container of 640
	// bytes, not 576).
	machine  bool // an nspawn machine: id is its name
	dirty    bool // a directory was added or lost: the files are named again
	asked    bool
	procOpen bool
	fresh    bool // appeared after the first cycle: a start event is due
	late     bool // appeared after the first cycle
	haveOOM  bool
	oomSeen  bool
}

// kept tells whether the container's files are kept open.
func (ct *container) kept() bool { return ct.fds > 0 }

type collector struct {
	h     collect.Host
	opts  Options
	log   *slog.Logger
	lay   cgroup.Layout
	layOK bool
	root  int // index of the hierarchy being walked
	buf   kernfile.Buf
	w     walker
	gen   uint64
	watch watcher
	byKey map[string]*container
	live  []*container
	names *collect.Unique
	key   []byte
	netns map[uint64]struct{}
	fds   *fdBudget // the process's, for the files kept open
	host1 string    // <procfs>/1/ns/net
	host2 string    // <procfs>/2/ns/net: kthreadd, always in the initial netns
	errs  []error
	nerr  int
	vals  [8]cgroup.Value // the keys of the flat file read last (cgroupv1.go, cgroupv2.go)

	primed bool   // a first cycle ran: later appearances are starts
	warned bool   // that discovery walks every cycle
	hostNS uint64 // the initial network namespace's inode, once read (hostNet)

	// Resolver answers arrive from a goroutine (resolve.go).
	ask     []Ref
	askKeys []string
	busy    chan struct{}
	mu      sync.Mutex
	answers map[string]*Info // nil: the Resolver does not know it
}

// NewCollector builds the containers collector for host h.
func NewCollector(h collect.Host, opts Options, log *slog.Logger) (collect.Collector, error) {
	if opts.MaxContainers <= 0 {
		opts.MaxContainers = DefaultMaxContainers
	}
	if log == nil {
		log = slog.Default()
	}
	return &collector{
		h: h, opts: opts, log: log,
		byKey:   map[string]*container{},
		answers: map[string]*Info{},
		names:   collect.NewUnique(collect.Segment),
		netns:   map[uint64]struct{}{},
		fds:     &processFDs,
		watch:   newWatcher(),
		host1:   h.ProcPath("1", "ns", "net"),
		host2:   h.ProcPath("2", "ns", "net"),
	}, nil
}

// Collect discovers the containers, then publishes the first MaxContainers
// by name.
func (c *collector) Collect(ctx context.Context, s *collect.Sample) error {
	if !c.layOK {
		c.lay, c.layOK = cgroup.Detect(c.h.Sys)
		if !c.layOK {
			c.publishKnown(nil) // no containers: nobody waits for a list
			return collect.ErrNoData
		}
		if len(c.lay.Roots) > maxRoots {
			c.lay.Roots = c.lay.Roots[:maxRoots]
		}
	}
	c.errs, c.nerr = c.errs[:0], 0
	c.discover()
	for k, ct := range c.byKey {
		if ct.seen != c.gen {
			delete(c.byKey, k) // vanished: its Sample state goes with it
			c.forget(k)
			c.release(ct)
			if c.primed && c.layOK && !c.hidden(ct) {
				c.emit(ct, events.Die)
			}
			continue
		}
		if ct.dirty {
			ct.dirty = false
			c.files(ct)
		}
		if !ct.asked {
			ct.asked = true
			c.queue(ct)
		}
	}
	c.resolve(ctx)
	c.live = c.live[:0]
	for _, ct := range c.byKey {
		ct.want = c.wantName(ct)
		if c.hidden(ct) {
			ct.fresh = false
			continue
		}
		c.live = append(c.live, ct)
	}
	slices.SortFunc(c.live, func(a, b *container) int {
		if x := strings.Compare(a.want, b.want); x != 0 {
			return x
		}
		return strings.Compare(a.key, b.key)
	})
	// Two containers never share a series: the collision rule gives each
	// its own path node, stable while it lives (collect.Unique).
	for _, ct := range c.live {
		tie := ""
		if isHexID([]byte(ct.id)) {
			tie = ct.id // else (machine names) a hash of the runtime/id key
		}
		c.names.Want(ct.key, ct.want, tie)
	}
	c.names.Resolve()
	for _, ct := range c.live {
		c.setName(ct, ct.want, c.names.Name(ct.key))
	}
	n := min(len(c.live), c.opts.MaxContainers)
	s.GaugeInt("containers.running_count", uint64(len(c.live)))
	s.GaugeInt("containers.skipped_count", uint64(len(c.live)-n))

	hostNS := uint64(0)
	if n > 0 {
		hostNS = c.hostNet()
	}
	clear(c.netns)
	for _, ct := range c.live[:n] {
		if ct.fresh {
			ct.fresh = false
			c.emit(ct, events.Start)
		}
		mark := s.Mark()
		s.SetPrefix(ct.prefix)
		ct.haveOOM = false
		if c.lay.V2 {
			c.readV2(s, ct)
		} else {
			c.readV1(s, ct)
		}
		c.readPressure(s, ct)
		c.readNet(s, ct, hostNS)
		c.oomEvent(ct)
		if c.opts.Tags {
			c.tag(s, ct, mark)
		}
	}
	s.SetPrefix(nil)
	for _, ct := range c.live[n:] {
		ct.fresh = false // not published: no start event later either
	}
	c.opts.Events.Counts(s)
	c.publishKnown(c.live[:n])
	c.primed = true
	if c.nerr == 0 {
		return nil
	}
	err := errors.Join(c.errs...)
	if c.nerr > len(c.errs) {
		err = fmt.Errorf("%w (and %d more errors)", err, c.nerr-len(c.errs))
	}
	return err
}

// Settle carries the event counts of a sample that was not published
// into the next one (collect.Settler).
func (c *collector) Settle(published bool) { c.opts.Events.Settle(published) }

// discover brings the containers up to date: from the directories created
// and removed since the last cycle (watch.go), or by a walk of every
// hierarchy when the events cannot tell.
func (c *collector) discover() {
	if c.watch.active() {
		err := c.watch.drain(c.changed)
		if err == nil && c.watch.active() {
			return
		}
		if err != nil && !errors.Is(err, errWalk) {
			c.fail(err)
		}
	}
	c.gen++
	roots := make([]string, len(c.lay.Roots))
	for i, r := range c.lay.Roots {
		roots[i] = r.Path
	}
	c.watch.start(roots)
	if c.watch.err != nil && !c.warned {
		c.warned = true
		c.log.Warn("container discovery walks every cgroup hierarchy every cycle", "err", c.watch.err)
	}
	for i, r := range c.lay.Roots {
		c.root = i
		if err := c.w.walk(r.Path, walkCtx{}, 0, c); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				c.layOK = false // unmounted: detect again next cycle
			}
			c.watch.stop() // walk again next cycle
			c.fail(err)
		}
	}
}

// listing is called by the walk for each directory it lists (not a
// container): it is watched.
func (c *collector) listing(abs string, depth int, ctx walkCtx) {
	c.watch.add(abs, c.root, depth, ctx)
}

// changed is called for each directory created or removed below a
// watched one: a container found or lost, or a directory to walk (it may
// hold containers made before its watch was added).
func (c *collector) changed(d *watchDir, name []byte, created bool) {
	c.root = int(d.root)
	switch k, m := classify(name, &d.ctx); {
	case k == kindContainer && created:
		c.found(name, m, &d.ctx, d.abs)
	case k == kindContainer:
		c.lost(name, m, d.abs)
	case k == kindDescend && created && int(d.depth) < maxDepth:
		n := string(name)
		_ = c.w.walk(d.abs+"/"+n, d.ctx.child(n), int(d.depth)+1, c)
	}
}

// lost is called when a container's directory in hierarchy c.root was
// removed. The container goes when none of its directories is left, once
// the cycle's events are all read: a cgroup removed and made again in
// between (a restart) is the same container, its files opened again.
func (c *collector) lost(name []byte, m match, abs string) {
	c.key = append(append(append(c.key[:0], m.runtime...), '/'), m.id...)
	ct, ok := c.byKey[string(c.key)]
	if !ok || !isBelow(ct.dirs[c.root], c.rel(abs), name) {
		return
	}
	ct.dirs[c.root], ct.dirty = "", true
	if ct.dirs == [maxRoots]string{} {
		ct.seen = 0
	}
}

// found is called by the walk for each container directory. A container
// is keyed by runtime and id, not by its path: hierarchies that place it at
// different relative paths (a memory controller nested below the
// runtime's own cgroup, delegated subtrees) give one container. Nothing is
// allocated for a container already known in this hierarchy.
func (c *collector) found(name []byte, m match, ctx *walkCtx, abs string) {
	c.key = append(append(append(c.key[:0], m.runtime...), '/'), m.id...)
	if ct, ok := c.byKey[string(c.key)]; ok {
		ct.seen = c.gen
		if ct.dirs[c.root] == "" {
			ct.dirs[c.root] = c.dirOf(ct, abs, name)
			ct.dirty = true
		}
		return
	}
	ct := &container{key: string(c.key), runtime: m.runtime, pod: ctx.pod, seen: c.gen,
		fresh: c.primed, late: c.primed, machine: m.machine, dirty: true, counters: collect.NewCounters(metricNames[:nCounters])}
	ct.dirs[c.root] = c.dirOf(ct, abs, name)
	if m.machine {
		ct.id = unescapeUnit(string(m.id))
		ct.fallback = ct.id
	} else {
		ct.id = ct.key[len(ct.key)-len(m.id):] // the key's end: no string of its own
		ct.fallback = short(ct.id)
		if ct.pod != "" {
			ct.fallback = "pod" + ct.pod + "/" + short(ct.id)
		}
	}
	c.byKey[ct.key] = ct
}

// rel is abs relative to the root of hierarchy c.root (the walk and the
// watches start at the roots: abs is one or below one).
func (c *collector) rel(abs string) string {
	if rel := abs[len(c.lay.Roots[c.root].Path):]; rel != "" {
		return rel[1:]
	}
	return ""
}

// dirOf is the container's directory abs/name relative to the root of
// hierarchy c.root: the same string as the container has already when it
// has it, its key (Docker's cgroupfs driver makes docker/<id>, the key's
// very bytes) or its directory of another hierarchy, compared before a
// string is made: the strings are shared, and the copies made and
// dropped for every hierarchy were 0.4 MB of garbage at the start with
// 1000 containers (heap profile).
func (c *collector) dirOf(ct *container, abs string, name []byte) string {
	rel := c.rel(abs)
	if isBelow(ct.key, rel, name) {
		return ct.key
	}
	for _, d := range ct.dirs {
		if isBelow(d, rel, name) {
			return d
		}
	}
	if rel == "" {
		return string(name)
	}
	return rel + "/" + string(name)
}

// isBelow tells whether dir is rel/name (name when rel is "").
func isBelow(dir, rel string, name []byte) bool {
	if rel == "" {
		return dir == string(name)
	}
	return len(dir) == len(rel)+1+len(name) && dir[:len(rel)] == rel && dir[len(rel)] == '/' && dir[len(rel)+1:] == string(name)
}

// files names the files of a container when it appears (or is found in
// one more hierarchy, or lost in one): the directory of each hierarchy,
// no path joined.
func (c *collector) files(ct *container) {
	c.release(ct)
	f := &ct.f
	// set: the files of slots are read in the directory of ctrl's
	// hierarchy; it returns that hierarchy's index, -1 when the container
	// has no directory there. Only procsDir is made a path: the paths of
	// every hierarchy made and dropped were 0.6 MB of garbage at the start
	// with 1000 containers (heap profile).
	set := func(ctrl cgroup.Ctrl, slots ...int) int {
		i := c.lay.Index(ctrl)
		if i < 0 || ct.dirs[i] == "" {
			return -1
		}
		// nspawn splits its unit into payload/ (the container) and
		// supervisor/ (nspawn itself).
		if ct.machine && c.buf.Exists(c.lay.Roots[i].Path, ct.dirs[i], "payload") {
			f.payload |= 1 << i
		}
		for _, k := range slots {
			f.at[k] = uint8(i + 1)
		}
		return i
	}
	dir := func(i int) string {
		if i < 0 {
			return ""
		}
		return kernfile.Join(c.lay.Roots[i].Path, ct.dirs[i], f.sub(uint8(i)))
	}
	set(cgroup.Unified, fPSICPU, fPSIMem, fPSIIO)
	if c.lay.V2 {
		f.procsDir = dir(set(cgroup.Unified, fCPUStat, fMemUsage, fMemStat, fMemLimit, fMemOOM, fIOStat, fPidsCurrent))
	} else {
		cpuacct := set(cgroup.CPUAcct, fCPUAcctUsage, fCPUAcctStat)
		cpu := set(cgroup.CPU, fCPUStat)
		mem := set(cgroup.Memory, fMemUsage, fMemStat, fMemLimit, fMemOOM)
		blkio := set(cgroup.Blkio, fBlkioBytes, fBlkioIOs)
		pids := set(cgroup.Pids, fPidsCurrent)
		// Looked for before the path is made: a path made and dropped
		// at each container's start lies among the procsDir strings kept.
		for _, i := range [...]int{mem, pids, cpuacct, cpu, blkio} {
			if i >= 0 && c.buf.Exists(c.lay.Roots[i].Path, ct.dirs[i], f.sub(uint8(i))) {
				f.procsDir = dir(i)
				break
			}
		}
	}
	// Within the budget the files are kept open (and the pid's /proc
	// directory; net/dev is taken when it is read, readNet); beyond it
	// they are opened at each read.
	n := 1
	for _, at := range f.at {
		if at != 0 {
			n++
		}
	}
	if c.fds.take(n) {
		ct.fds = int32(n)
	}
	for i := range f.desc {
		f.desc[i].Once = !ct.kept()
	}
	ct.dev.Once = true
}

// release closes a container's descriptors (it went, or its files are
// computed again) and gives them back to the budget.
func (c *collector) release(ct *container) {
	for i := range ct.f.desc {
		ct.f.desc[i].Close()
	}
	ct.f = files{}
	c.setPid(ct, 0)
	c.fds.give(int(ct.fds))
	ct.fds = 0
}

// Close closes every descriptor the collector keeps open.
func (c *collector) Close() error {
	for _, ct := range c.byKey {
		c.release(ct)
	}
	c.watch.stop()
	return nil
}

// infoOf is what is known about the container: the Namer's (a live
// runtime API) when it knows the id, else the Resolver's answer.
func (c *collector) infoOf(ct *container) (Info, bool) {
	if c.opts.Namer != nil {
		if info, ok := c.opts.Namer.Lookup(ct.id); ok {
			return info, true
		}
	}
	if ct.info == nil {
		return Info{}, false
	}
	return *ct.info, true
}

// hidden: a pod's pause container (not a workload), or one the Filter
// excludes (by the name of this cycle, ct.want).
func (c *collector) hidden(ct *container) bool {
	info, ok := c.infoOf(ct)
	if ok && info.Sandbox {
		return true
	}
	return !c.opts.Filter.Allows(ct.want, info.Image, info.Labels)
}

// wantName is the container's name this cycle: the Namer's or Resolver's
// when they know it (Docker's leading '/' dropped), else the fallback.
func (c *collector) wantName(ct *container) string {
	if info, ok := c.infoOf(ct); ok {
		if n := strings.TrimLeft(info.Name, "/"); n != "" {
			return n
		}
	}
	return ct.fallback
}

// setName records the container's name and makes its paths' prefix
// when its node changed; a steady-state cycle builds no strings.
func (c *collector) setName(ct *container, raw, node string) {
	ct.rawName = raw
	if node == ct.node {
		return
	}
	ct.node = node
	prefix := "containers." + ct.node + "."
	ct.prefix = &prefix
	clear(ct.ifaces)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// read returns the content of the container's file of slot i; a file
// not read in this layout, or missing (controller not mounted for it, or
// the container just stopped), is silently no data.
func (c *collector) read(ct *container, i int) ([]byte, bool) {
	if ct.f.at[i] == 0 {
		return nil, false
	}
	h := ct.f.at[i] - 1
	return c.check(c.buf.ReadIn(&ct.f.desc[i], c.lay.Roots[h].Path, ct.dirs[h], ct.f.sub(h), c.fileName(i)))
}

// fileName is the name of the files of slot i in this layout.
func (c *collector) fileName(i int) string {
	if c.lay.V2 {
		return fileNames[1][i]
	}
	return fileNames[0][i]
}

// pathOf is the path of the container's file of slot i, for messages.
func (c *collector) pathOf(ct *container, i int) string {
	h := ct.f.at[i] - 1
	return kernfile.Join(c.lay.Roots[h].Path, ct.dirs[h], ct.f.sub(h), c.fileName(i))
}

// sub is the directory below the container's in hierarchy h that holds
// its files: "" or payload.
func (f *files) sub(h uint8) string {
	if f.payload&(1<<h) != 0 {
		return "payload"
	}
	return ""
}

func (c *collector) check(b []byte, err error) ([]byte, bool) {
	if err != nil {
		if !cgroup.Gone(err) {
			c.fail(err)
		}
		return nil, false
	}
	return b, true
}

// fail records an error of the cycle; only the first few are kept.
func (c *collector) fail(err error) {
	c.nerr++
	if len(c.errs) < 4 {
		c.errs = append(c.errs, err)
	}
}

func (c *collector) failParse(path string, err error) {
	c.fail(fmt.Errorf("parse %s: %w", path, err))
}

// single reads a one-number file; max is "max" (v2 unlimited).
func (c *collector) single(ct *container, i int) (v uint64, max, ok bool) {
	b, ok := c.read(ct, i)
	if !ok {
		return 0, false, false
	}
	v, max, err := cgroup.ParseSingle(b)
	if err != nil {
		c.failParse(c.pathOf(ct, i), err)
		return 0, false, false
	}
	return v, max, true
}

// kv reads a flat key/value file into c.vals (index i: keys[i]); false
// when the file could not be read.
func (c *collector) kv(ct *container, i int, keys []string) bool {
	b, ok := c.read(ct, i)
	if !ok {
		return false
	}
	if err := cgroup.ParseKV(b, keys, c.vals[:]); err != nil {
		c.failParse(c.pathOf(ct, i), err)
	}
	return true
}

// usec publishes metric m, a CPU time counter kept in microseconds: in
// rate mode multiplied by scale (1e-4: % of one CPU; 1e-6: seconds per
// second), in raw mode as microseconds.
func usec(s *collect.Sample, ct *container, m int, v uint64, scale float64) {
	if s.Raw {
		s.GaugeInt(metricNames[m], v)
		return
	}
	if d, ok := s.DeltaAt(&ct.counters, m, v); ok {
		if el, ok := s.Elapsed(); ok {
			s.Gauge(metricNames[m], float64(d)/el*scale)
		}
	}
}

const (
	pctOfCPU = 1e-4 // µs of CPU per second -> % of one CPU
	seconds  = 1e-6 // µs per second -> seconds per second
	// unlimited: v1 reports "no limit" as the largest page-aligned
	// value below 2^63 (9223372036854771712); anything this large is not
	// a limit anyone set.
	unlimited = 1 << 62
)

// memory publishes usage and its breakdown. The working set is usage
// minus inactive file pages, as cAdvisor and the kubelet compute it.
func (c *collector) memory(s *collect.Sample, ct *container, usage uint64, haveUsage bool, rss, cache, inactive uint64, haveStat bool) {
	if haveUsage {
		s.GaugeInt(metricNames[mMemUsage], usage)
		if haveStat {
			ws := uint64(0)
			if usage > inactive {
				ws = usage - inactive
			}
			s.GaugeInt(metricNames[mMemWorkingSet], ws)
		}
	}
	if haveStat {
		s.GaugeInt(metricNames[mMemRSS], rss)
		s.GaugeInt(metricNames[mMemCache], cache)
	}
}

func (c *collector) limit(s *collect.Sample, ct *container) {
	if v, max, ok := c.single(ct, fMemLimit); ok && !max && v < unlimited {
		s.GaugeInt(metricNames[mMemLimit], v)
	}
}

func (c *collector) pids(s *collect.Sample, ct *container) {
	if v, _, ok := c.single(ct, fPidsCurrent); ok {
		s.GaugeInt(metricNames[mPids], v)
	}
}

// netNS is the inode of the network namespace of one host pid of the
// container: the Namer's, else the first of cgroup.procs, else of a child
// cgroup's (v2 puts processes only in leaves: podman's container/,
// nspawn's payload children). The pid is kept: cgroup.procs is read again
// only when that process has gone.
func (c *collector) netNS(ct *container) (uint64, bool) {
	if info, ok := c.infoOf(ct); ok && info.Pid > 0 {
		c.setPid(ct, info.Pid)
		ino, err := c.pidNS(ct)
		return ino, err == nil
	}
	fresh := ct.cgPid == 0
	if fresh {
		ct.cgPid = c.cgroupPid(ct)
	}
	for ct.cgPid > 0 {
		c.setPid(ct, ct.cgPid)
		if ino, err := c.pidNS(ct); err == nil {
			return ino, true
		}
		c.setPid(ct, 0) // gone: close its /proc directory and net/dev
		if fresh {
			break
		}
		ct.cgPid, fresh = c.cgroupPid(ct), true
	}
	ct.cgPid = 0
	return 0, false
}

// setPid makes pid the container's process, its /proc directory opened
// when the container's files are kept open; 0 closes them.
func (c *collector) setPid(ct *container, pid int) {
	if pid == ct.pid && pid > 0 {
		return
	}
	if ct.procOpen {
		syscall.Close(int(ct.procFD))
		ct.procOpen = false
	}
	ct.dev.Close()
	ct.pid = pid
	if pid <= 0 {
		return
	}
	ct.pidDir = strconv.Itoa(pid)
	if !ct.kept() {
		return
	}
	fd, err := unix.Open(c.h.ProcPath(ct.pidDir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		ct.procFD, ct.procOpen = int32(fd), true
	}
}

// hostNet is the inode of the host's network namespace, found once: PID
// 1 and kthreadd never leave the initial namespace, and each lookup is
// two path walks through procfs with a permission check, every cycle for
// an answer that does not change. PID 1's namespace link may be
// unreadable (a PID 1 in another user namespace, or not dumpable);
// kernel threads (kthreadd is PID 2) live in the initial network
// namespace too. 0 (neither readable) is asked again next cycle.
func (c *collector) hostNet() uint64 {
	if c.hostNS != 0 {
		return c.hostNS
	}
	ino, err := inode(c.host1)
	if err != nil {
		ino, _ = inode(c.host2)
	}
	c.hostNS = ino
	return ino
}

// pidNS is the network namespace inode of the container's pid.
func (c *collector) pidNS(ct *container) (uint64, error) {
	if !ct.procOpen {
		return inode(c.h.ProcPath(ct.pidDir, "ns", "net"))
	}
	// At every cycle for every container, from procfs' memory: made
	// without the scheduler's bookkeeping (internal/nowait).
	var st syscall.Stat_t
	if err := nowait.Fstatat(int(ct.procFD), "ns/net", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// cgroupPid is a pid of the container from its cgroup.procs files: its
// directory's, else the first of its children's and grandchildren's.
func (c *collector) cgroupPid(ct *container) int {
	pid := 0
	if err := cgroup.EachPid(&c.buf, ct.f.procsDir, 2, func(p int) bool { pid = p; return false }); err != nil {
		c.fail(err)
	}
	return pid
}

// netDevNames are the container network metrics, in publishing order, and
// netDevCols the /proc/net/dev column of each.
var (
	netDevNames = [...]string{"rx_byte", "rx_packets", "rx_errors", "rx_drop", "tx_byte", "tx_packets", "tx_errors", "tx_drop"}
	netDevCols  = [len(netDevNames)]int{kernfile.NetRxBytes, kernfile.NetRxPackets, kernfile.NetRxErrs, kernfile.NetRxDrop,
		kernfile.NetTxBytes, kernfile.NetTxPackets, kernfile.NetTxErrs, kernfile.NetTxDrop}
)

// readNet publishes the interfaces of the container's network namespace,
// unless it is the host's or an earlier container (by name) already
// published it: the containers of a pod share the sandbox's namespace.
func (c *collector) readNet(s *collect.Sample, ct *container, hostNS uint64) {
	ino, ok := c.netNS(ct)
	if !ok {
		return // no process, or no /proc for it: no network data
	}
	if ino == hostNS {
		return
	}
	if _, dup := c.netns[ino]; dup {
		return
	}
	c.netns[ino] = struct{}{}
	if ct.kept() && ct.dev.Once && c.fds.take(1) {
		ct.dev.Once = false // kept open too, within the budget
		ct.fds++
	}
	b, ok := c.check(c.buf.ReadIn(&ct.dev, c.h.Proc, ct.pidDir, "net", "dev"))
	if !ok {
		return
	}
	if ct.ifaces == nil {
		ct.ifaces = map[string]*string{}
	}
	if err := kernfile.CheckNetDevHeader(b); err != nil {
		c.failParse(c.h.ProcPath(ct.pidDir, "net", "dev"), err)
		return
	}
	var v kernfile.NetDevCounters
	for rest, line := b, 0; ; {
		name, counters, r, ok := kernfile.NextNetDevLine(rest, &line)
		if !ok {
			break
		}
		rest = r
		if err := kernfile.ParseNetDevLine(name, counters, &v); err != nil {
			c.failParse(c.h.ProcPath(ct.pidDir, "net", "dev"), fmt.Errorf("line %d: %w", line, err))
			continue
		}
		if string(name) == "lo" {
			continue
		}
		prefix, ok := ct.ifaces[string(name)]
		if !ok {
			if len(ct.ifaces) >= 256 {
				clear(ct.ifaces) // interfaces churned: do not grow forever
			}
			p := *ct.prefix + "network." + collect.Segment(string(name)) + "."
			prefix = &p
			ct.ifaces[string(name)] = prefix
		}
		s.SetPrefix(prefix)
		for i, col := range netDevCols {
			s.Counter(netDevNames[i], v[col])
		}
	}
	s.SetPrefix(ct.prefix)
}

// inode is the inode number of a path (following symlinks: ns/net is a
// magic link whose target inode identifies the namespace).
func inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := nowait.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// oomEvent emits an oom event when the container's oom_kill count grew
// since the previous cycle (or is above 0 in the first read of a container
// that started while we watch).
func (c *collector) oomEvent(ct *container) {
	if !ct.haveOOM {
		return
	}
	if (ct.oomSeen && ct.oom > ct.oomPrev) || (!ct.oomSeen && ct.late && ct.oom > 0) {
		c.emit(ct, events.OOM)
	}
	ct.oomPrev, ct.oomSeen = ct.oom, true
}

// emit sends a cgroup lifecycle event of ct.
func (c *collector) emit(ct *container, action string) {
	if c.opts.Events == nil {
		return
	}
	ev := events.Event{Time: time.Now(), ID: ct.id, Name: ct.rawName, Runtime: ct.runtime,
		Action: action, Source: events.SourceCgroup}
	if ev.Name == "" {
		ev.Name = ct.fallback
	}
	if info, ok := c.infoOf(ct); ok {
		ev.Image, ev.Labels = info.Image, info.Labels
		if info.Runtime != "" {
			ev.Runtime = info.Runtime
		}
	}
	c.opts.Events.Emit(ev)
}

// tagKey is a plain path below a container's prefix: the rest of the
// metric's prefix ("" or "network.<if>.") and its Path.
type tagKey struct{ rest, path string }

// tag republishes the metrics the container emitted since mark as tagged
// series. The tagged path of each plain path is cached until the
// container's tags change.
func (c *collector) tag(s *collect.Sample, ct *container, mark int) {
	suffix := c.tagsOf(ct)
	if suffix != ct.tagSuffix || ct.tagged == nil {
		ct.tagSuffix = suffix
		ct.tagged = map[tagKey]string{}
	}
	end := s.Mark()
	for i := mark; i < end; i++ {
		m := s.At(i)
		if m.Prefix == nil {
			continue
		}
		rest, found := strings.CutPrefix(*m.Prefix, *ct.prefix)
		if !found {
			continue
		}
		k := tagKey{rest, m.Path}
		t, ok := ct.tagged[k]
		if !ok {
			t = "container." + rest + m.Path + suffix
			if len(ct.tagged) < 4096 {
				ct.tagged[k] = t
			}
		}
		s.AlsoTagged(i, t)
	}
}

// tagsOf is the ";k=v" tag list of the container, sorted by tag name,
// empty values omitted.
func (c *collector) tagsOf(ct *container) string {
	info, _ := c.infoOf(ct)
	runtime := ct.runtime
	if info.Runtime != "" {
		runtime = info.Runtime
	}
	// host and container carry their path nodes (a container's is unique);
	// the others go through the naming rules for tags.
	tags := [][2]string{
		{"host", collect.Segment(c.opts.Hostname)}, {"container", ct.node}, {"image", collect.Tag(info.Image)},
		{"runtime", collect.Tag(runtime)}, {"pod", collect.Tag(info.Pod)}, {"namespace", collect.Tag(info.Namespace)},
	}
	if c.opts.Hostname == "" {
		tags[0][1] = ""
	}
	for _, l := range c.opts.TagLabels {
		if v, ok := info.Labels[l]; ok {
			tags = append(tags, [2]string{"label_" + collect.Tag(l), collect.Tag(v)})
		}
	}
	slices.SortFunc(tags, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var b strings.Builder
	for _, t := range tags {
		v := t[1]
		if v == "" {
			continue
		}
		b.WriteByte(';')
		b.WriteString(t[0])
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

// readPressure publishes the share of time some and all (full) of the
// container's tasks were stalled on CPU, memory and IO, from the growth of
// total in its cgroup2 pressure files. The kernel's avg10/60/300 are left
// to the host's pressure collector: per container the interval's exact
// share is what is graphed, in a third of the series.
func (c *collector) readPressure(s *collect.Sample, ct *container) {
	for i := range 3 {
		b, ok := c.read(ct, fPSICPU+i)
		if !ok {
			continue
		}
		some, full, hasSome, hasFull, err := kernfile.ParsePressure(b)
		if err != nil {
			c.failParse(c.pathOf(ct, fPSICPU+i), err)
			continue
		}
		if hasSome {
			usec(s, ct, mPSICPUSome+2*i, some.Total, pctOfCPU)
		}
		if hasFull {
			usec(s, ct, mPSICPUFull+2*i, full.Total, pctOfCPU)
		}
	}
}
