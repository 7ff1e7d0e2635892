// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgroupmk"
)

// tree makes cgroups in every hierarchy mounted under base (each v1
// controller, the named systemd one, cgroup2 at the root or at unified/)
// and writes every directory and process it creates to a record file
// before going on, so a run that is killed can be cleaned up afterwards
// from the record alone (-cleanup).
type tree struct {
	roots []string
	rec   *os.File
	dirs  []string       // created, in creation order
	procs map[int]*child // started by us, by pid
	order []int
}

type child struct {
	cmd *exec.Cmd
	rel string // cgroup it was moved to ("" = none yet)
}

func newTree(base, record string) (*tree, error) {
	roots, err := cgroupmk.Hierarchies(base)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(record, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &tree{roots: roots, rec: f, procs: map[int]*child{}}, nil
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// note appends one line to the record; it is written before the thing it
// names exists, so a crash in between leaves nothing unrecorded.
func (t *tree) note(format string, a ...any) error {
	_, err := fmt.Fprintf(t.rec, format+"\n", a...)
	return err
}

// mkdir creates rel, parents included, in every hierarchy; each directory
// is recorded before it is made.
func (t *tree) mkdir(rel string) error {
	dirs, err := cgroupmk.Mkdir(t.roots, rel, func(d string) error { return t.note("dir %s", d) })
	t.dirs = append(t.dirs, dirs...)
	return err
}

// start runs cmd in its own process group (a Ctrl-C at the terminal reaches
// only us; we stop the children ourselves) and moves it into rel in every
// hierarchy.
func (t *tree) start(cmd *exec.Cmd, rel string) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	t.procs[pid] = &child{cmd: cmd}
	t.order = append(t.order, pid)
	if err := t.note("pid %d %s", pid, rel); err != nil {
		return err
	}
	if err := cgroupmk.Move(t.roots, rel, pid); err != nil {
		return err
	}
	t.procs[pid].rel = rel
	return nil
}

// stop ends one of our processes: SIGTERM, then SIGKILL after grace.
func (t *tree) stop(pid int, grace time.Duration) {
	c := t.procs[pid]
	if c == nil {
		return
	}
	delete(t.procs, pid)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	if grace > 0 {
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-done:
			return
		case <-time.After(grace):
		}
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	<-done
}

// rmdir removes the directories created below rel (rel included if we
// made it), leaves first, waiting for killed tasks to leave them.
func (t *tree) rmdir(rel string) error {
	var errs []error
	keep := t.dirs[:0]
	var gone []string
	for _, d := range t.dirs {
		if inside(d, t.roots, rel) {
			gone = append(gone, d)
		} else {
			keep = append(keep, d)
		}
	}
	t.dirs = keep
	for i := len(gone) - 1; i >= 0; i-- {
		if err := cgroupmk.Remove(gone[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func inside(d string, roots []string, rel string) bool {
	for _, r := range roots {
		p := filepath.Join(r, rel)
		if d == p || strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}

// close stops every process we started and removes every directory we
// made, then the record.
func (t *tree) close() error {
	for i := len(t.order) - 1; i >= 0; i-- {
		t.stop(t.order[i], 0)
	}
	var errs []error
	for i := len(t.dirs) - 1; i >= 0; i-- {
		if err := cgroupmk.Remove(t.dirs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	t.dirs = nil
	name := t.rec.Name()
	t.rec.Close()
	if len(errs) == 0 {
		os.Remove(name)
	}
	return errors.Join(errs...)
}

// cleanupRecord undoes what a record lists, for a run that died before its
// own clean-up: each recorded process is killed only if it still sits in
// the cgroup it was recorded in (a pid may have been reused since), then
// the directories go, leaves first.
func cleanupRecord(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	var dirs []string
	var pids []int
	rels := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "dir":
			dirs = append(dirs, rest)
		case "pid":
			p, rel, _ := strings.Cut(rest, " ")
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 {
				pids = append(pids, pid)
				rels[pid] = rel
			}
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return err
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil || rels[pid] == "" || !strings.Contains(string(b), ":/"+rels[pid]+"\n") {
			continue
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := cgroupmk.Remove(dirs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		os.Remove(path)
	}
	return errors.Join(errs...)
}

// cleanupStale cleans the records in dir left by runs whose process is gone.
func cleanupStale(dir string, log func(string, ...any)) {
	recs, _ := filepath.Glob(filepath.Join(dir, "record-*"))
	for _, r := range recs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(r), "record-"))
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		log("cleaning up after an interrupted run: %s", r)
		if err := cleanupRecord(r); err != nil {
			log("%v", err)
		}
	}
}

// hexID is a random 64-hex container id.
func hexID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
