// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nodemetrics/nodemetrics/internal/nowait"
)

// Discovery costs per change, not per cycle: after a first walk of every
// hierarchy, the cgroup directories that are not containers are watched
// with inotify (a cgroup appearing or going below them), and a cycle only
// reads the events queued since the last one. Measured alternatives:
// cgroupfs does not change a directory's mtime when a child comes or goes,
// and listing 1000 plain cgroups in each of a hybrid host's 6 hierarchies
// every cycle cost the agent ~175 ms. mkdir and rmdir of a cgroup go
// through the VFS, which reports them to the watches of the parent
// directory's inode, whichever mount or cgroup namespace the runtime did
// it through (one kernfs superblock per hierarchy).
//
// A full walk runs again when the kernel's event queue overflowed, a
// directory was renamed (cgroup v1 allows it), or a watch could not be
// added (fs.inotify.max_user_watches reached): then every cycle walks, as
// it does on a tree that is not a cgroup filesystem (a test's fixture
// tree, which a test may change in ways no watch reports).

// watchMask: a child directory created or removed; renames force a walk.
const watchMask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_ONLYDIR

// watchDir is a watched directory: where it is and what discovery knows
// about it.
type watchDir struct {
	abs   string
	root  uint8 // index of its hierarchy in the layout
	depth uint8
	ctx   walkCtx
}

// watcher is the inotify instance of the collector's hierarchies.
type watcher struct {
	fd   int // -1: not watching
	dirs map[int32]*watchDir
	buf  []byte
	// broken: a watch could not be added (err); every cycle walks.
	broken bool
	err    error
}

// errWalk asks for a full walk (overflow, rename): not an error of the
// cycle.
var errWalk = errors.New("walk again")

func newWatcher() watcher { return watcher{fd: -1} }

// start opens the inotify instance; false when the hierarchies are not
// cgroup filesystems or inotify is not available.
func (w *watcher) start(roots []string) bool {
	w.stop()
	if w.broken {
		return false
	}
	for _, r := range roots {
		var st unix.Statfs_t
		if unix.Statfs(r, &st) != nil || (st.Type != unix.CGROUP_SUPER_MAGIC && st.Type != unix.CGROUP2_SUPER_MAGIC) {
			return false
		}
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		w.broken, w.err = true, fmt.Errorf("inotify: %w", err)
		return false
	}
	w.fd, w.dirs = fd, map[int32]*watchDir{}
	return true
}

func (w *watcher) active() bool { return w.fd >= 0 }

// stop closes the instance and forgets the watches.
func (w *watcher) stop() {
	if w.fd >= 0 {
		unix.Close(w.fd)
	}
	w.fd, w.dirs = -1, nil
}

// add watches a directory the walk lists (before listing it: a child
// made in between is both listed and reported, and found twice is found
// once). A watch that cannot be added stops the watching for good.
func (w *watcher) add(abs string, root, depth int, ctx walkCtx) {
	if w.fd < 0 {
		return
	}
	wd, err := unix.InotifyAddWatch(w.fd, abs, watchMask)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return // gone already: its parent reports it
	}
	if err != nil {
		w.stop()
		w.broken, w.err = true, fmt.Errorf("watch %s: %w", abs, err)
		return
	}
	w.dirs[int32(wd)] = &watchDir{abs: abs, root: uint8(root), depth: uint8(depth), ctx: ctx}
}

// drain reads the queued events and hands each directory created or
// removed below a watched one to f; errWalk when only a full walk can tell
// what changed.
func (w *watcher) drain(f func(d *watchDir, name []byte, created bool)) error {
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	walk := false
	for {
		// Every cycle, on a non-blocking descriptor: made without the
		// scheduler's bookkeeping (internal/nowait).
		n, err := nowait.Read(w.fd, w.buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) || n == 0 {
			break
		}
		if err != nil {
			return fmt.Errorf("read inotify events: %w", err)
		}
		for b := w.buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
			end := unix.SizeofInotifyEvent + int(ev.Len)
			if end > len(b) {
				break
			}
			name := b[unix.SizeofInotifyEvent:end]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[end:]
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0, ev.Mask&(unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0:
				walk = true
			case ev.Mask&unix.IN_IGNORED != 0:
				delete(w.dirs, ev.Wd) // the directory went
			case ev.Mask&unix.IN_ISDIR == 0 || walk:
			default:
				if d := w.dirs[ev.Wd]; d != nil && len(name) > 0 {
					f(d, name, ev.Mask&unix.IN_CREATE != 0)
				}
				if w.fd < 0 {
					return errWalk // a watch could not be added
				}
			}
		}
	}
	if walk {
		return errWalk
	}
	return nil
}
