// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
)

// A procfs file is opened once and re-read fresh at offset 0, without
// allocating; a fixture file is re-opened at every read, so a file
// replaced between reads (a rename) is seen.
func TestFileKeptOpen(t *testing.T) {
	var buf Buf
	k := File{Path: "/proc/uptime"}
	a, err := buf.ReadFile(&k)
	if err != nil || !k.open() {
		t.Fatalf("first read: %q %v, kept %v", a, err, k.open())
	}
	defer k.Close()
	first := string(a)
	time.Sleep(30 * time.Millisecond)
	b, err := buf.ReadFile(&k)
	if err != nil || string(b) == first || len(b) == 0 || b[len(b)-1] != '\n' {
		t.Errorf("second read of a kept /proc/uptime: %q (first %q) %v", b, first, err)
	}
	if n := testing.AllocsPerRun(20, func() { buf.ReadFile(&k) }); n != 0 {
		t.Errorf("%v allocs per read of a kept file", n)
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "stat")
	os.WriteFile(p, []byte("one\n"), 0o644)
	f := File{Path: p}
	if b, err := buf.ReadFile(&f); err != nil || string(b) != "one\n" || f.open() {
		t.Fatalf("fixture: %q %v kept %v", b, err, f.open())
	}
	os.WriteFile(p+".new", []byte("two\n"), 0o644)
	os.Rename(p+".new", p)
	if b, err := buf.ReadFile(&f); err != nil || string(b) != "two\n" {
		t.Errorf("fixture replaced: %q %v", b, err)
	}
}

// A kept file is read without the scheduler's system-call bookkeeping
// only on procfs and cgroupfs (the kernel prints them from memory); a
// sysfs attribute may wait on its driver, so it keeps the plain pread.
func TestFileNoWaitOnlyProcAndCgroup(t *testing.T) {
	tree := cgrouptest.New(t)
	var buf Buf
	for _, tc := range []struct {
		path string
		want descState
	}{
		{"/proc/uptime", keptNoWait},
		{"/proc/self/net/dev", keptNoWait},
		{"/sys/devices/system/cpu/online", kept},
		{filepath.Join(tree.Roots[0], "cgroup.procs"), keptNoWait},
	} {
		if _, err := os.Stat(tc.path); err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		k := File{Path: tc.path}
		b, err := buf.ReadFile(&k)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %q %v", tc.path, b, err)
		}
		if k.state != tc.want {
			t.Errorf("%s: kept as %d, want %d", tc.path, k.state, tc.want)
		}
		k.Close()
	}
}

// A kept cgroup file whose cgroup is removed fails once and is closed; the
// next read reports it missing; the cgroup made again is read afresh.
func TestFileCgroupGone(t *testing.T) {
	tree := cgrouptest.New(t)
	rel := "kernfile-test-" + cgrouptest.ID(t)[:16]
	tree.Mkdir(rel)
	var buf Buf
	k := File{Path: filepath.Join(tree.Roots[0], rel, "cgroup.procs")}
	defer k.Close()
	if _, err := buf.ReadFile(&k); err != nil || !k.open() {
		t.Fatalf("read: %v kept %v", err, k.open())
	}
	tree.Rmdir(rel)
	if _, err := buf.ReadFile(&k); err == nil || k.open() {
		t.Errorf("read of a removed cgroup's file: %v, kept %v", err, k.open())
	}
	if _, err := buf.ReadFile(&k); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("next read: %v, want not exist", err)
	}
	tree.Mkdir(rel)
	if _, err := buf.ReadFile(&k); err != nil || !k.open() {
		t.Errorf("cgroup made again: %v kept %v", err, k.open())
	}
}

// A cgroupfs file named by Dir and Name reads as by its path; a stat file
// is printed in one piece (one pread a read), the pid list a pid at a
// time; an error names the joined path.
func TestFileDirName(t *testing.T) {
	tree := cgrouptest.New(t)
	rel := "kernfile-test-" + cgrouptest.ID(t)[:16]
	tree.Mkdir(rel)
	dir := filepath.Join(tree.Roots[0], rel)
	var buf Buf
	procs := File{Dir: dir, Name: "cgroup.procs"}
	defer procs.Close()
	stat := File{Dir: dir, Name: "cgroup.clone_children"}
	if _, err := os.Stat(filepath.Join(dir, stat.Name)); err != nil {
		stat.Name = "cgroup.type" // cgroup v2
	}
	defer stat.Close()
	for _, k := range []*File{&procs, &stat} {
		got, err := buf.ReadFile(k)
		want, _ := os.ReadFile(filepath.Join(dir, k.Name))
		if err != nil || string(got) != string(want) || !k.open() {
			t.Errorf("%s: %q %v (kept %v), want %q", k.Pathname(), got, err, k.open(), want)
		}
	}
	if procs.whole || !stat.whole {
		t.Errorf("in one piece: cgroup.procs %v, %s %v; want false, true", procs.whole, stat.Name, stat.whole)
	}
	tree.Rmdir(rel)
	if _, err := buf.ReadFile(&stat); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, stat.Name)) {
		t.Errorf("read of a removed cgroup's file: %v, want an error naming %s", err, filepath.Join(dir, stat.Name))
	}
}

// The procfs files read in one read (procOnePiece) come whole, kept open
// or read once, as the kernel's own reader sees them: as many lines, up to
// a file larger than the first buffer (a process's status, /proc/stat of
// many CPUs) and each under its name in a fixture tree too.
func TestProcOnePieceWhole(t *testing.T) {
	paths := []string{"/proc/stat", "/proc/meminfo", "/proc/loadavg", "/proc/uptime", "/proc/net/sockstat",
		"/proc/net/snmp", "/proc/net/netstat", "/proc/sys/fs/file-nr", "/proc/sys/kernel/random/entropy_avail",
		"/proc/self/stat", "/proc/self/status", "/proc/self/comm", "/proc/pressure/cpu"}
	var buf Buf
	for _, p := range paths {
		want, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // no PSI in this kernel
		}
		if err != nil {
			t.Fatal(err)
		}
		if !procOnePiece[filepath.Base(p)] {
			t.Fatalf("%s is not listed", p)
		}
		k := File{Path: p}
		kept, err := buf.ReadFile(&k)
		if err != nil || !k.open() || !k.whole {
			t.Fatalf("%s: %v, kept %v, whole %v", p, err, k.open(), k.whole)
		}
		keptLines := strings.Count(string(kept), "\n")
		k.Close()
		once, err := buf.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(string(want), "\n")
		if keptLines != n || strings.Count(string(once), "\n") != n || !strings.HasSuffix(string(once), "\n") {
			t.Errorf("%s: %d lines kept, %d read once, %d by os.ReadFile", p, keptLines, strings.Count(string(once), "\n"), n)
		}
	}
	// A fixture named as such a file, larger than the first buffer.
	p := filepath.Join(t.TempDir(), "status")
	want := strings.Repeat("Name:\tx\n", 2000)
	os.WriteFile(p, []byte(want), 0o644)
	if got, err := buf.Read(p); err != nil || string(got) != want {
		t.Errorf("fixture %s: %d bytes of %d, %v", p, len(got), len(want), err)
	}
}
