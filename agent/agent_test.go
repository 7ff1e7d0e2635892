// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// funcCollector adapts a function to the Collector interface: the test
// hooks for collectors that hang, panic or count.
type funcCollector func(ctx context.Context, s *collect.Sample) error

func (f funcCollector) Collect(ctx context.Context, s *collect.Sample) error { return f(ctx, s) }

func factory(name string, f funcCollector) collect.Factory {
	return collect.Factory{Name: name, Default: true,
		New: func(collect.Deps) (collect.Collector, error) { return f, nil }}
}

type bufOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *bufOutput) Enqueue(b []byte, _ int) { o.mu.Lock(); o.b.Write(b); o.mu.Unlock() }

func (o *bufOutput) lines() map[string]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(o.b.String()), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 {
			m[f[0]] = f[1]
		}
	}
	o.b.Reset()
	return m
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestNextTickAligned(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 37, 5e8, time.UTC)
	if got := NextTick(now, time.Minute); !got.Equal(time.Date(2026, 11, 23, 10, 1, 0, 0, time.UTC)) {
		t.Errorf("NextTick = %v", got)
	}
	if got := NextTick(now, 10*time.Second); !got.Equal(time.Date(2026, 11, 23, 10, 0, 40, 0, time.UTC)) {
		t.Errorf("NextTick = %v", got)
	}
}

func TestPathPrefixSanitisesEachNode(t *testing.T) {
	for _, tc := range []struct{ prefix, host, want string }{
		{"servers", "web1", "servers.web1."},
		{"servers", "web1.example.com", "servers.web1_example_com."},
		{"dc1.servers", "my host", "dc1.servers.my_host."},
		{"", "h", "h."},
	} {
		if got := PathPrefix(tc.prefix, tc.host); got != tc.want {
			t.Errorf("PathPrefix(%q, %q) = %q, want %q", tc.prefix, tc.host, got, tc.want)
		}
	}
}

// A collector that hangs and one that panics must not stop the others: the
// cycle returns at its deadline, the two are reported failed, and the hung
// one is skipped (not stacked) while it is still running.
func TestCycleIsolatesHangAndPanic(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a, err := New(Options{
		Prefix: "servers", Hostname: "h", Interval: time.Second, Logger: quiet(),
		Factories: []collect.Factory{
			factory("good", func(_ context.Context, s *collect.Sample) error { s.Gauge("good.value", 7); return nil }),
			factory("hang", func(context.Context, *collect.Sample) error { <-release; return nil }),
			factory("boom", func(context.Context, *collect.Sample) error { panic("parser bug") }),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := &bufOutput{}
	for cycle := 0; cycle < 2; cycle++ {
		a.Cycle(context.Background(), time.Now(), 100, 200*time.Millisecond, out)
		got := out.lines()
		want := map[string]string{
			"servers.h.good.value":                    "7",
			"servers.h.agent.collectors.good.success": "1",
			"servers.h.agent.collectors.hang.success": "0",
			"servers.h.agent.collectors.boom.success": "0",
			"servers.h.agent.collectors.hang.skipped": []string{"0", "1"}[cycle],
			"servers.h.agent.collectors.good.skipped": "0",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("cycle %d: %s = %q, want %q", cycle, k, got[k], v)
			}
		}
	}
}

// gaugeAgent is an agent (prefix p.h) of the collectors first, then n
// more named by the format name, each publishing v = 1.
func gaugeAgent(t *testing.T, first []collect.Factory, name string, n int) *Agent {
	t.Helper()
	fs := first
	for i := 0; i < n; i++ {
		fs = append(fs, factory(fmt.Sprintf(name, i), func(_ context.Context, s *collect.Sample) error {
			s.Gauge("v", 1)
			return nil
		}))
	}
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Second, Logger: quiet(), Factories: fs})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// Collectors run one after the other on one worker: two hung collectors
// ahead of the others must not hold them up until the deadline (each
// stuck worker is relieved by another after an overrun), and the ones
// behind return in time, in every cycle, while the hung ones are skipped.
func TestCycleHungCollectorsFirstDoNotHoldUpTheRest(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hang := func(context.Context, *collect.Sample) error { <-release; return nil }
	a := gaugeAgent(t, []collect.Factory{factory("hang1", hang), factory("hang2", hang)}, "c%d", 5)
	out := &bufOutput{}
	for cycle := 0; cycle < 3; cycle++ {
		a.Cycle(context.Background(), time.Now(), int64(cycle), 500*time.Millisecond, out)
		got := out.lines()
		for _, h := range []string{"hang1", "hang2"} {
			if got["p.h.agent.collectors."+h+".success"] != "0" {
				t.Errorf("cycle %d: %s not reported failed: %v", cycle, h, got)
			}
		}
		for i := 0; i < 5; i++ {
			if s := got[fmt.Sprintf("p.h.agent.collectors.c%d.success", i)]; s != "1" {
				t.Errorf("cycle %d: c%d success %q, want 1", cycle, i, s)
			}
		}
	}
}

// Two one-shot runs sharing a state file publish exactly the rate one
// daemon would: Δcounter / Δtimestamp; the first run publishes no rate.
func TestStateFileRatesAcrossRuns(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	value := uint64(1000)
	counter := factory("c", func(_ context.Context, s *collect.Sample) error {
		s.Counter("c.count", value)
		return nil
	})
	runOnce := func(ts int64) map[string]string {
		a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, StateFile: state,
			Logger: quiet(), Factories: []collect.Factory{counter}})
		if err != nil {
			t.Fatal(err)
		}
		out := &bufOutput{}
		a.Cycle(context.Background(), time.Unix(ts, 0), ts, time.Second, out)
		return out.lines()
	}
	if got := runOnce(1000); got["p.h.c.count"] != "" {
		t.Fatalf("first run published a rate: %q", got["p.h.c.count"])
	}
	value = 1600
	if got := runOnce(1060); got["p.h.c.count"] != "10" {
		t.Fatalf("second run rate = %q, want 10 (600 over 60 s)", got["p.h.c.count"])
	}
	value = 100 // a reset: no value this cycle
	if got := runOnce(1120); got["p.h.c.count"] != "" {
		t.Fatalf("reset published %q", got["p.h.c.count"])
	}
	value = 400
	if got := runOnce(1150); got["p.h.c.count"] != "10" {
		t.Fatalf("after reset rate = %q, want 10", got["p.h.c.count"])
	}
}

func TestWatchdogFiresOnlyWhenBeatsStop(t *testing.T) {
	w := NewWatchdog(80 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fired := make(chan time.Duration, 1)
	go w.Run(ctx, func(since time.Duration) { fired <- since })
	for i := 0; i < 10; i++ { // beating: never fires
		w.Beat()
		time.Sleep(20 * time.Millisecond)
		select {
		case <-fired:
			t.Fatal("fired while beating")
		default:
		}
	}
	select { // beats stop: fires
	case since := <-fired:
		if since < 80*time.Millisecond {
			t.Fatalf("fired after %v", since)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watchdog never fired")
	}
}

// A slow collector first in registry order uses up the budget; every
// collector after it returned long before and must be reported on what it
// returned, every cycle (a select over a ready result and an expired
// deadline picks at random: about half were reported failed).
func TestCycleSlowCollectorDoesNotFailTheOthers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	fs := []collect.Factory{factory("slow", func(context.Context, *collect.Sample) error {
		select {
		case <-release:
		case <-time.After(150 * time.Millisecond):
		}
		return nil
	})}
	a := gaugeAgent(t, fs, "c%02d", 20)
	out := &bufOutput{}
	for cycle := 0; cycle < 10; cycle++ {
		for a.runners[0].busy.Load() { // the slow one returns before its next start
			time.Sleep(10 * time.Millisecond)
		}
		a.Cycle(context.Background(), time.Now(), int64(cycle), 50*time.Millisecond, out)
		got := out.lines()
		if got["p.h.agent.collectors.slow.success"] != "0" {
			t.Errorf("cycle %d: the slow collector was not reported failed", cycle)
		}
		for i := 0; i < 20; i++ {
			if s := got[fmt.Sprintf("p.h.agent.collectors.c%02d.success", i)]; s != "1" {
				t.Errorf("cycle %d: c%02d success %q, want 1", cycle, i, s)
			}
		}
	}
}

// SIGTERM (ctx ends) in the middle of a cycle: a collector that returns
// within the grace is reported as usual, one that does not is left out of
// the batch; neither is reported failed.
func TestCycleStoppingReportsNoFalseFailure(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Second, Logger: quiet(),
		Factories: []collect.Factory{
			factory("hang", func(context.Context, *collect.Sample) error { <-release; return nil }),
			factory("late", func(_ context.Context, s *collect.Sample) error {
				time.Sleep(100 * time.Millisecond)
				s.Gauge("late.v", 2)
				return nil
			}),
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	out := &bufOutput{}
	start := time.Now()
	a.Cycle(ctx, time.Now(), 1, 10*time.Second, out)
	if d := time.Since(start); d > 2*shutdownGrace {
		t.Errorf("a stopping cycle took %v", d)
	}
	got := out.lines()
	if got["p.h.agent.collectors.late.success"] != "1" || got["p.h.late.v"] != "2" {
		t.Errorf("the collector that returned during the grace: %v", got)
	}
	if v, ok := got["p.h.agent.collectors.hang.success"]; ok {
		t.Errorf("the collector still running at shutdown reported success %s", v)
	}
}

// takeOutput keeps the buffers it is handed (a Taker, as carbon.Sender)
// and the line count given with each.
type takeOutput struct {
	bufs  [][]byte
	lines []int
}

func (o *takeOutput) Enqueue(b []byte, n int) { o.Take(append([]byte(nil), b...), n) }
func (o *takeOutput) Take(b []byte, n int)    { o.bufs, o.lines = append(o.bufs, b), append(o.lines, n) }

// An Output that takes the cycle's buffer owns it: a later cycle writes
// its lines elsewhere and the lines taken stay as they were.
func TestCycleHandsItsBufferToATaker(t *testing.T) {
	v := 1.0
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, Logger: quiet(),
		Factories: []collect.Factory{
			factory("g", func(_ context.Context, s *collect.Sample) error { s.Gauge("g.value", v); return nil }),
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	out := &takeOutput{}
	a.Cycle(context.Background(), time.Now(), 100, time.Second, out)
	first := string(out.bufs[0])
	v = 2
	a.Cycle(context.Background(), time.Now(), 101, time.Second, out)
	if len(out.bufs) != 2 {
		t.Fatalf("%d buffers taken, want 2", len(out.bufs))
	}
	if string(out.bufs[0]) != first {
		t.Errorf("the first cycle's lines changed after the second cycle:\n%s\nwas\n%s", out.bufs[0], first)
	}
	if !strings.Contains(first, "p.h.g.value 1 100\n") || !strings.Contains(string(out.bufs[1]), "p.h.g.value 2 101\n") {
		t.Errorf("lines taken:\n%s\n%s", out.bufs[0], out.bufs[1])
	}
}

// bigCycleAgent is an agent whose one collector publishes n gauges each
// cycle (a big cycle's lines), closed at the end of the test.
func bigCycleAgent(t *testing.T, n int) *Agent {
	t.Helper()
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, Logger: quiet(),
		Factories: []collect.Factory{
			factory("g", func(_ context.Context, s *collect.Sample) error {
				for i := range n {
					s.Gauge(fmt.Sprintf("g.series_%05d", i), float64(i)+0.5)
				}
				return nil
			}),
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// A Taker is handed a big cycle in buffers of at most chunkBytes, each of
// whole lines counted right, which together are the cycle's lines in order.
func TestCycleHandsATakerWholeLinesInChunks(t *testing.T) {
	const n = 10000 // ~300 KB of lines
	a := bigCycleAgent(t, n)
	out := &takeOutput{}
	lines := a.Cycle(context.Background(), time.Now(), 100, time.Second, out)
	if len(out.bufs) < 3 {
		t.Fatalf("%d buffers for %d lines, want them in pieces of %d bytes", len(out.bufs), lines, chunkBytes)
	}
	var all []byte
	total := 0
	for i, b := range out.bufs {
		if len(b) > chunkBytes || len(b) == 0 || b[len(b)-1] != '\n' {
			t.Errorf("buffer %d: %d bytes, ends %q", i, len(b), b[max(0, len(b)-10):])
		}
		if c := bytes.Count(b, []byte{'\n'}); c != out.lines[i] {
			t.Errorf("buffer %d: %d lines, handed as %d", i, c, out.lines[i])
		}
		total += out.lines[i]
		all = append(all, b...)
	}
	if total != lines {
		t.Errorf("%d lines handed over, the cycle reports %d", total, lines)
	}
	got := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	for i := range n {
		if want := fmt.Sprintf("p.h.g.series_%05d %d.5 100", i, i); got[i] != want {
			t.Fatalf("line %d = %q, want %q", i, got[i], want)
		}
	}
}

// A cycle that fits in one buffer is handed one of about its size (the
// host alone), not of chunkBytes, from the second cycle on.
func TestCycleSmallBufferForASmallCycle(t *testing.T) {
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, Logger: quiet(),
		Factories: []collect.Factory{
			factory("g", func(_ context.Context, s *collect.Sample) error { s.Gauge("g.value", 1); return nil }),
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	out := &takeOutput{}
	for i := range 2 {
		a.Cycle(context.Background(), time.Now(), int64(100+i), time.Second, out)
	}
	if len(out.bufs) != 2 {
		t.Fatalf("%d buffers, want 2", len(out.bufs))
	}
	if n, c := len(out.bufs[1]), cap(out.bufs[1]); c > 2*n+lineRoom {
		t.Errorf("second cycle: %d bytes of lines in a buffer of %d", n, c)
	}
}

// recycleOutput is a takeOutput that gives back (Recycler) buffers that
// held other lines.
type recycleOutput struct {
	takeOutput
	spare [][]byte
}

func (o *recycleOutput) Buf(size int) []byte {
	if len(o.spare) == 0 || cap(o.spare[0]) < size {
		return nil
	}
	b := o.spare[0][:0]
	o.spare = o.spare[1:]
	return b
}

// A Recycler's buffers are formatted into from their start: the lines
// handed over are the cycle's, in the buffers it gave.
func TestCycleFormatsIntoARecyclersBuffers(t *testing.T) {
	const n = 10000 // ~300 KB of lines
	a := bigCycleAgent(t, n)
	plain := &takeOutput{}
	a.Cycle(context.Background(), time.Now(), 100, time.Second, plain)
	out := &recycleOutput{}
	for range 2 {
		out.spare = append(out.spare, bytes.Repeat([]byte("junk\n"), chunkBytes/5+1))
	}
	given := [][]byte{out.spare[0], out.spare[1]}
	a.Cycle(context.Background(), time.Now(), 100, time.Second, out)
	if len(out.bufs) < 3 || &out.bufs[0][0] != &given[0][0] || &out.bufs[1][0] != &given[1][0] {
		t.Fatalf("%d buffers, the first two not the Recycler's", len(out.bufs))
	}
	// The same lines but the agent's own (durations, tick lag).
	series := func(bufs [][]byte) string {
		var keep []string
		for _, l := range strings.Split(string(bytes.Join(bufs, nil)), "\n") {
			if !strings.HasPrefix(l, "p.h.agent.") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if got, want := series(out.bufs), series(plain.bufs); got != want || !strings.Contains(got, "p.h.g.series_09999 9999.5 100\n") {
		t.Errorf("lines in recycled buffers differ from the same cycle's in new ones")
	}
}

// paceOutput is a takeOutput that paces the agent (Pacer): it records how
// many buffers it had been handed at each Pace, and holds until the stop
// it is given closes.
type paceOutput struct {
	takeOutput
	at      []int
	stopped int // Pace calls that returned on a closed stop
}

func (o *paceOutput) Pace(stop <-chan struct{}) {
	o.at = append(o.at, len(o.bufs))
	<-stop
	o.stopped++
}

// A Pacer is asked after each buffer handed over (not before the first,
// nor after the last), and its hold ends with the collectors' deadline:
// a Carbon that never catches up does not hold the cycle past it, and
// every line is still handed over.
func TestCyclePacedAfterEachBuffer(t *testing.T) {
	const n = 10000 // ~300 KB of lines
	a := bigCycleAgent(t, n)
	out := &paceOutput{}
	lines := a.Cycle(context.Background(), time.Now(), 100, 200*time.Millisecond, out)
	if len(out.bufs) < 3 {
		t.Fatalf("%d buffers, want several", len(out.bufs))
	}
	if len(out.at) != len(out.bufs)-1 || out.stopped != len(out.at) {
		t.Fatalf("Pace called %d times (%d ended by stop) for %d buffers, want once between two", len(out.at), out.stopped, len(out.bufs))
	}
	for i, k := range out.at {
		if k != i+1 {
			t.Fatalf("Pace call %d after %d buffers, want %d", i, k, i+1)
		}
	}
	total := 0
	for _, c := range out.lines {
		total += c
	}
	if total != lines || lines < n {
		t.Fatalf("%d lines handed over, the cycle reports %d, want %d and more", total, lines, n)
	}
}

// SIGTERM (the agent's context) ends a hold too.
func TestCyclePaceEndsOnStop(t *testing.T) {
	a := bigCycleAgent(t, 10000)
	ctx, cancel := context.WithCancel(context.Background())
	out := &paceOutput{}
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	a.Cycle(ctx, time.Now(), 100, time.Hour, out)
	if len(out.at) == 0 || out.stopped != len(out.at) {
		t.Fatalf("Pace called %d times, %d ended", len(out.at), out.stopped)
	}
}

// A cycle that ends after the next tick (here the heartbeat after it
// stalls for two and a half intervals) makes Run skip those ticks: they
// are counted in agent.ticks_skipped from the next cycle on (no such line
// before) and logged once, then logged again when ticks are on time.
func TestRunCountsSkippedTicks(t *testing.T) {
	logs := &syncbuf.Buffer{}
	const iv = 200 * time.Millisecond
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: iv, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Factories: []collect.Factory{factory("g", func(_ context.Context, s *collect.Sample) error { s.Gauge("v", 1); return nil })}})
	if err != nil {
		t.Fatal(err)
	}
	out := &bufOutput{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	beats := make(chan map[string]string, 16)
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx, out, func() {
			n++
			beats <- out.lines()
			if n == 2 {
				time.Sleep(iv * 5 / 2)
			}
		})
	}()
	defer func() { cancel(); <-done }()
	for i := 1; i <= 5; i++ {
		var got map[string]string
		select {
		case got = <-beats:
		case <-time.After(5 * time.Second):
			t.Fatalf("no cycle %d after 5 s", i)
		}
		v, ok := got["p.h.agent.ticks_skipped"]
		switch {
		case i <= 2 && ok:
			t.Errorf("cycle %d, before the stall: agent.ticks_skipped %s, want no line", i, v)
		case i > 2 && (v != "2" && v != "3"):
			t.Errorf("cycle %d, after a stall of 2.5 intervals: agent.ticks_skipped %q, want 2 (3 on a slow machine)", i, v)
		}
	}
	cancel()
	<-done
	l := logs.String()
	if strings.Count(l, "ticks skipped") != 1 || !strings.Contains(l, "ticks on time again") {
		t.Errorf("log: want one skipped-ticks warning and one line when on time again:\n%s", l)
	}
}
