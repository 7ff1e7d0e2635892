// SPDX-License-Identifier: Apache-2.0

package collect

import (
	"testing"
	"time"
)

// counter is a counter's path and value, as a collector emits it.
type counter struct {
	key string
	v   uint64
}

// rates runs one cycle of the rate engine at unix time ts: the counters
// are emitted in the order given, and the published per-second rates are
// returned by path.
func rates(s *Sample, ts int64, counters ...counter) map[string]float64 {
	s.Reset(time.Unix(ts, 0))
	for _, c := range counters {
		s.Counter(c.key, c.v)
	}
	got := map[string]float64{}
	for m := range s.All() {
		got[m.Path] = m.Value()
	}
	return got
}

func wantRates(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestRateFirstSampleThenPerSecond(t *testing.T) {
	s := NewSample(time.Time{}, false, State{})
	wantRates(t, rates(s, 1000, counter{"a", 100}), nil)
	wantRates(t, rates(s, 1010, counter{"a", 150}), map[string]float64{"a": 5})
	// Elapsed is the real interval, not a configured one.
	wantRates(t, rates(s, 1030, counter{"a", 170}), map[string]float64{"a": 1})
}

// A collector whose counters come in another order (a device appeared,
// the kernel listed interfaces differently) still pairs each counter with
// its own previous value; a new counter publishes nothing until it has
// one, a vanished one is forgotten.
func TestRateOutOfOrderCounters(t *testing.T) {
	s := NewSample(time.Time{}, false, State{})
	rates(s, 1000, counter{"a", 10}, counter{"b", 20}, counter{"c", 30})
	wantRates(t, rates(s, 1010, counter{"c", 130}, counter{"new", 5}, counter{"a", 20}),
		map[string]float64{"c": 10, "a": 1})
	// b vanished in the last cycle: when it comes back it is new again.
	wantRates(t, rates(s, 1020, counter{"b", 1000}, counter{"a", 30}, counter{"new", 25}, counter{"c", 130}),
		map[string]float64{"a": 1, "new": 2, "c": 0})
	// Back in order: the positional fast path must not reuse the map
	// built for the previous cycle.
	wantRates(t, rates(s, 1030, counter{"b", 1100}, counter{"a", 40}, counter{"new", 25}, counter{"c", 140}),
		map[string]float64{"b": 10, "a": 1, "new": 0, "c": 1})
}

// A counter that went down was reset (a reboot, a wrapped 32-bit
// counter, a re-created device): nothing is published for that cycle,
// and the next rate starts from the new value.
func TestRateCounterReset(t *testing.T) {
	s := NewSample(time.Time{}, false, State{})
	rates(s, 1000, counter{"a", 500}, counter{"b", 1})
	wantRates(t, rates(s, 1010, counter{"a", 20}, counter{"b", 11}), map[string]float64{"b": 1})
	wantRates(t, rates(s, 1020, counter{"a", 120}, counter{"b", 21}), map[string]float64{"a": 10, "b": 1})
}

// The state file's counters serve the first cycle after a restart: Reset
// after Restore rates against the restored values and time, and once,
// however many cycles follow.
func TestRateResetAfterRestore(t *testing.T) {
	old := NewSample(time.Time{}, false, State{})
	rates(old, 1000, counter{"a", 100}, counter{"b", 7})
	st := old.Next()

	s := NewSample(time.Time{}, false, State{})
	s.Restore(st)
	wantRates(t, rates(s, 1020, counter{"a", 140}, counter{"b", 7}), map[string]float64{"a": 2, "b": 0})
	wantRates(t, rates(s, 1030, counter{"a", 150}, counter{"b", 17}), map[string]float64{"a": 1, "b": 1})

	// A Restore replaces what the sample had collected itself.
	s = NewSample(time.Time{}, false, State{})
	rates(s, 1000, counter{"a", 1000})
	s.Restore(st)
	wantRates(t, rates(s, 1020, counter{"a", 140}), map[string]float64{"a": 2})

	// An empty state (no file) restores nothing: the first cycle publishes
	// nothing.
	s = NewSample(time.Time{}, false, State{})
	s.Restore(State{})
	wantRates(t, rates(s, 1020, counter{"a", 140}), nil)
}

// A clock that went backwards (or stood still) gives no elapsed time:
// nothing is published rather than a negative or infinite rate, and the
// cycle after rates against the values read at the backward time.
func TestRateClockBackwards(t *testing.T) {
	s := NewSample(time.Time{}, false, State{})
	rates(s, 1000, counter{"a", 100})
	wantRates(t, rates(s, 990, counter{"a", 110}), nil)
	if _, ok := s.Elapsed(); ok {
		t.Fatal("Elapsed reports time over a clock that went backwards")
	}
	wantRates(t, rates(s, 990, counter{"a", 120}), nil)
	wantRates(t, rates(s, 1000, counter{"a", 220}), map[string]float64{"a": 10})

	// A state file written in the future (the clock was set back after
	// it): no rate from it.
	s = NewSample(time.Time{}, false, State{})
	s.Restore(State{Time: time.Unix(5000, 0), Counters: map[string]uint64{"a": 1}})
	wantRates(t, rates(s, 1000, counter{"a", 100}), nil)
	wantRates(t, rates(s, 1010, counter{"a", 200}), map[string]float64{"a": 10})
}

// --counters publishes the raw values and remembers them, so a state file
// written by a raw run serves a later rate run.
func TestRawCountersRemembered(t *testing.T) {
	s := NewSample(time.Time{}, true, State{})
	wantRates(t, rates(s, 1000, counter{"a", 100}), map[string]float64{"a": 100})
	st := s.Next()
	r := NewSample(time.Time{}, false, State{})
	r.Restore(st)
	wantRates(t, rates(r, 1010, counter{"a", 150}), map[string]float64{"a": 5})
}

// Counters emitted under a prefix (SetPrefix) are the series of their full
// path: a rate needs the same prefix and path the cycle before, in order
// or not, in the state kept for the state file too; a new prefix (a
// container renamed) starts its series afresh.
func TestPrefixedCountersRateByFullPath(t *testing.T) {
	a, b := "c.a.", "c.b."
	cycle := func(s *Sample, ts int64, order []*string, v uint64) map[string]float64 {
		s.Reset(time.Unix(ts, 0))
		for _, p := range order {
			s.SetPrefix(p)
			s.Counter("x", v)
		}
		s.SetPrefix(nil)
		s.Counter("c.a.y", v)
		got := map[string]float64{}
		for m := range s.All() {
			got[m.FullPath()] = m.Value()
		}
		return got
	}
	s := NewSample(time.Time{}, false, State{})
	wantRates(t, cycle(s, 1000, []*string{&a, &b}, 100), nil)
	wantRates(t, cycle(s, 1010, []*string{&a, &b}, 200), map[string]float64{"c.a.x": 10, "c.b.x": 10, "c.a.y": 10})
	// Out of order, and a's prefix a new string of the same content.
	a2 := "c." + "a."
	wantRates(t, cycle(s, 1020, []*string{&b, &a2}, 300), map[string]float64{"c.a.x": 10, "c.b.x": 10, "c.a.y": 10})
	st := s.Next()
	if st.Counters["c.a.x"] != 300 || st.Counters["c.b.x"] != 300 || st.Counters["c.a.y"] != 300 || len(st.Counters) != 3 {
		t.Fatalf("state %v", st.Counters)
	}
	// Renamed: b's series is c.z.x now, with no previous value.
	z := "c.z."
	wantRates(t, cycle(s, 1030, []*string{&a2, &z}, 400), map[string]float64{"c.a.x": 10, "c.a.y": 10})
	// Restored from the state file: by full path.
	r := NewSample(time.Time{}, false, State{})
	r.Restore(st)
	wantRates(t, cycle(r, 1030, []*string{&a, &b}, 400), map[string]float64{"c.a.x": 10, "c.b.x": 10, "c.a.y": 10})
}

// While the order stays the names are the previous cycle's, kept once: a
// counter added after the last, the last gone, a name that differs midway
// each leave the state (Next) and the rates of the cycle after with every
// counter under its own name.
func TestRateNamesKeptOnce(t *testing.T) {
	s := NewSample(time.Time{}, false, State{})
	state := func(want map[string]uint64) {
		t.Helper()
		st := s.Next()
		if len(st.Counters) != len(want) {
			t.Fatalf("state %v, want %v", st.Counters, want)
		}
		for k, v := range want {
			if g, ok := st.Counters[k]; !ok || g != v {
				t.Fatalf("state %v, want %v", st.Counters, want)
			}
		}
	}
	rates(s, 1000, counter{"a", 10}, counter{"b", 20})
	wantRates(t, rates(s, 1010, counter{"a", 20}, counter{"b", 30}, counter{"c", 40}),
		map[string]float64{"a": 1, "b": 1})
	state(map[string]uint64{"a": 20, "b": 30, "c": 40})
	wantRates(t, rates(s, 1020, counter{"a", 30}, counter{"b", 40}),
		map[string]float64{"a": 1, "b": 1})
	state(map[string]uint64{"a": 30, "b": 40})
	wantRates(t, rates(s, 1030, counter{"a", 40}, counter{"x", 1}, counter{"b", 50}),
		map[string]float64{"a": 1, "b": 1})
	state(map[string]uint64{"a": 40, "x": 1, "b": 50})
	wantRates(t, rates(s, 1040, counter{"a", 50}, counter{"x", 11}, counter{"b", 60}, counter{"c", 70}),
		map[string]float64{"a": 1, "x": 1, "b": 1})
	state(map[string]uint64{"a": 50, "x": 11, "b": 60, "c": 70})
	wantRates(t, rates(s, 1050, counter{"a", 60}, counter{"x", 21}, counter{"b", 70}, counter{"c", 80}),
		map[string]float64{"a": 1, "x": 1, "b": 1, "c": 1})
}

// Counters kept at slots (a container's) rate as counters remembered by
// name do: against the previous cycle's value under the same full path,
// nothing after a cycle without them or under a new prefix, the state
// file's values after a restart; Next gives each its full path.
func TestCountersAtSlots(t *testing.T) {
	names := []string{"x", "y"}
	a, b := "c.a.", "c.b."
	ca, cb := NewCounters(names), NewCounters(names)
	// cycle reads a's slots (when pa is set) and b's x, under their
	// prefixes, all at v.
	cycle := func(s *Sample, ts int64, pa *string, v uint64) map[string]float64 {
		s.Reset(time.Unix(ts, 0))
		if pa != nil {
			s.SetPrefix(pa)
			s.CounterAt(&ca, 0, v)
			s.CounterAt(&ca, 1, v)
		}
		s.SetPrefix(&b)
		s.CounterAt(&cb, 0, v)
		s.SetPrefix(nil)
		got := map[string]float64{}
		for m := range s.All() {
			got[m.FullPath()] = m.Value()
		}
		return got
	}
	s := NewSample(time.Time{}, false, State{})
	wantRates(t, cycle(s, 1000, &a, 100), nil)
	wantRates(t, cycle(s, 1010, &a, 200), map[string]float64{"c.a.x": 10, "c.a.y": 10, "c.b.x": 10})
	st := s.Next()
	if st.Counters["c.a.x"] != 200 || st.Counters["c.a.y"] != 200 || st.Counters["c.b.x"] != 200 || len(st.Counters) != 3 {
		t.Fatalf("state %v", st.Counters)
	}
	// a's prefix a new string of the same content: the same series.
	a2 := "c." + "a."
	wantRates(t, cycle(s, 1020, &a2, 300), map[string]float64{"c.a.x": 10, "c.a.y": 10, "c.b.x": 10})
	// a not read for a cycle: its values are two cycles old, not rated.
	wantRates(t, cycle(s, 1030, nil, 400), map[string]float64{"c.b.x": 10})
	if st := s.Next(); len(st.Counters) != 1 {
		t.Fatalf("state %v", st.Counters)
	}
	wantRates(t, cycle(s, 1040, &a, 500), map[string]float64{"c.b.x": 10})
	// Renamed: a new series.
	z := "c.z."
	wantRates(t, cycle(s, 1050, &z, 600), map[string]float64{"c.b.x": 10})
	// A counter that went down was reset.
	wantRates(t, cycle(s, 1060, &z, 50), nil)

	// Restored from the state file: by full path, into new Counters.
	ca, cb = NewCounters(names), NewCounters(names)
	r := NewSample(time.Time{}, false, State{})
	r.Restore(st)
	wantRates(t, cycle(r, 1030, &a, 400), map[string]float64{"c.a.x": 10, "c.a.y": 10, "c.b.x": 10})
	// A Restore replaces what the Counters read before it (400 at 1030,
	// a rate of 0).
	r.Restore(st)
	wantRates(t, cycle(r, 1030, &a, 400), map[string]float64{"c.a.x": 10, "c.a.y": 10, "c.b.x": 10})

	// --counters: raw values, remembered for a later rate run.
	ca, cb = NewCounters(names), NewCounters(names)
	raw := NewSample(time.Time{}, true, State{})
	wantRates(t, cycle(raw, 1000, &a, 100), map[string]float64{"c.a.x": 100, "c.a.y": 100, "c.b.x": 100})
	r = NewSample(time.Time{}, false, State{})
	r.Restore(raw.Next())
	wantRates(t, cycle(r, 1010, &a, 150), map[string]float64{"c.a.x": 5, "c.a.y": 5, "c.b.x": 5})
}
