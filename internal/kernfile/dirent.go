// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"bytes"
	"encoding/binary"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Dirents calls fn with the name and type (syscall.DT_*) of each entry of
// the directory open at fd, from where its offset stands, read with
// getdents into buf, so a listing allocates nothing (os.ReadDir makes a
// DirEntry and a name string per entry, and sorts them); "." and ".." are
// left out. name is valid only during the call.
func Dirents(fd int, buf []byte, fn func(name []byte, typ uint8)) error {
	for {
		n, err := syscall.ReadDirent(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: ino, off, reclen (at 16), type, name.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ, name := b[18], b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if len(name) > 0 && string(name) != "." && string(name) != ".." {
				fn(name, typ)
			}
		}
	}
}

// Dir lists the directory of path's parts (joined as Read joins them) as
// Dirents does, into f's buffer: fn must not read through f.
func (f *Buf) Dir(fn func(name []byte, typ uint8), path ...string) error {
	fd, err := f.open(syscall.O_DIRECTORY, path...)
	if err != nil {
		return err
	}
	defer fd.Close()
	if cap(f.b) < 4096 {
		f.b = make([]byte, 0, 4096)
	}
	if err := Dirents(int(fd), f.b[:cap(f.b)], fn); err != nil {
		return &os.PathError{Op: "readdirent", Path: Join(path...), Err: err}
	}
	return nil
}

// IsDir tells whether dir/name is a directory: an entry that Dirents gave
// as DT_UNKNOWN (a file system that does not say a type in its listing).
func IsDir(dir string, name []byte) bool {
	fi, err := os.Stat(dir + "/" + string(name))
	return err == nil && fi.IsDir()
}

// Exists tells whether the file of path's parts (joined as Read joins
// them) is there, as os.Stat would find it, without making its path a
// string: an O_PATH open, closed at once.
func (f *Buf) Exists(path ...string) bool {
	fd, err := f.open(unix.O_PATH, path...)
	if err != nil {
		return false
	}
	fd.Close()
	return true
}
