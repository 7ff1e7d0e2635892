// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

func TestEachPid(t *testing.T) {
	dir := t.TempDir()
	for path, content := range map[string]string{
		"cgroup.procs":       "",
		"a/cgroup.procs":     "0\n", // a pid outside our namespace
		"a/b/cgroup.procs":   "42\n7\n",
		"a/b/c/cgroup.procs": "5\n", // three levels down
		"d/cgroup.procs":     "9\n",
	} {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf kernfile.Buf
	all := func(root string, depth int) ([]int, error) {
		var pids []int
		err := EachPid(&buf, root, depth, func(pid int) bool { pids = append(pids, pid); return true })
		return pids, err
	}
	for depth, want := range map[int][]int{0: nil, 1: {9}, 2: {42, 7, 9}, 3: {42, 7, 5, 9}} {
		if got, err := all(dir, depth); err != nil || !slices.Equal(got, want) {
			t.Errorf("depth %d: %v, %v; want %v", depth, got, err, want)
		}
	}

	first := 0
	if err := EachPid(&buf, dir, 3, func(pid int) bool { first = pid; return false }); err != nil || first != 42 {
		t.Errorf("stopped at the first: %d, %v; want 42", first, err)
	}

	// A cgroup gone meanwhile is nothing to report; "" is no cgroup.
	if got, err := all(filepath.Join(dir, "gone"), 2); err != nil || got != nil {
		t.Errorf("gone: %v, %v", got, err)
	}
	if got, err := all("", 2); err != nil || got != nil {
		t.Errorf("no directory: %v, %v", got, err)
	}

	// Any other read error is returned, and the walk goes on without that file.
	if err := os.Mkdir(filepath.Join(dir, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d", "e", "cgroup.procs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := all(filepath.Join(dir, "d"), 1); err == nil || !slices.Equal(got, []int{9}) {
		t.Errorf("unreadable cgroup.procs: %v, %v; want [9] and an error", got, err)
	}
}
