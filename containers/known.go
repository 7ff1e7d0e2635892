// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"context"
	"maps"
	"sync"
)

// Running is a container the collector published in its latest cycle:
// what the services collector needs to look inside it.
type Running struct {
	ID, Name, Image string
	// Node is the container's path node in containers.<node>: its name
	// sanitised and unique among the containers (collect.Unique); a
	// collector publishing below it must use it, not its own of Name.
	Node   string
	Labels map[string]string
	// Tags is the container's tagged-series suffix (";container=..;host=.."
	// sorted by tag name), "" when tagged series are off.
	Tags string
	// CgroupDir is the container's cgroup directory: its cgroup.procs and
	// those below it list the container's processes.
	CgroupDir string
	Pid       int // one host pid of the container, 0 if not known yet
}

// Known is the list of the latest cycle, shared with other collectors.
// Options.Known set: the collector replaces the list after every cycle.
type Known struct {
	mu    sync.Mutex
	list  []Running
	ready chan struct{}
	once  sync.Once
}

// NewKnown returns an empty list; Wait blocks until a first cycle set it.
func NewKnown() *Known { return &Known{ready: make(chan struct{})} }

// Running returns the containers of the latest cycle (not to be modified).
func (k *Known) Running() []Running {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.list
}

// Wait returns when a first list exists or ctx ends.
func (k *Known) Wait(ctx context.Context) {
	select {
	case <-k.ready:
	case <-ctx.Done():
	}
}

func (k *Known) set(list []Running) {
	k.mu.Lock()
	k.list = list
	k.mu.Unlock()
	k.once.Do(func() { close(k.ready) })
}

// publishKnown hands the published containers to Options.Known. The list
// of the cycle before when nothing in it changed (readers compare it
// without building anything: the services collector), else a new slice:
// readers keep theirs without locking.
func (c *collector) publishKnown(live []*container) {
	if c.opts.Known == nil {
		return
	}
	prev := c.opts.Known.Running()
	var list []Running
	for i, ct := range live {
		r := Running{ID: ct.id, Name: ct.rawName, Node: ct.node, Tags: ct.tagSuffix, CgroupDir: ct.f.procsDir, Pid: ct.pid}
		if info, ok := c.infoOf(ct); ok {
			r.Image, r.Labels = info.Image, info.Labels
		}
		if list == nil {
			if i < len(prev) && sameRunning(&prev[i], &r) {
				continue
			}
			list = append(make([]Running, 0, len(live)), prev[:i]...)
		}
		list = append(list, r)
	}
	if list == nil {
		if len(prev) == len(live) && prev != nil {
			return // the same list
		}
		list = append(make([]Running, 0, len(live)), prev[:len(live)]...)
	}
	c.opts.Known.set(list)
}

// sameRunning tells whether a and b say the same (every field of Running).
func sameRunning(a, b *Running) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Image == b.Image && a.Node == b.Node &&
		a.Tags == b.Tags && a.CgroupDir == b.CgroupDir && a.Pid == b.Pid && maps.Equal(a.Labels, b.Labels)
}
