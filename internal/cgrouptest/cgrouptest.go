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
	"syscall"
	"testing"

	"github.com/nodemetrics/nodemetrics/internal/cgroupmk"
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
	roots, err := cgroupmk.Hierarchies("/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	r := &Tree{t: t, Roots: roots}
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
	dirs, err := cgroupmk.Mkdir(r.Roots, rel, nil)
	r.created = append(r.created, dirs...)
	if err != nil {
		r.t.Fatal(err)
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
	if err := cgroupmk.Move(r.Roots, rel, pid); err != nil {
		r.t.Fatal(err)
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
		cgroupmk.Remove(filepath.Join(root, rel))
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
		cgroupmk.Remove(r.created[i])
		if exists(r.created[i]) {
			r.t.Errorf("cleanup: %s left behind", r.created[i])
		}
	}
}
