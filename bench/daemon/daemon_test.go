// SPDX-License-Identifier: Apache-2.0

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// buildFloor builds the floor daemon into the test's directory.
func buildFloor(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "floor")
	if out, err := exec.Command("go", "build", "-o", bin, "../floor").CombinedOutput(); err != nil {
		t.Fatalf("build floor: %v\n%s", err, out)
	}
	return bin
}

func newTestTree(t *testing.T, dir string) (*config, *tree) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test makes real cgroups: run it as root")
	}
	c := &config{state: dir, runDir: dir, cgroupBase: "/sys/fs/cgroup", interval: time.Second, containers: 3, plain: 4, out: io.Discard}
	tr, err := newTree(c.cgroupBase, filepath.Join(dir, "record-"+strconv.Itoa(os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// The set-up makes Docker-shaped cgroups with a process in every hierarchy
// and plain cgroups; the floor reads the host set plus every container's
// files with descriptors kept open, in a cgroup of its own that counts its
// CPU; the tear-down leaves nothing behind, record included.
func TestFloorAndTree(t *testing.T) {
	dir := t.TempDir()
	floor := buildFloor(t, dir)
	c, tr := newTestTree(t, dir)
	closed := false
	defer func() {
		if !closed {
			tr.close()
		}
	}()
	top := "nmbench-test-" + hexID()[:8]
	view := top + "/view"
	list, err := c.setUp(tr, "containers", view)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.setUp(tr, "plain", view); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(list)
	rels := strings.Fields(string(b))
	if len(rels) != c.containers {
		t.Fatalf("container list %q", rels)
	}
	for _, root := range tr.roots {
		for _, rel := range rels {
			procs, err := os.ReadFile(filepath.Join(root, view, rel, "cgroup.procs"))
			if err != nil || len(strings.TrimSpace(string(procs))) == 0 {
				t.Errorf("%s/%s: no process (%v)", root, rel, err)
			}
		}
		if !exists(filepath.Join(root, view, "plain", "g00003")) {
			t.Errorf("%s: plain cgroup missing", root)
		}
	}

	// The floor alone, host files only, one cycle: how many files the host set is.
	out, err := exec.Command(floor, "-interval", "100ms", "-cycles", "1").Output()
	host := 0
	if f := strings.Fields(string(out)); err != nil || len(f) < 4 || f[2] != "files" {
		t.Fatalf("floor: %q %v", out, err)
	} else if host, _ = strconv.Atoi(f[3]); host < 10 {
		t.Fatalf("floor reads %d host files", host)
	}
	// What the containers collector reads per container (bench/floor):
	// on v1 with every controller mounted 10 stat files, plus the 3
	// pressure files of a hybrid host's cgroup2 tree; on v2 10 (the check
	// of the container's network namespace is a stat, not a file).
	perContainer := 10
	if exists(filepath.Join(c.cgroupBase, "unified", "cgroup.controllers")) {
		perContainer = 13
	}
	if exists(filepath.Join(c.cgroupBase, "cgroup.controllers")) {
		perContainer = 10
	}

	// In its view, the floor finds the containers at docker/<id>.
	d, err := c.startDaemon(tr, top+"/floor", view, filepath.Join(dir, "floor.out"), floor, "-interval", "1s", "-containers", list)
	if err != nil {
		t.Fatal(err)
	}
	u0, err := d.usage()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // two ticks
	u1, err := d.usage()
	if err != nil || u1 <= u0 {
		t.Errorf("floor cgroup usage %d -> %d (%v)", u0, u1, err)
	}
	if p, err := pss(d.pid); err != nil || p <= 0 || p > 50 {
		t.Errorf("floor PSS %.1f MB (%v)", p, err)
	}
	tr.stop(d.pid, 5*time.Second)
	if n := floorFiles(d.out); n != host+perContainer*c.containers {
		b, _ := os.ReadFile(d.out)
		t.Errorf("floor read %d files, want %d host + %d x %d: %s", n, host, perContainer, c.containers, b)
	}

	made := append([]string(nil), tr.dirs...)
	var pids []int
	for pid := range tr.procs {
		pids = append(pids, pid)
	}
	record := tr.rec.Name()
	closed = true
	if err := tr.close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range made {
		if exists(d) {
			t.Errorf("left behind: %s", d)
		}
	}
	for _, pid := range pids {
		if exists("/proc/" + strconv.Itoa(pid)) {
			t.Errorf("process %d still runs", pid)
		}
	}
	if exists(record) {
		t.Error("record left behind after a clean run")
	}
}

// A run killed before its clean-up is undone from its record alone.
func TestCleanupRecord(t *testing.T) {
	dir := t.TempDir()
	c, tr := newTestTree(t, dir)
	c.containers = 2
	defer tr.close()
	view := "nmbench-test-" + hexID()[:8] + "/view"
	if _, err := c.setUp(tr, "containers", view); err != nil {
		t.Fatal(err)
	}
	if _, err := c.setUp(tr, "plain", view); err != nil {
		t.Fatal(err)
	}
	tr.rec.Sync()
	if err := cleanupRecord(tr.rec.Name()); err != nil {
		t.Fatal(err)
	}
	for pid, ch := range tr.procs {
		if err := ch.cmd.Wait(); err == nil {
			t.Errorf("process %d was not killed", pid)
		}
		delete(tr.procs, pid)
	}
	for _, d := range tr.dirs {
		if exists(d) {
			t.Errorf("left behind: %s", d)
		}
	}
	if exists(tr.rec.Name()) {
		t.Error("record kept after a complete clean-up")
	}
}
