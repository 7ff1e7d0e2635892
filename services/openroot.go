// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"slices"

	"golang.org/x/sys/unix"
)

// MaxFileBytes caps what is read of one file inside a container: a
// configuration is a few KB, a planted huge file must not be loaded.
const MaxFileBytes = 200 << 10

// ErrNoOpenat2 means the kernel lacks openat2 (Linux < 5.6): files inside
// containers cannot be read safely, so they are not read at all.
var ErrNoOpenat2 = errors.New("kernel lacks openat2 (Linux 5.6+ needed to read files inside containers)")

// Root is a container's root directory as the host sees it
// (<procfs>/<pid>/root, which needs ptrace access to the pid). Every path
// is resolved by the kernel inside it: "..", absolute symlinks and
// symlinks to "/etc/shadow" stay inside the container, and magic links
// (/proc/self/root and the like) are refused.
type Root struct{ dir string }

// NewRoot is the root at dir: "<procfs>/<pid>/root", or "/" for the host.
func NewRoot(dir string) Root { return Root{dir: dir} }

const resolve = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// open opens name (absolute or relative, always inside the root).
func (r Root) open(name string, flags uint64) (*os.File, error) {
	d, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", r.dir, err)
	}
	defer unix.Close(d)
	fd, err := unix.Openat2(d, name, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: resolve})
	if errors.Is(err, unix.ENOSYS) {
		return nil, ErrNoOpenat2
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// ReadFile reads a regular file of at most MaxFileBytes.
func (r Root) ReadFile(name string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at a configuration path must not hang us.
	f, err := r.open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d KB, not read", name, MaxFileBytes>>10)
	}
	return b, nil
}

// Glob expands a pattern whose last element may hold wildcards (nginx's
// "include conf.d/*.conf"), sorted as nginx does.
func (r Root) Glob(pattern string) ([]string, error) {
	dir, file := path.Split(pattern)
	if !hasMeta(file) {
		return []string{pattern}, nil
	}
	if hasMeta(dir) {
		return nil, fmt.Errorf("%s: wildcards only in the last element are supported", pattern)
	}
	f, err := r.open(dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(4096)
	if err != nil && err != io.EOF {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(file, n); ok {
			out = append(out, path.Join(dir, n))
		}
	}
	slices.Sort(out)
	return out, nil
}

func hasMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[':
			return true
		}
	}
	return false
}

// DialUnix connects to the unix socket at name inside the root. The
// socket file is opened with O_PATH through openat2 (so the path resolves
// inside the container) and connected to through its /proc/self/fd link:
// a unix socket bound to a path is reached through the file system, in
// whatever network namespace.
func (r Root) DialUnix(ctx context.Context, name string) (net.Conn, error) {
	f, err := r.open(name, unix.O_PATH)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var d net.Dialer
	return d.DialContext(ctx, "unix", fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
}
