// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/collectors"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/services"
)

// closer is a collector holding a resource; hang makes its runs block
// until released.
type closer struct {
	closed atomic.Int32
	hang   chan struct{}
}

func (c *closer) Collect(context.Context, *collect.Sample) error {
	if c.hang != nil {
		<-c.hang
	}
	return nil
}

func (c *closer) Close() error { c.closed.Add(1); return nil }

func closerFactory(name string, c *closer) collect.Factory {
	return collect.Factory{Name: name, Default: true,
		New: func(collect.Deps) (collect.Collector, error) { return c, nil }}
}

// Close closes every collector that holds something, once; one still
// running (hung past its deadline) is left alone, as closing its
// descriptors under it would redirect its reads.
func TestCloseReleasesCollectors(t *testing.T) {
	idle, hung := &closer{}, &closer{hang: make(chan struct{})}
	defer close(hung.hang)
	a, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, Logger: quiet(),
		Factories: []collect.Factory{closerFactory("idle", idle), closerFactory("hung", hung), factory("plain", func(context.Context, *collect.Sample) error { return nil })}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	a.Cycle(context.Background(), t0, t0.Unix(), 50*time.Millisecond, &bufOutput{})
	a.Close()
	a.Close()
	if n := idle.closed.Load(); n != 1 {
		t.Errorf("idle collector closed %d times, want 1", n)
	}
	if n := hung.closed.Load(); n != 0 {
		t.Errorf("hung collector closed %d times while running, want 0", n)
	}
}

// A collector that cannot be built fails New, and what was built before it
// is closed: a failed start leaves nothing open.
func TestNewFailureClosesBuiltCollectors(t *testing.T) {
	built := &closer{}
	bad := collect.Factory{Name: "bad", New: func(collect.Deps) (collect.Collector, error) {
		return nil, errors.New("no such thing")
	}}
	if _, err := New(Options{Prefix: "p", Hostname: "h", Interval: time.Minute, Logger: quiet(),
		Factories: []collect.Factory{closerFactory("built", built), bad}}); err == nil {
		t.Fatal("New succeeded with a collector that cannot be built")
	}
	if n := built.closed.Load(); n != 1 {
		t.Errorf("built collector closed %d times after New failed, want 1", n)
	}
}

// An agent with every host collector, the containers and the services
// collectors, run
// against this machine's real /proc, /sys and cgroups and closed, leaves
// no descriptor open: the kept-open host files, the containers' cgroup
// files and inotify descriptor, the services' process-events socket are
// all released (the e2e tests run many
// agents in one process).
func TestCloseLeavesNoDescriptors(t *testing.T) {
	count := func() int {
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(fds)
	}
	before := count()
	factories := append(collectors.Registry(nil), containers.Factory(func() (containers.Options, error) {
		return containers.Options{}, nil
	}), services.Factory(func() services.Options { return services.Options{} }))
	a, err := New(Options{Host: collect.DefaultHost(), Factories: factories, Prefix: "p", Hostname: "h",
		Interval: time.Minute, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	for i := range 2 {
		a.Cycle(context.Background(), t0.Add(time.Duration(i)*time.Minute), t0.Unix(), 30*time.Second, &bufOutput{})
	}
	during := count()
	a.Close()
	if after := count(); after != before {
		t.Errorf("%d descriptors open before the agent, %d while it ran, %d after Close", before, during, after)
	}
	if during <= before+10 {
		t.Errorf("only %d descriptors kept open while running (before %d): the test no longer sees kept-open files", during, before)
	}
}
