// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// pendingTries is how many more passes a newly started service process
// that did not listen yet (postgres takes seconds) gets.
const pendingTries = 3

// watcher tells, every cycle and cheaply, whether a service may have
// started since the last discovery: one listing of <procfs> (the pids
// only), and the comm of the processes not seen before. A process is
// looked at on the cycle it is first seen and once more on the next (a
// fork is seen before its exec gives it its name). A new process of a
// recognised kind whose parent is of a recognised kind too (postgres's
// backend per connection, nginx's workers) is the known service's child,
// not a new service. A process that exec's into a service long after it
// was started is found by the periodic full pass.
type watcher struct {
	proc    string
	dir     *os.File       // <procfs>, kept open and read again from its start
	buf     []byte         // getdents buffer
	seen    map[int]uint64 // pid: the cycle it was first seen
	next    map[int]uint64
	cycle   uint64
	pending map[int]int // new service pids without an instance yet: passes left
	comm    kernfile.Buf
}

func newWatcher(proc string) *watcher {
	return &watcher{proc: proc, seen: map[int]uint64{}, next: map[int]uint64{}, pending: map[int]int{}}
}

// changed lists <procfs> and reports whether a discovery pass should run:
// a new service process, or one that did not listen at the last pass.
// The first call only learns what runs (the first discovery is a full
// pass anyway).
func (w *watcher) changed() (bool, error) {
	w.cycle++
	if w.dir == nil {
		d, err := os.Open(w.proc)
		if err != nil {
			return false, fmt.Errorf("open %s: %w", w.proc, err)
		}
		w.dir, w.buf = d, make([]byte, 32<<10)
	} else if _, err := w.dir.Seek(0, 0); err != nil {
		return false, fmt.Errorf("list %s: %w", w.proc, err)
	}
	first := w.cycle == 1
	clear(w.next)
	found := false
	for {
		n, err := syscall.ReadDirent(int(w.dir.Fd()), w.buf)
		if err != nil {
			return false, fmt.Errorf("list %s: %w", w.proc, err)
		}
		if n <= 0 {
			break
		}
		for b := w.buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			pid64, ok := kernfile.ParseUint(name)
			if !ok || pid64 == 0 || pid64 > 1<<31 {
				continue
			}
			pid := int(pid64)
			at, ok := w.seen[pid]
			if !ok && !first {
				at = w.cycle
			}
			w.next[pid] = at
			if first || found {
				continue
			}
			if left := w.pending[pid]; left > 0 {
				w.pending[pid] = left - 1
				found = true
				continue
			}
			// New this cycle or the last: its name may be new.
			if at+1 >= w.cycle && w.newService(pid) {
				w.pending[pid] = pendingTries
				found = true
			}
		}
	}
	w.seen, w.next = w.next, w.seen
	for pid := range w.pending {
		if _, ok := w.seen[pid]; !ok || w.pending[pid] <= 0 {
			delete(w.pending, pid)
		}
	}
	return found, nil
}

// newService tells whether pid is a service process whose parent is not
// one (the parent's child would be a worker of a known service).
func (w *watcher) newService(pid int) bool {
	p := strconv.Itoa(pid)
	if _, ok := w.kind(p); !ok {
		return false
	}
	stat, err := w.comm.Read(w.proc + "/" + p + "/stat")
	if err != nil {
		return false // exited
	}
	// "pid (comm) state ppid ...": comm may hold anything, ')' included.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	_, rest := kernfile.NextField(stat[i+1:])
	ppid, _ := kernfile.NextField(rest)
	if _, ok := w.kind(string(ppid)); ok {
		return false
	}
	return true
}

// kind is the service kind of the process pid (a decimal string).
func (w *watcher) kind(pid string) (Kind, bool) {
	b, err := w.comm.Read(w.proc + "/" + pid + "/comm")
	if err != nil {
		return "", false
	}
	k, ok := byComm[string(bytes.TrimSpace(b))]
	return k, ok
}

// found drops the pending pids that have an instance now.
func (w *watcher) found(inst []*Instance) {
	for _, in := range inst {
		delete(w.pending, in.Pid)
	}
}
