// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"cmp"
	"iter"
	"math"
	"slices"
	"time"
)

// Metric is one value ready to publish. Its path, relative to
// <prefix>.<host>, is *Prefix followed by Path (Path alone when Prefix is
// nil; FullPath); its dynamic segments were sanitised by the collector
// (see Segment). Raw counters keep every digit (IsInt; Int), because a
// float64 cannot hold a uint64 exactly.
type Metric struct {
	// Prefix is shared by a group of series (Sample.SetPrefix): a
	// container's "containers.<name>." is held once, not in each of its
	// paths (1 KB of strings per container).
	Prefix *string
	Path   string
	// v is the integer when isInt, else the float64's bits: one word.
	v     uint64
	isInt bool
}

// Value is the metric's value (an integer's nearest float64).
func (m *Metric) Value() float64 {
	if m.isInt {
		return float64(m.v)
	}
	return math.Float64frombits(m.v)
}

// Int is an integer metric's value with every digit (0 for a float).
func (m *Metric) Int() uint64 {
	if m.isInt {
		return m.v
	}
	return 0
}

// IsInt tells whether the metric is an integer (GaugeInt, a raw counter).
func (m *Metric) IsInt() bool { return m.isInt }

// FullPath is the metric's path, *Prefix and Path joined.
func (m *Metric) FullPath() string {
	if m.Prefix == nil {
		return m.Path
	}
	return *m.Prefix + m.Path
}

// State is what a collector remembers between cycles: the raw counters it
// read and when. It is all the agent persists in --state-file.
type State struct {
	Time     time.Time         `json:"time"`
	Counters map[string]uint64 `json:"counters"`
}

// Sample is one collector's view of one cycle. Collectors emit gauges and
// raw counters into it; in rate mode a counter becomes a per-second rate
// over the time elapsed since the previous sample (Diamond divides by the
// configured interval instead: docs/metrics.md, differences), no rate is published
// before a previous sample exists, and a counter that went down is a reset
// that publishes nothing for that cycle.
//
// Counters are kept in emission order: a collector emits the same counters
// in the same order cycle after cycle, so the previous value is found at
// the same position without hashing the path (a 96-CPU /proc/stat has 970
// counters). When the order changes (a device appeared), a map built from
// the previous list answers instead. While the order stays, the cycle's
// counters have the previous cycle's names: the names are kept once and
// only the values twice (1000 containers remember 15 000 counters: 24
// bytes a name, 8 a value).
type Sample struct {
	// Time is the sample time used for rate arithmetic.
	Time time.Time
	// Raw is --counters: counters are published as read (docs/metrics.md, Raw-counter mode).
	Raw bool

	prevTime  time.Time
	prev      []ckey            // the previous cycle's counters, in order
	prevV     []uint64          // their values
	prevIndex map[string]uint64 // by full path, built on the first out-of-order lookup (the prefixed paths joined)
	// next holds this cycle's counter names once one differed from
	// prev's at its position; until then (same) they are prev's.
	next    []ckey
	same    bool
	nextV   []uint64
	elapsed float64 // seconds since prev, 0 when there is no previous sample
	// out is what was emitted, each metric's prefix that of its run and
	// whether it is an integer a bit of ints: 24 bytes a metric, not a
	// Metric's 40 (1000 containers publish 22 000 a cycle, and the
	// slice is kept for the next).
	out     []metric
	runs    []run
	ints    []uint64
	tagged  []Metric // Graphite 1.1 tagged series, published without <prefix>.<host>
	dropped int      // metrics refused this cycle: over MaxMetrics
	prefix  *string  // SetPrefix
	key     []byte   // a full path joined for a prevIndex lookup
	// gen counts the cycles (Reset); groups are the Counters read in
	// this one, for Next, and slots the counters they hold.
	gen    uint64
	groups []*Counters
	slots  int
}

// Counters is a group of counters a collector keeps itself, each at a
// fixed slot, under one prefix: a container's, cycle after cycle. Their
// previous values are found by slot, not by name, so the Sample keeps
// no name and no second value for them (1000 containers are 15 000
// counters: 24 bytes of name and 16 of values each); the previous value
// is the one read in the Sample's previous cycle under the same prefix,
// as for a counter remembered by name. A slot is read at most once a
// cycle, with CounterAt or DeltaAt of one Sample.
type Counters struct {
	names  []string // each slot's path below the prefix
	v      []uint64 // the value read last, by slot
	prefix *string  // the prefix they were read under
	read   uint64   // the slots read in cycle gen
	prev   uint64   // the slots read in the cycle before
	gen    uint64
}

// NewCounters is a group of counters named names (at most 64), by slot.
func NewCounters(names []string) Counters {
	return Counters{names: names, v: make([]uint64, len(names))}
}

// MaxMetrics caps what one collector publishes in one cycle (emitted plus
// remembered counters): far above a real host (8192 CPUs are 82k cpu
// metrics, a 256-CPU host's /proc/interrupts about 130k; 5000 containers
// with --tags 240k), low enough that a hostile /proc tree costs bounded
// memory (the series' paths are kept across cycles).
const MaxMetrics = 250_000

// full reports (and counts) an emission over MaxMetrics.
func (s *Sample) full() bool {
	if len(s.out)+len(s.tagged) < MaxMetrics && len(s.nextV)+s.slots < MaxMetrics {
		return false
	}
	s.dropped++
	return true
}

// Full reports that the collector reached MaxMetrics this cycle (and counts
// a refused emission): a collector that caches per line of its file (paths
// per interface, per IRQ) stops parsing there, so its cache stays bounded.
func (s *Sample) Full() bool { return s.full() }

// Dropped is the number of emissions refused this cycle because the
// collector had reached MaxMetrics.
func (s *Sample) Dropped() int { return s.dropped }

// metric is an emitted Metric as the Sample keeps it (out).
type metric struct {
	path string
	v    uint64
}

// run says that the metrics from out[start] to the next run's start
// were emitted under prefix.
type run struct {
	start  int
	prefix *string
}

// ckey is a counter's name: the prefix it was emitted under and its path.
type ckey struct {
	prefix *string
	key    string
}

// full is the counter's full path.
func (c *ckey) full() string {
	if c.prefix == nil {
		return c.key
	}
	return *c.prefix + c.key
}

// names is this cycle's counter names, in order.
func (s *Sample) names() []ckey {
	if s.same {
		return s.prev[:len(s.nextV)]
	}
	return s.next
}

// remember records this cycle's counter key=v: its name only when it is
// not the previous cycle's at the same position (match).
func (s *Sample) remember(key string, v uint64, match bool) {
	i := len(s.nextV)
	s.nextV = append(s.nextV, v)
	if s.same {
		if match {
			return
		}
		// The first name that differs: the names before it were prev's.
		// Appended right after prev's last name, prev's array may take it
		// (prev reads none past its length); else it is copied.
		s.same = false
		if i == len(s.prev) {
			s.next = s.prev[:i]
		} else {
			s.next = append(make([]ckey, 0, len(s.prev)), s.prev[:i]...)
		}
	}
	s.next = append(s.next, ckey{s.prefix, key})
}

// samePrefix: a and b are the same prefix (nil is none).
func samePrefix(a, b *string) bool {
	return a == b || (a != nil && b != nil && *a == *b)
}

// NewSample starts a cycle at t over the previous state of the same
// collector (zero State when there is none). prev is not modified: the new
// state is built beside it and returned by Next.
func NewSample(t time.Time, raw bool, prev State) *Sample {
	s := &Sample{Time: t, Raw: raw}
	s.Restore(prev)
	s.useRestored(t)
	return s
}

// Reset reuses the sample for a new cycle: what the last cycle built
// becomes the previous state, and the older buffers are recycled.
func (s *Sample) Reset(t time.Time) {
	if s.prevIndex != nil && s.prev == nil && s.nextV == nil {
		// Restored from a state file and not collected since.
		s.useRestored(t)
		return
	}
	// The names of the older cycle are dropped, not recycled: while the
	// order stays, only one list of names is kept.
	s.prev, s.next = s.names(), nil
	s.prevV, s.nextV = s.nextV, s.prevV[:0]
	s.same = true
	s.prevIndex = nil
	s.setTimes(s.Time, t)
}

// restored: this cycle rates against a state file's counters (prevIndex
// is that state, not one built from prev).
func (s *Sample) restored() bool { return s.prev == nil && s.prevIndex != nil }

// useRestored starts a cycle at t over the restored state.
func (s *Sample) useRestored(t time.Time) {
	s.next = make([]ckey, 0, len(s.prevIndex))
	s.nextV = make([]uint64, 0, len(s.prevIndex))
	s.same = false
	s.setTimes(s.prevTime, t)
}

func (s *Sample) setTimes(prev, t time.Time) {
	s.prevTime, s.Time = prev, t
	s.elapsed, s.dropped = 0, 0
	if !prev.IsZero() && (s.prev != nil || s.prevIndex != nil) {
		if dt := t.Sub(prev).Seconds(); dt > 0 {
			s.elapsed = dt
		}
	}
	s.out, s.ints = s.out[:0], s.ints[:0]
	clear(s.runs) // a container that went is not kept for its prefix
	s.runs = s.runs[:0]
	s.tagged = s.tagged[:0]
	s.prefix = nil
	s.gen++
	clear(s.groups) // a container that went is not kept for them
	s.groups, s.slots = s.groups[:0], 0
}

// SetPrefix makes *p the prefix of the paths emitted from now on (nil:
// none), until the next SetPrefix or the end of the cycle. A collector
// with many series under one node (a container's) keeps that node once;
// the paths it then emits are the rest. A counter's previous value is
// found under the same full path: a prefix string that changes (a
// container renamed) must be a new one, or the counters emitted under
// the old would carry over.
func (s *Sample) SetPrefix(p *string) { s.prefix = p }

// Restore makes st (read from a state file) the state the next Reset
// starts from.
func (s *Sample) Restore(st State) {
	if st.Counters == nil {
		return
	}
	s.prev, s.prevV, s.next, s.nextV = nil, nil, nil, nil
	s.prevIndex = st.Counters
	s.prevTime = st.Time
	s.Time = st.Time
	s.gen++ // the Counters read before are not the previous cycle's
}

// All yields what was emitted in this cycle, in order, paths relative
// to <prefix>.<host>.
func (s *Sample) All() iter.Seq[Metric] {
	return func(yield func(Metric) bool) {
		for r, run := range s.runs {
			end := len(s.out)
			if r+1 < len(s.runs) {
				end = s.runs[r+1].start
			}
			for i := run.start; i < end; i++ {
				if !yield(s.metric(i, run.prefix)) {
					return
				}
			}
		}
	}
}

// At is the metric emitted at position i (0 <= i < Mark()).
func (s *Sample) At(i int) Metric {
	r, found := slices.BinarySearchFunc(s.runs, i, func(r run, i int) int { return cmp.Compare(r.start, i) })
	if !found {
		r-- // the last run that starts before i
	}
	return s.metric(i, s.runs[r].prefix)
}

// metric is out[i], emitted under prefix.
func (s *Sample) metric(i int, prefix *string) Metric {
	return Metric{Prefix: prefix, Path: s.out[i].path, v: s.out[i].v, isInt: s.ints[i/64]&(1<<(i%64)) != 0}
}

// emit appends the metric path=v under the prefix set.
func (s *Sample) emit(path string, v uint64, isInt bool) {
	i := len(s.out)
	if n := len(s.runs); n == 0 || s.runs[n-1].prefix != s.prefix {
		s.runs = append(s.runs, run{i, s.prefix})
	}
	if i%64 == 0 {
		s.ints = append(s.ints, 0)
	}
	if isInt {
		s.ints[i/64] |= 1 << (i % 64)
	}
	s.out = append(s.out, metric{path, v})
}

// Tagged returns the tagged series emitted in this cycle (AlsoTagged):
// their paths are whole Graphite 1.1 series names, published as they are.
func (s *Sample) Tagged() []Metric { return s.tagged }

// Next returns the state to keep for the next cycle (a copy, for the state
// file and tests).
func (s *Sample) Next() State {
	names := s.names()
	st := State{Time: s.Time, Counters: make(map[string]uint64, len(names))}
	for i := range names {
		st.Counters[names[i].full()] = s.nextV[i]
	}
	for _, c := range s.groups {
		for i := range c.names {
			if c.read&(1<<i) != 0 {
				k := ckey{c.prefix, c.names[i]}
				st.Counters[k.full()] = c.v[i]
			}
		}
	}
	return st
}

// Elapsed is the number of seconds since the previous sample, or false when
// there is none (first cycle, or a clock that went backwards).
func (s *Sample) Elapsed() (float64, bool) { return s.elapsed, s.elapsed > 0 }

// Gauge publishes v as is. NaN and infinities are dropped: a Graphite line
// must carry a finite number.
func (s *Sample) Gauge(path string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || s.full() {
		return
	}
	s.emit(path, math.Float64bits(v), false)
}

// GaugeInt publishes an integer gauge with every digit.
func (s *Sample) GaugeInt(path string, v uint64) {
	if s.full() {
		return
	}
	s.emit(path, v, true)
}

// Counter publishes a monotonic counter: the raw value in --counters mode,
// else its per-second rate (when a previous sample exists and the counter
// did not go down).
func (s *Sample) Counter(path string, v uint64) {
	if s.Raw {
		if s.full() {
			return
		}
		// Remembered too, so a state file written by a --counters run
		// serves a later rate run.
		s.remember(path, v, s.matches(path))
		s.emit(path, v, true)
		return
	}
	if d, ok := s.Delta(path, v); ok {
		s.Gauge(path, float64(d)/s.elapsed)
	}
}

// Delta records the counter v under key and returns its increase since the
// previous sample. ok is false on the first sample and after a reset (v
// lower than before), and in both cases nothing should be published.
func (s *Sample) Delta(key string, v uint64) (d uint64, ok bool) {
	if s.full() {
		return 0, false
	}
	i := len(s.nextV)
	match := s.matches(key)
	s.remember(key, v, match)
	if s.elapsed <= 0 {
		return 0, false
	}
	var old uint64
	var seen bool
	if match {
		old, seen = s.prevV[i], true
	} else {
		if s.prevIndex == nil {
			s.prevIndex = make(map[string]uint64, len(s.prev))
			for i := range s.prev {
				s.prevIndex[s.prev[i].full()] = s.prevV[i]
			}
		}
		old, seen = s.indexed(s.prefix, key)
	}
	if !seen || v < old {
		return 0, false
	}
	return v - old, true
}

// CounterAt is Counter for the counter at slot i of c, under the prefix
// set (SetPrefix): its path is that slot's name.
func (s *Sample) CounterAt(c *Counters, i int, v uint64) {
	if s.Raw {
		if s.full() {
			return
		}
		s.keep(c, i, v)
		s.emit(c.names[i], v, true)
		return
	}
	if d, ok := s.DeltaAt(c, i, v); ok {
		s.Gauge(c.names[i], float64(d)/s.elapsed)
	}
}

// DeltaAt is Delta for the counter at slot i of c, under the prefix set.
func (s *Sample) DeltaAt(c *Counters, i int, v uint64) (d uint64, ok bool) {
	if s.full() {
		return 0, false
	}
	old, seen := s.keep(c, i, v)
	if s.elapsed <= 0 || !seen || v < old {
		return 0, false
	}
	return v - old, true
}

// keep records v at slot i of c and returns the slot's previous value:
// the one read in the previous cycle under the same prefix, or after a
// restart the state file's under the slot's full path.
func (s *Sample) keep(c *Counters, i int, v uint64) (old uint64, seen bool) {
	if c.gen != s.gen {
		// The group's first slot this cycle.
		c.prev = 0
		if c.gen+1 == s.gen && samePrefix(c.prefix, s.prefix) {
			c.prev = c.read
		}
		c.read, c.gen, c.prefix = 0, s.gen, s.prefix
		s.groups = append(s.groups, c)
	}
	bit := uint64(1) << i
	old, seen = c.v[i], c.prev&bit != 0
	if !seen && s.restored() {
		old, seen = s.indexed(c.prefix, c.names[i])
	}
	c.v[i] = v
	c.read |= bit
	s.slots++
	return old, seen
}

// indexed is the previous value of the counter key under prefix, from
// prevIndex.
func (s *Sample) indexed(prefix *string, key string) (uint64, bool) {
	if prefix == nil {
		v, ok := s.prevIndex[key]
		return v, ok
	}
	s.key = append(append(s.key[:0], *prefix...), key...)
	v, ok := s.prevIndex[string(s.key)]
	return v, ok
}

// matches tells whether the counter key, emitted now, has the name the
// previous cycle's had at the same position.
func (s *Sample) matches(key string) bool {
	i := len(s.nextV)
	return i < len(s.prev) && s.prev[i].key == key && samePrefix(s.prev[i].prefix, s.prefix)
}

// Mark is the number of metrics emitted so far, for AlsoTagged.
func (s *Sample) Mark() int { return len(s.out) }

// AlsoTagged publishes the metric emitted at position mark (if the call
// after Mark emitted one: a first-sample counter emits nothing) a second
// time as the tagged series named series ("container.cpu.total;host=h;
// image=web"), with the same value. Tagged series carry the host as a tag,
// so they are kept apart from the plain metrics and published without
// <prefix>.<host>.
func (s *Sample) AlsoTagged(mark int, series string) {
	if mark < len(s.out) && !s.full() {
		m := s.At(mark)
		m.Prefix, m.Path = nil, series
		s.tagged = append(s.tagged, m)
	}
}
