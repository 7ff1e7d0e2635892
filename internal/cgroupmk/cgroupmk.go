// SPDX-License-Identifier: Apache-2.0

// Package cgroupmk makes and removes real cgroups: the same relative
// cgroup in every hierarchy mounted under a base directory (each v1
// controller, the named systemd one, and cgroup2 at the root or at
// unified/). The test helper (internal/cgrouptest) and the daemon
// benchmark (bench/daemon) both build their trees with it; the agent
// itself only reads cgroups (internal/cgroup).
package cgroupmk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Hierarchies lists the root directory of every hierarchy mounted under
// base: base itself on a pure cgroup2 host.
func Hierarchies(base string) ([]string, error) {
	if exists(filepath.Join(base, "cgroup.controllers")) {
		return []string{base}, nil
	}
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil, err
	}
	var roots []string
	for _, e := range ents {
		// cpu -> cpu,cpuacct style symlinks are a second view of one
		// hierarchy: only real directories.
		if e.Type()&os.ModeSymlink == 0 && e.IsDir() && exists(filepath.Join(base, e.Name(), "cgroup.procs")) {
			roots = append(roots, filepath.Join(base, e.Name()))
		}
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy under %s", base)
	}
	return roots, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// Mkdir creates rel, parents included, under every root. It calls before
// (when not nil) with each directory it is about to create, so a caller
// can record it first; it returns the directories it created, in creation
// order, also when it fails part way.
func Mkdir(roots []string, rel string, before func(dir string) error) (created []string, err error) {
	for _, root := range roots {
		d := root
		for _, part := range strings.Split(rel, "/") {
			parent := d
			d = filepath.Join(d, part)
			if exists(d) {
				continue
			}
			if before != nil {
				if err := before(d); err != nil {
					return created, err
				}
			}
			if err := os.Mkdir(d, 0o755); err != nil {
				return created, err
			}
			created = append(created, d)
			// cpuset takes no task before it has CPUs and memory nodes.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				if b, err := os.ReadFile(filepath.Join(parent, f)); err == nil {
					os.WriteFile(filepath.Join(d, f), b, 0o644)
				}
			}
			// cgroup2: hand the controllers down (best effort; a hybrid
			// host's unified tree has none).
			if b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers")); err == nil {
				for _, c := range strings.Fields(string(b)) {
					os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+c), 0o644)
				}
			}
		}
	}
	return created, nil
}

// Move puts pid into rel under every root.
func Move(roots []string, rel string, pid int) error {
	for _, root := range roots {
		p := filepath.Join(root, rel, "cgroup.procs")
		if err := os.WriteFile(p, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("move %d to %s: %w", pid, p, err)
		}
	}
	return nil
}

// Remove removes the cgroup directory d (gone already is fine), retrying
// for five seconds while killed tasks leave it.
func Remove(d string) error {
	var err error
	for i := 0; i < 250; i++ {
		if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("rmdir %s: %w", d, err)
}
