// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"context"
	"time"
)

// Ref identifies a container to a Resolver.
type Ref struct {
	// Runtime is what the cgroup name says: docker, containerd,
	// kubernetes (the cgroupfs kubepods shape: containerd, CRI-O or
	// Docker), cri-o, podman, nerdctl or nspawn.
	Runtime string
	ID      string // 64-hex id, or the machine name
	PodUID  string // Kubernetes pod uid from the cgroup path, "" if none
	Pid     int    // a host pid of the container, 0 if unknown
}

// Resolver reads what a runtime's own state says about a container. It
// may be slow (it reads files): the collector asks it once per container,
// on its own goroutine.
type Resolver interface {
	Resolve(ref Ref) (Info, bool)
}

// resolveWait bounds how long a cycle waits for the names of containers
// that just appeared: a slow or hung state file costs a cycle this much
// once, and the names then arrive in a later cycle.
const resolveWait = 500 * time.Millisecond

// queue asks the Resolver about a container that appeared, unless the
// Namer (a live runtime API) knows it already.
func (c *collector) queue(ct *container) {
	if c.opts.Resolver == nil {
		return
	}
	if c.opts.Namer != nil {
		if _, ok := c.opts.Namer.Lookup(ct.id); ok {
			return
		}
	}
	c.ask = append(c.ask, Ref{Runtime: ct.runtime, ID: ct.id, PodUID: ct.pod, Pid: c.cgroupPid(ct)})
	c.askKeys = append(c.askKeys, ct.key)
}

// resolve starts a goroutine for the queued containers (one batch at a
// time: a hung read holds up only the names behind it), waits for a batch
// it started at most resolveWait, and hands the answers that arrived to
// their containers.
func (c *collector) resolve(ctx context.Context) {
	if c.opts.Resolver == nil {
		return
	}
	if c.busy != nil {
		select {
		case <-c.busy:
			c.busy = nil
		default:
		}
	}
	started := false
	if c.busy == nil && len(c.ask) > 0 {
		started = true
		refs, keys := c.ask, c.askKeys
		c.ask, c.askKeys = nil, nil
		done := make(chan struct{})
		c.busy = done
		r := c.opts.Resolver
		go func() {
			defer close(done)
			for i, ref := range refs {
				// nil: not known. A pointer, so that the map of the
				// first cycle's answers is not every container's Info
				// (0.5 MB of garbage at the start with 1000 containers).
				var p *Info
				if info, ok := r.Resolve(ref); ok {
					p = &info
				}
				c.mu.Lock()
				c.answers[keys[i]] = p
				c.mu.Unlock()
			}
		}()
	}
	if started {
		// Only for a batch started now: a batch still hung from an
		// earlier cycle does not cost every cycle the wait again.
		wait := resolveWait
		if dl, ok := ctx.Deadline(); ok {
			// A short interval: a quarter of what is left of the cycle.
			wait = min(wait, time.Until(dl)/4)
		}
		t := time.NewTimer(wait)
		select {
		case <-c.busy:
			c.busy = nil
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	c.mu.Lock()
	answers := c.answers
	if len(answers) == 0 {
		c.mu.Unlock()
		return
	}
	// A new map rather than deleting: a Go map never shrinks, and the
	// answers of the first cycle (every container) would keep their
	// buckets for good.
	c.answers = map[string]*Info{}
	c.mu.Unlock()
	for k, info := range answers {
		if ct, ok := c.byKey[k]; ok {
			ct.info = info
		}
	}
}

// forget drops what is pending for a container that went.
func (c *collector) forget(key string) {
	c.mu.Lock()
	delete(c.answers, key)
	c.mu.Unlock()
}

// KubernetesName is a Kubernetes container's name on every runtime:
// namespace/pod/container, as kubectl shows them.
func KubernetesName(namespace, pod, container string) string {
	return namespace + "/" + pod + "/" + container
}

// KubeletLabels completes info from the labels the kubelet (dockershim,
// cri-dockerd) puts on a Docker container: pod, namespace, the
// namespace/pod/container name, and whether it is the pod's sandbox.
func KubeletLabels(info *Info) {
	l := info.Labels
	info.Pod, info.Namespace = l["io.kubernetes.pod.name"], l["io.kubernetes.pod.namespace"]
	info.Sandbox = l["io.kubernetes.docker.type"] == "podsandbox"
	if c := l["io.kubernetes.container.name"]; info.Pod != "" && c != "" {
		info.Name = KubernetesName(info.Namespace, info.Pod, c)
	}
}
