// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// rawFile is a bare descriptor read with plain system calls. os.Open
// registers every procfs, sysfs and cgroupfs file with the runtime's
// network poller (they support poll), which costs an fcntl and two
// epoll_ctl per file and wakes the scheduler for each: measured with 1000
// containers (11 cgroup files each) that was a third of the agent's CPU.
type rawFile int

func openRaw(path string) (rawFile, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return rawFile(fd), nil
	}
}

// read reads into p, at off with pread when at is set (a descriptor kept
// open across cycles), else from where the descriptor stands; io.EOF at
// the end.
func (r rawFile) read(p []byte, off int64, at bool) (int, error) {
	for {
		var n int
		var err error
		if at {
			n, err = syscall.Pread(int(r), p, off)
		} else {
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
	kept  bool // fd is open
	plain bool // not a kernel filesystem: never kept
	whole bool // made in one piece (fill)
	fd    int32
}

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
	if !d.kept {
		fd, err := openRaw(Join(path...))
		if err != nil {
			return nil, err
		}
		keep := false
		if !d.Once && !d.plain {
			keep, d.whole = regenerated(fd, filepath.Base(path[len(path)-1]))
		}
		if !keep {
			d.plain = !d.Once
			defer fd.Close()
			return f.fill(path, fd, false, false)
		}
		d.fd, d.kept = int32(fd), true
	}
	b, err := f.fill(path, rawFile(d.fd), true, d.whole)
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
	if d.kept {
		rawFile(d.fd).Close()
		d.kept = false
	}
}

// regenerated tells whether fd is a file of a kernel filesystem (keep),
// and whether the kernel makes its content in one piece (whole): a
// cgroupfs file is printed by one seq_show call, so a read shorter than
// the buffer is its end; the pid lists (cgroup.procs, tasks,
// cgroup.threads) and, before Linux 5.9, memory.kmem.slabinfo are printed
// a record at a time, as procfs' seq_files are, and a read ends where a
// record did not fit.
func regenerated(fd rawFile, base string) (keep, whole bool) {
	var st syscall.Statfs_t
	if syscall.Fstatfs(int(fd), &st) != nil {
		return false, false
	}
	switch uint32(st.Type) {
	case procMagic, sysfsMagic:
		return true, false
	case cgroupMagic, cgroup2Magic:
		switch base {
		case "cgroup.procs", "tasks", "cgroup.threads", "memory.kmem.slabinfo":
			return true, false
		}
		return true, true
	}
	return false, false
}
