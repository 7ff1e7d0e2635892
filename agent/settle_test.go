// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/events"
)

// stuckNamer hangs every lookup until its gate is closed: it holds the
// containers collector past the cycle's deadline.
type stuckNamer struct{ gate chan struct{} }

func (n stuckNamer) Lookup(string) (containers.Info, bool) {
	<-n.gate
	return containers.Info{}, false
}

// The lifecycle event counts read by a containers run that misses its
// deadline are not lost with its sample: the next published cycle carries
// them, added to the events since, and the one after starts from zero.
func TestMissedDeadlineKeepsEventCounts(t *testing.T) {
	disp, err := events.New(events.Options{Host: "h", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	d := filepath.Join("..", "containers", "testdata", "v2")
	host := collect.Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: filepath.Join(d, "root")}
	a, err := New(Options{Host: host, Prefix: "p", Hostname: "h", Interval: time.Minute, Logger: quiet(),
		Factories: []collect.Factory{containers.Factory(func() (containers.Options, error) {
			return containers.Options{Events: disp, Namer: stuckNamer{gate}}, nil
		})}})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(id, action string) {
		disp.Emit(events.Event{ID: id, Runtime: "docker", Action: action, Source: events.SourceDocker})
	}
	out := &bufOutput{}

	emit("a", events.Start)
	emit("b", events.Start)
	emit("a", events.Die)
	a.Cycle(context.Background(), time.Unix(1000, 0), 1000, 50*time.Millisecond, out)
	got := out.lines()
	if got["p.h.agent.collectors.containers.success"] != "0" || got["p.h.containers.events.start"] != "" {
		close(gate)
		t.Fatalf("the run did not miss its deadline: %v", got)
	}
	close(gate)
	// A run clears busy just after handing over its result: wait for it,
	// as the next tick would (else the cycle skips the collector).
	idle := func() {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); a.runners[0].busy.Load(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("the run never returned")
			}
		}
	}
	idle()

	emit("c", events.Start)
	cycle := func(ts int64) map[string]string {
		t.Helper()
		idle()
		a.Cycle(context.Background(), time.Unix(ts, 0), ts, 10*time.Second, out)
		got := out.lines()
		if got["p.h.agent.collectors.containers.success"] != "1" {
			t.Fatalf("cycle %d failed: %v", ts, got)
		}
		return got
	}
	got = cycle(1060)
	if got["p.h.containers.events.start"] != "3" || got["p.h.containers.events.die"] != "1" {
		t.Errorf("after the missed cycle: start %q die %q, want 3 and 1 (nothing lost)",
			got["p.h.containers.events.start"], got["p.h.containers.events.die"])
	}
	got = cycle(1120)
	if got["p.h.containers.events.start"] != "0" || got["p.h.containers.events.die"] != "0" {
		t.Errorf("the cycle after: start %q die %q, want 0 (nothing twice)",
			got["p.h.containers.events.start"], got["p.h.containers.events.die"])
	}
}
