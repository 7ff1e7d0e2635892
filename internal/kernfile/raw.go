// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"github.com/nodemetrics/nodemetrics/internal/nowait"
)

// rawFile is a bare descriptor read with plain system calls. os.Open
// registers every procfs, sysfs and cgroupfs file with the runtime's
// network poller (they support poll), which costs an fcntl and two
// epoll_ctl per file and wakes the scheduler for each: measured with 1000
// containers (11 cgroup files each) that was a third of the agent's CPU.
type rawFile int

// open opens the file of path's parts joined as Join joins them,
// read-only (plus flag). The path is built NUL-terminated in f's own
// buffer, not made a string and copied again for the system call: the
// containers collector opens 13 files per container as they appear, and
// those paths were 3.9 MB of garbage at the start with 1000 containers
// (heap profile), made while the containers' long-lived state was.
func (f *Buf) open(flag int, path ...string) (rawFile, error) {
	p := f.path[:0]
	for _, s := range path {
		if s == "" {
			continue
		}
		if len(p) > 0 {
			p = append(p, '/')
		}
		p = append(p, s...)
	}
	if bytes.IndexByte(p, 0) >= 0 {
		// What syscall.Open says of a path it cannot pass.
		return -1, &os.PathError{Op: "open", Path: Join(path...), Err: syscall.EINVAL}
	}
	p = append(p, 0)
	f.path = p
	for {
		fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(&p[0])),
			uintptr(syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_LARGEFILE|flag), 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, &os.PathError{Op: "open", Path: Join(path...), Err: e}
		}
		return rawFile(fd), nil
	}
}

// atFDCWD is AT_FDCWD as the system call takes it: a path relative to
// the working directory, as syscall.Open's.
const atFDCWD = ^uintptr(99) // -100

// readHow is how rawFile.read reads.
type readHow uint8

const (
	// readOn: read(2) from where the descriptor stands (opened for this
	// read only).
	readOn readHow = iota
	// readAt: pread(2) at the offset (a descriptor kept open).
	readAt
	// readAtNoWait: the same, without the scheduler's system-call
	// bookkeeping (package nowait): only for kept-open procfs and
	// cgroupfs files, which the kernel prints from its own memory under
	// short locks; never for sysfs, whose attributes are whatever their
	// driver's show function does (it may wait on the hardware), nor for a
	// file opened for one read (the services collector's
	// /proc/<pid>/cmdline waits on that process's memory lock).
	readAtNoWait
)

// read reads into p as how says; io.EOF at the end.
func (r rawFile) read(p []byte, off int64, how readHow) (int, error) {
	for {
		var n int
		var err error
		switch how {
		case readAtNoWait:
			n, err = nowait.Pread(int(r), p, off)
		case readAt:
			n, err = syscall.Pread(int(r), p, off)
		default:
			n, err = syscall.Read(int(r), p)
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (r rawFile) Close() error { return syscall.Close(int(r)) }

// File is a kernel file kept open across cycles. procfs, sysfs and
// cgroupfs make a file's content afresh when it is read from offset 0, so
// one open serves every cycle and each read is a pread: for the host set
// that halves the system calls of a cycle (open and close gone). A file on
// any other filesystem (a test's fixture tree, which a test may replace
// between cycles) is opened and closed at every read. A read that fails
// closes the descriptor; the next read opens the file again.
type File struct {
	Path string
	// Dir and Name name the file Dir/Name when Path is "": the path is
	// joined only to open it (and for messages), so the thousands of
	// files a caller keeps open share their directories' strings.
	Dir, Name string
	Desc
}

// Desc is what a kept-open file holds besides its name: a caller that
// keeps thousands names each from strings it has anyway and reads it with
// ReadIn (8 bytes a file, where a File is 56; the containers collector
// keeps 14 per container).
type Desc struct {
	// Once: opened and closed at every read, never kept (a caller whose
	// descriptor budget is spent).
	Once  bool
	state descState
	whole bool // made in one piece (fill)
	fd    int32
}

// descState is what a Desc holds (one byte, so that a Desc is 8).
type descState uint8

const (
	closed     descState = iota // nothing open: the next read opens
	plain                       // not a kernel filesystem: opened at every read
	kept                        // fd kept open, read with pread (sysfs)
	keptNoWait                  // fd kept open, read without waiting (readAtNoWait: procfs, cgroupfs)
)

// open tells whether the descriptor is kept open.
func (d *Desc) open() bool { return d.state == kept || d.state == keptNoWait }

// Kernel filesystems that regenerate a file when it is read at offset 0.
const (
	procMagic    = 0x9fa0
	sysfsMagic   = 0x62656572
	cgroupMagic  = 0x27e0eb
	cgroup2Magic = 0x63677270
)

// ReadFile returns the whole content of k, as Read does for a path.
func (f *Buf) ReadFile(k *File) ([]byte, error) {
	if k.Path != "" {
		return f.ReadIn(&k.Desc, k.Path)
	}
	return f.ReadIn(&k.Desc, k.Dir, k.Name)
}

// ReadIn returns the whole content of the file named by path, its parts
// joined only to open it (Join), kept open in d as ReadFile keeps a File.
func (f *Buf) ReadIn(d *Desc, path ...string) ([]byte, error) {
	if !d.open() {
		fd, err := f.open(0, path...)
		if err != nil {
			return nil, err
		}
		var state descState // closed: opened for this read only (Once)
		switch {
		case d.Once:
		case d.state == plain: // found so at an earlier read
			state = plain
		default:
			state, d.whole = regenerated(fd, filepath.Base(path[len(path)-1]))
		}
		if state == closed || state == plain {
			d.state = state
			defer fd.Close()
			return f.fill(path, fd, readOn, false)
		}
		d.fd, d.state = int32(fd), state
	}
	how := readAt
	if d.state == keptNoWait {
		how = readAtNoWait
	}
	b, err := f.fill(path, rawFile(d.fd), how, d.whole)
	if err != nil && b == nil {
		d.Close()
	}
	return b, err
}

// Join is the path of parts joined by "/", the empty ones left out.
func Join(parts ...string) string {
	p := ""
	for _, s := range parts {
		switch {
		case s == "":
		case p == "":
			p = s
		default:
			p += "/" + s
		}
	}
	return p
}

// Pathname is the file's path: Path, or Dir/Name.
func (k *File) Pathname() string {
	if k.Path != "" || k.Name == "" {
		return k.Path
	}
	return k.Dir + "/" + k.Name
}

// Named tells whether k names a file (Path or Name set).
func (k *File) Named() bool { return k.Path != "" || k.Name != "" }

// Close closes the descriptor if it is open; a later read opens it again.
func (d *Desc) Close() {
	if d.open() {
		rawFile(d.fd).Close()
		d.state = closed
	}
}

// procOnePiece are the procfs files, by name, that the kernel makes in
// one piece, as a cgroupfs file: a single_open seq_file (stat, meminfo,
// loadavg, uptime, net/sockstat, snmp, netstat, pressure/*; a process's
// stat, status, comm) or a /proc/sys handler (fs/file-nr,
// kernel/random/entropy_avail); a read shorter than the buffer is their
// end, so no second read is made to see it (bench/floor reads them so
// too). vmstat, interrupts, diskstats, net/dev and mountinfo print a
// record at a time.
var procOnePiece = map[string]bool{"stat": true, "meminfo": true, "loadavg": true, "uptime": true,
	"sockstat": true, "sockstat6": true, "snmp": true, "netstat": true, "cpu": true, "memory": true, "io": true,
	"status": true, "comm": true, "file-nr": true, "entropy_avail": true}

// regenerated tells how to keep fd: plain when it is not a file of a
// kernel filesystem (never kept), keptNoWait for procfs and cgroupfs, kept
// for sysfs (see readAtNoWait); and whether the kernel makes its content in
// one piece (whole): procfs' procOnePiece, and a cgroupfs file, printed by
// one seq_show call, so a read shorter than the buffer is its end; the pid
// lists (cgroup.procs, tasks, cgroup.threads) and, before Linux 5.9,
// memory.kmem.slabinfo are printed a record at a time, as procfs' other
// seq_files are, and a read ends where a record did not fit.
func regenerated(fd rawFile, base string) (state descState, whole bool) {
	var st syscall.Statfs_t
	if syscall.Fstatfs(int(fd), &st) != nil {
		return plain, false
	}
	switch uint32(st.Type) {
	case procMagic:
		return keptNoWait, procOnePiece[base]
	case sysfsMagic:
		return kept, false
	case cgroupMagic, cgroup2Magic:
		switch base {
		case "cgroup.procs", "tasks", "cgroup.threads", "memory.kmem.slabinfo":
			return keptNoWait, false
		}
		return keptNoWait, true
	}
	return plain, false
}
