// SPDX-License-Identifier: Apache-2.0

// Package cgrouptest makes real cgroups for tests (we run them as root):
// the same relative cgroup in every hierarchy mounted under /sys/fs/cgroup
// (each v1 controller, the named systemd one, and cgroup2 at the root or
// at unified/), real processes moved into them, and everything removed in
// t.Cleanup: processes killed first, then the directories the test made,
// leaves first.
package cgrouptest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tree is the set of test cgroups of one test.
type Tree struct {
	t       testing.TB
	Roots   []string // the hierarchies' root directories
	created []string // absolute dirs, in creation order
	procs   []*exec.Cmd
	pipes   []*os.File // the processes' stdin: held open until cleanup
}

// New finds the hierarchies. Not being root, or no hierarchy, fails the
// test: a test that needs real cgroups never passes without them.
func New(t testing.TB) *Tree {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes real cgroups: run it as root")
	}
	base := "/sys/fs/cgroup"
	r := &Tree{t: t}
	if exists(filepath.Join(base, "cgroup.controllers")) {
		r.Roots = []string{base}
	} else {
		ents, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			// cpu -> cpu,cpuacct style symlinks are a second view of one
			// hierarchy: only real directories.
			if e.Type()&os.ModeSymlink == 0 && e.IsDir() && exists(filepath.Join(base, e.Name(), "cgroup.procs")) {
				r.Roots = append(r.Roots, filepath.Join(base, e.Name()))
			}
		}
	}
	if len(r.Roots) == 0 {
		t.Fatal("no cgroup hierarchy under /sys/fs/cgroup")
	}
	t.Cleanup(r.cleanup)
	return r
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// ID is a 64-hex container id starting with 0badc0de, recognisable in a
// cgroup listing if a run is interrupted before its cleanup.
func ID(t testing.TB) string {
	b := make([]byte, 28)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "0badc0de" + hex.EncodeToString(b)
}

// Mkdir creates rel in every hierarchy, parents included.
func (r *Tree) Mkdir(rel string) {
	r.t.Helper()
	for _, root := range r.Roots {
		d := root
		for _, part := range strings.Split(rel, "/") {
			parent := d
			d = filepath.Join(d, part)
			if exists(d) {
				continue
			}
			if err := os.Mkdir(d, 0o755); err != nil {
				r.t.Fatalf("mkdir %s: %v", d, err)
			}
			r.created = append(r.created, d)
			// cpuset needs CPUs and memory nodes before it takes a task.
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
}

// Set writes value to the first of files that exists in each hierarchy's
// rel; it reports whether any was written.
func (r *Tree) Set(rel string, value string, files ...string) bool {
	r.t.Helper()
	done := false
	for _, root := range r.Roots {
		for _, f := range files {
			p := filepath.Join(root, rel, f)
			if !exists(p) {
				continue
			}
			if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
				r.t.Fatalf("%s: %v", p, err)
			}
			done = true
			break
		}
	}
	return done
}

// Start runs cmd in its own process group (its children die with it) and,
// when rel is not "", moves it into rel before it does anything: a command
// whose work must be charged there first waits for a line on stdin; write
// one to the returned file to let it go.
func (r *Tree) Start(cmd *exec.Cmd, rel string) *os.File {
	r.t.Helper()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	pr, pw, err := os.Pipe()
	if err != nil {
		r.t.Fatal(err)
	}
	cmd.Stdin = pr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	pr.Close()
	r.procs = append(r.procs, cmd)
	r.pipes = append(r.pipes, pw)
	if rel != "" {
		r.Move(rel, cmd.Process.Pid)
	}
	return pw
}

// Move puts pid into rel in every hierarchy.
func (r *Tree) Move(rel string, pid int) {
	r.t.Helper()
	for _, root := range r.Roots {
		p := filepath.Join(root, rel, "cgroup.procs")
		if err := os.WriteFile(p, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			r.t.Fatalf("move %d to %s: %v", pid, p, err)
		}
	}
}

// Kill kills cmd's process group and reaps it.
func (r *Tree) Kill(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
}

// Rmdir removes rel (a leaf) from every hierarchy, waiting for killed
// tasks to leave it.
func (r *Tree) Rmdir(rel string) {
	for _, root := range r.Roots {
		removeDir(filepath.Join(root, rel))
	}
}

func removeDir(d string) {
	for i := 0; i < 250; i++ {
		if err := os.Remove(d); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *Tree) cleanup() {
	for _, cmd := range r.procs {
		if cmd.ProcessState == nil {
			r.Kill(cmd)
		}
	}
	for _, p := range r.pipes {
		p.Close()
	}
	for i := len(r.created) - 1; i >= 0; i-- {
		removeDir(r.created[i])
		if exists(r.created[i]) {
			r.t.Errorf("cleanup: %s left behind", r.created[i])
		}
	}
}
