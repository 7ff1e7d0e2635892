// SPDX-License-Identifier: Apache-2.0

// Package cgroup knows where the host's cgroup hierarchies are mounted and
// which controller each one serves. It is detected from the tree under
// <sysfs>/fs/cgroup, never from the machine the agent runs on:
//
//   - a pure cgroup v2 host (Flatcar, current distros) has cgroup.controllers
//     at the root: one hierarchy with every file;
//   - a legacy or hybrid host has one directory per v1 controller (cpu and
//     cpuacct either separate or joined as "cpu,cpuacct"), and a hybrid one a
//     cgroup2 tree at unified/ with no controller bound. Every cgroup of that
//     tree still has cpu.pressure, memory.pressure and io.pressure (the
//     kernel tracks pressure stalls per cgroup2 group whatever the
//     controllers), so it is walked for pressure.
package cgroup

import (
	"os"
	"path/filepath"
	"syscall"
)

// Ctrl is a set of controllers (or roles) a hierarchy serves.
type Ctrl uint8

const (
	CPUAcct Ctrl = 1 << iota
	CPU
	Memory
	Blkio
	Pids
	// Unified is the cgroup2 tree: every file on a v2 host; on a hybrid
	// host only the pressure files (and a usage-only cpu.stat).
	Unified
)

// Root is one mounted hierarchy and what it serves.
type Root struct {
	Path  string
	Ctrls Ctrl
}

// Layout is the set of distinct hierarchies (a mount reached through two
// names, like cpu and cpuacct -> cpu,cpuacct, is listed once with both
// controllers).
type Layout struct {
	V2    bool // one cgroup2 hierarchy with every controller
	Roots []Root
}

// Index is the position in Roots of the hierarchy serving c, or -1.
func (l *Layout) Index(c Ctrl) int {
	for i, r := range l.Roots {
		if r.Ctrls&c != 0 {
			return i
		}
	}
	return -1
}

// Detect reads the layout under <sysfs>/fs/cgroup; ok is false when no
// hierarchy is mounted there.
func Detect(sysfs string) (l Layout, ok bool) {
	root := filepath.Join(sysfs, "fs", "cgroup")
	if exists(filepath.Join(root, "cgroup.controllers")) {
		return Layout{V2: true, Roots: []Root{{Path: root, Ctrls: CPUAcct | CPU | Memory | Blkio | Pids | Unified}}}, true
	}
	type devIno struct{ dev, ino uint64 }
	index := map[devIno]int{}
	// A hierarchy is known by one of files at its root (memory.stat alone
	// serves Diamond's memory_cgroup, which reads nothing else).
	add := func(c Ctrl, files []string, dirs ...string) {
		for _, d := range dirs {
			p := filepath.Join(root, d)
			if !anyExists(p, files) {
				continue
			}
			var st syscall.Stat_t
			if syscall.Stat(p, &st) != nil {
				continue
			}
			k := devIno{uint64(st.Dev), st.Ino}
			if i, ok := index[k]; ok {
				l.Roots[i].Ctrls |= c
				return
			}
			index[k] = len(l.Roots)
			l.Roots = append(l.Roots, Root{Path: p, Ctrls: c})
			return
		}
	}
	// Memory first: discovery walks in this order.
	add(Memory, []string{"memory.usage_in_bytes", "memory.stat"}, "memory")
	add(CPUAcct, []string{"cpuacct.usage", "cpuacct.stat"}, "cpuacct", "cpu,cpuacct", "cpuacct,cpu")
	add(CPU, []string{"cpu.shares"}, "cpu", "cpu,cpuacct", "cpuacct,cpu")
	add(Blkio, []string{"cgroup.procs"}, "blkio")
	add(Pids, []string{"cgroup.procs"}, "pids")
	v1 := len(l.Roots) > 0
	add(Unified, []string{"cgroup.controllers"}, "unified")
	switch {
	case v1:
		return l, true
	case len(l.Roots) == 1:
		// Only a cgroup2 tree below unified/: read it as a v2 host.
		l.V2, l.Roots[0].Ctrls = true, CPUAcct|CPU|Memory|Blkio|Pids|Unified
		return l, true
	}
	return Layout{}, false
}

func anyExists(dir string, files []string) bool {
	for _, f := range files {
		if exists(filepath.Join(dir, f)) {
			return true
		}
	}
	return false
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
