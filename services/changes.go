// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// pendingTries is how many more passes a newly started service process
// that did not listen yet (postgres takes seconds) gets.
const pendingTries = 3

// watcher tells, every cycle and cheaply, whether a service may have
// started since the last discovery. With the kernel's process events
// (procEvents) it reads the exec and rename events queued since the
// previous cycle and looks at those processes. Without them (another pid
// or network namespace, no CAP_NET_ADMIN) it lists <procfs> and looks at
// the processes not seen at the previous listing, on the cycle each is
// first seen and once more on the next (a fork is seen before its exec
// gives it its name; a process that exec's into a service long after it
// was started is then found by the periodic full pass). A process of a
// recognised kind whose parent is of a recognised kind too (postgres's
// backend per connection, nginx's workers) is the known service's child,
// not a new service.
type watcher struct {
	proc     string
	events   *procEvents // nil: list <procfs>
	noEvents bool        // tried, not available
	cands    []int       // the pids of this cycle's events
	dir      *os.File    // <procfs>, kept open and read again from its start
	buf      []byte      // getdents buffer
	seen     map[int]uint64
	next     map[int]uint64 // listed pids: the cycle each was first seen
	cycle    uint64
	pending  map[int]int // new service pids without an instance yet: passes left
	comm     kernfile.Buf
}

func newWatcher(proc string) *watcher {
	return &watcher{proc: proc, seen: map[int]uint64{}, next: map[int]uint64{}, pending: map[int]int{}}
}

// changed reports whether a discovery pass should run: a new service
// process, or one that did not listen at the last pass. The first call
// only starts watching (the first discovery is a full pass anyway).
func (w *watcher) changed() (bool, error) {
	w.cycle++
	found := false
	for pid, left := range w.pending {
		if left <= 0 || w.newService(pid) == gone {
			delete(w.pending, pid)
			continue
		}
		w.pending[pid] = left - 1
		found = true
	}
	if w.events == nil && !w.noEvents {
		// Events name pids of the agent's pid namespace: <procfs> must
		// be of the same one (it names the agent by its own pid).
		self, err := os.Readlink(w.proc + "/self")
		if err == nil && self == strconv.Itoa(os.Getpid()) {
			w.events, err = openProcEvents()
		}
		w.noEvents = w.events == nil
		if err != nil {
			return found, err
		}
	}
	if w.events != nil {
		w.cands = w.cands[:0]
		lost, err := w.events.read(func(pid int) { w.cands = append(w.cands, pid) })
		if err != nil {
			// Listing from now on; what this cycle missed, a pass finds.
			w.events.Close()
			w.events, w.noEvents = nil, true
			return true, err
		}
		for _, pid := range w.cands {
			if !found && w.newService(pid) == service {
				w.pending[pid] = pendingTries
				found = true
			}
		}
		return found || lost, nil
	}
	listed, err := w.list(found)
	return found || listed, err
}

// list lists <procfs> and looks at the pids not seen at the previous
// listing and those first seen there (skipped once found is set).
func (w *watcher) list(found bool) (bool, error) {
	if w.dir == nil {
		d, err := os.Open(w.proc)
		if err != nil {
			return false, fmt.Errorf("open %s: %w", w.proc, err)
		}
		w.dir, w.buf = d, make([]byte, 32<<10)
	}
	// The first listing only learns what runs.
	first := len(w.seen) == 0
	clear(w.next)
	err := readPids(w.dir, w.buf, func(pid int) {
		at, ok := w.seen[pid]
		if !ok && !first {
			at = w.cycle
		}
		w.next[pid] = at
		if first || found {
			return
		}
		// New this cycle or the last: its name may be new.
		if at+1 >= w.cycle && w.newService(pid) == service {
			w.pending[pid] = pendingTries
			found = true
		}
	})
	if err != nil {
		return false, fmt.Errorf("list %s: %w", w.proc, err)
	}
	w.seen, w.next = w.next, w.seen
	return found, nil
}

// look is what newService found of a pid.
type look uint8

const (
	gone    look = iota // no such task (any more)
	other               // not a new service process (yet)
	service             // a new service process
)

// newService tells whether pid is a service process whose parent is not
// one (the parent's child would be a worker of a known service). One
// read of its comm tells most pids apart: their name is not a service's.
// It runs for every exec on the host, so that read is of the cheapest
// file of a process: its stat makes the kernel gather and print some
// fifty fields (open, read and close measured 9 µs against 5 for comm);
// the stat, for the parent, only of a process named as a service.
func (w *watcher) newService(pid int) look {
	p := strconv.Itoa(pid)
	comm, err := w.comm.Read(w.proc, p, "comm")
	if err != nil {
		return gone
	}
	if _, ok := byComm[string(bytes.TrimSuffix(comm, []byte{'\n'}))]; !ok {
		return other
	}
	stat, err := w.comm.Read(w.proc, p, "stat")
	if err != nil {
		return gone
	}
	// "pid (comm) state ppid ...": comm may hold anything, ')' included.
	i, j := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if i < 0 || j < i {
		return other
	}
	_, rest := kernfile.NextField(stat[j+1:])
	ppid, _ := kernfile.NextField(rest)
	if _, ok := commKind(&w.comm, w.proc, string(ppid)); ok {
		return other
	}
	// A new thread of a service (memcached's workers carry its name) is
	// no new process: only a thread group's leader counts.
	if !w.isProcess(p) {
		return other
	}
	return service
}

// isProcess tells whether the task pid leads its thread group.
func (w *watcher) isProcess(pid string) bool {
	b, err := w.comm.Read(w.proc, pid, "status")
	if err != nil {
		return false
	}
	for len(b) > 0 {
		var line []byte
		line, b = kernfile.NextLine(b)
		if v, ok := bytes.CutPrefix(line, []byte("Tgid:")); ok {
			return string(bytes.TrimSpace(v)) == pid
		}
	}
	return false
}

// found drops the pending pids that have an instance now.
func (w *watcher) found(inst []*Instance) {
	for _, in := range inst {
		delete(w.pending, in.Pid)
	}
}

// close closes the events socket and the <procfs> listing.
func (w *watcher) close() {
	if w.events != nil {
		w.events.Close()
		w.events = nil
	}
	if w.dir != nil {
		w.dir.Close()
		w.dir = nil
	}
}

// readPids lists the process directories of dir (a procfs root) from its
// start, with bare getdents into buf: no name strings, no sort.
func readPids(dir *os.File, buf []byte, each func(pid int)) error {
	if _, err := dir.Seek(0, 0); err != nil {
		return err
	}
	return kernfile.Dirents(int(dir.Fd()), buf, func(name []byte, _ uint8) {
		if pid, ok := kernfile.ParseUint(name); ok && pid > 0 && pid < 1<<31 {
			each(int(pid))
		}
	})
}
