// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"errors"
	"io/fs"
	"slices"
	"syscall"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// EachPid calls fn with each pid of dir's cgroup.procs and then, down to depth
// levels, of the cgroups below it, depth first, until fn returns false.
// cgroup v2 keeps processes in leaves only, and an nspawn machine's payload
// sits in a child, so a container's processes may all be below its
// directory. The files are read, and the directories listed, into buf
// (parsePids says which pids). A cgroup removed meanwhile is skipped; the
// first other read error is returned after the walk, which goes on
// without that file.
func EachPid(buf *kernfile.Buf, dir string, depth int, fn func(pid int) bool) error {
	if dir == "" {
		return nil
	}
	var first error
	walkPids(buf, dir, depth, fn, &first)
	return first
}

// walkPids is EachPid below dir; false when fn asked to stop.
func walkPids(buf *kernfile.Buf, dir string, depth int, fn func(pid int) bool, first *error) bool {
	b, err := buf.Read(dir, "cgroup.procs")
	if err != nil && !Gone(err) && *first == nil {
		*first = err
	}
	if !parsePids(b, fn) {
		return false
	}
	if depth == 0 {
		return true
	}
	// Listed through buf, so that only the subdirectories (most
	// containers have none) are made strings, not every file of the
	// cgroup: os.ReadDir's entries were 3.9 MB of garbage in the services
	// collector's first pass over 1000 containers (heap profile). In name
	// order, as os.ReadDir gave them.
	var subs []string
	if err := buf.Dir(func(name []byte, typ uint8) {
		if typ == syscall.DT_DIR || typ == syscall.DT_UNKNOWN && kernfile.IsDir(dir, name) {
			subs = append(subs, string(name))
		}
	}, dir); err != nil {
		return true // gone, or not a directory we may list: no children
	}
	slices.Sort(subs)
	for _, sub := range subs {
		if !walkPids(buf, dir+"/"+sub, depth-1, fn, first) {
			return false
		}
	}
	return true
}

// Gone reports an error of a read whose cgroup (or the process behind a
// file) went away, as cgroups and processes do: nothing to report.
func Gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ESRCH)
}
