// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/cgroup"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// CgroupCompat are Diamond's cgroup v1 collectors (docs/metrics.md),
// off by default; the config keys cpuacct_cgroup and memory_cgroup (or
// --collectors) turn them on. On a cgroup v2 host they publish nothing, as
// Diamond does.
func CgroupCompat() []collect.Factory {
	return []collect.Factory{
		{Name: "cpuacct_cgroup", Default: false, New: newCpuacctCgroup, Paths: []string{
			"sys.fs.cgroup.cpuacct.<cg>.<user|system>"}},
		{Name: "memory_cgroup", Default: false, New: newMemoryCgroup, Paths: []string{
			"memory_cgroup.<cg>.<cache|rss|swap|total_cache|total_rss|total_swap>"}},
	}
}

type cgroupCompat struct {
	h      collect.Host
	buf    kernfile.Buf // one buffer for every cgroup's stat file
	ctrl   cgroup.Ctrl  // the v1 hierarchy walked
	file   string       // the stat file read in every directory
	prefix string
	keys   []string        // the keys published, in the file's order
	vals   []cgroup.Value  // their values in the file read last
	strip  bool            // drop a leading '.' of <cg> (cpuacct; harmless for memory)
	names  *collect.Unique // <cg> of each cgroup, distinct (the collision rule)
	rels   []string        // this cycle's cgroups, relative to the root
}

func newCpuacctCgroup(d collect.Deps) (collect.Collector, error) {
	return &cgroupCompat{h: d.Host, ctrl: cgroup.CPUAcct, file: "cpuacct.stat",
		prefix: "sys.fs.cgroup.cpuacct.", keys: []string{"user", "system"}, vals: make([]cgroup.Value, 2), strip: true, names: collect.NewUnique(collect.Dotted)}, nil
}

func newMemoryCgroup(d collect.Deps) (collect.Collector, error) {
	return &cgroupCompat{h: d.Host, ctrl: cgroup.Memory, file: "memory.stat",
		prefix: "memory_cgroup.", keys: []string{"cache", "rss", "swap", "total_cache", "total_rss", "total_swap"}, vals: make([]cgroup.Value, 6),
		names: collect.NewUnique(collect.Dotted)}, nil
}

// cgName is Diamond's <cg> before the naming rules: the directory relative
// to the controller root with '/' -> '.', the root itself "system". Dots
// inside a name stay (they add levels, as in Diamond: system.slice is two
// nodes). Collect passes it through the collision rule with collect.Dotted: each
// node is cleaned, so a cgroup "x;tagged=1" cannot inject a tag nor "semi;"
// break graphite-web's tag database, and two cgroups named alike ("a/b" and
// "a.b", "a;b" and "a_b") keep distinct series.
func cgName(rel string, strip bool) string {
	if rel == "." || rel == "" {
		return "system"
	}
	n := strings.ReplaceAll(rel, "/", ".")
	if strip {
		n = strings.TrimPrefix(n, ".")
	}
	return n
}

func (c *cgroupCompat) Collect(_ context.Context, s *collect.Sample) error {
	// Detected every cycle, as the hierarchies may be mounted later.
	lay, ok := cgroup.Detect(c.h.Sys)
	i := lay.Index(c.ctrl)
	if !ok || lay.V2 || i < 0 {
		return collect.ErrNoData // v2 has none of Diamond's v1 files
	}
	root := lay.Roots[i].Path
	// WalkDir is lexical: the output order is stable.
	c.rels = c.rels[:0]
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			return nil // a cgroup removed during the walk
		}
		if d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			c.rels = append(c.rels, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, rel := range c.rels {
		c.names.Want(rel, cgName(rel, c.strip), "")
	}
	c.names.Resolve()
	var firstErr error
	for _, rel := range c.rels {
		path := filepath.Join(root, rel, c.file)
		b, err := c.buf.Read(path)
		if err != nil {
			continue // a cgroup removed since the walk
		}
		name := c.prefix + c.names.Name(rel) + "."
		if err := cgroup.ParseKV(b, c.keys, c.vals); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("parse %s: %w", path, err)
		}
		// The keys' order is the kernel's order in the file, Diamond's
		// publishing order.
		for i, k := range c.keys {
			if c.vals[i].OK {
				s.GaugeInt(name+k, c.vals[i].V)
			}
		}
	}
	return firstErr
}
