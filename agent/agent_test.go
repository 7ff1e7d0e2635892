// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collectors"
)

// funcCollector adapts a function to the Collector interface: the test
// hooks for collectors that hang, panic or count.
type funcCollector func(ctx context.Context, s *collectors.Sample) error

func (f funcCollector) Collect(ctx context.Context, s *collectors.Sample) error { return f(ctx, s) }

func factory(name string, f funcCollector) collectors.Factory {
	return collectors.Factory{Name: name, Default: true,
		New: func(collectors.Host, *slog.Logger) (collectors.Collector, error) { return f, nil }}
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
		Factories: []collectors.Factory{
			factory("good", func(_ context.Context, s *collectors.Sample) error { s.Gauge("good.value", 7); return nil }),
			factory("hang", func(context.Context, *collectors.Sample) error { <-release; return nil }),
			factory("boom", func(context.Context, *collectors.Sample) error { panic("parser bug") }),
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

// Two one-shot runs sharing a state file publish exactly the rate one
// daemon would: Δcounter / Δtimestamp; the first run publishes no rate.
func TestStateFileRatesAcrossRuns(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	value := uint64(1000)
	counter := factory("c", func(_ context.Context, s *collectors.Sample) error {
		s.Counter("c.count", value)
		return nil
	})
	runOnce := func(ts int64) map[string]string {
		a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, StateFile: state,
			Logger: quiet(), Factories: []collectors.Factory{counter}})
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
