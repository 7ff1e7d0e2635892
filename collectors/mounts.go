// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"fmt"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// mountEntry is one mounted filesystem as the mount table lists it. The
// byte slices point into the buffer that was parsed and keep the kernel's
// octal escapes (a space is "\040"): Diamond names a filesystem after the
// escaped mount point, while syscalls need unescapeMount's result.
type mountEntry struct {
	Device     []byte // mount source: /dev/sda1, tmpfs, host:/export
	MountPoint []byte // escaped, e.g. /mnt/a\040b
	FSType     []byte // ext4, nfs4, tmpfs ...
}

// parseMountInfo reads /proc/<pid>/mountinfo lines into dst[:0]:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// (mount id, parent id, major:minor, root, mount point, options, optional
// fields ended by "-", fs type, source, super options). A malformed line is
// skipped and reported in the error; the good lines are still returned.
func parseMountInfo(b []byte, dst []mountEntry) ([]mountEntry, error) {
	dst = dst[:0]
	var firstErr error
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = kernfile.NextLine(b)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := parseMountInfoLine(line)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("line %d: %w", n, err)
			}
			continue
		}
		dst = append(dst, e)
	}
	return dst, firstErr
}

func parseMountInfoLine(line []byte) (mountEntry, error) {
	var e mountEntry
	var id, parent, devno, mp, opts []byte
	rest := line
	id, rest = kernfile.NextField(rest)
	parent, rest = kernfile.NextField(rest)
	devno, rest = kernfile.NextField(rest)
	_, rest = kernfile.NextField(rest) // root within the filesystem: not needed
	mp, rest = kernfile.NextField(rest)
	opts, rest = kernfile.NextField(rest)
	if len(opts) == 0 {
		return e, fmt.Errorf("want at least 10 fields, got %q", line)
	}
	if _, ok := kernfile.ParseUint(id); !ok {
		return e, fmt.Errorf("bad mount id %q", id)
	}
	if _, ok := kernfile.ParseUint(parent); !ok {
		return e, fmt.Errorf("bad parent id %q", parent)
	}
	maj, min, ok := bytes.Cut(devno, []byte(":"))
	if _, okMaj := kernfile.ParseUint(maj); !ok || !okMaj {
		return e, fmt.Errorf("bad major:minor %q", devno)
	}
	if _, okMin := kernfile.ParseUint(min); !okMin {
		return e, fmt.Errorf("bad major:minor %q", devno)
	}
	// The root is usually a path, but an nsfs mount (Docker's and ip
	// netns's network namespaces) has "net:[4026531833]": only the mount
	// point must be absolute.
	if mp[0] != '/' {
		return e, fmt.Errorf("mount point %q must be absolute", mp)
	}
	// Optional fields (shared:N, master:N ...) run up to a lone "-".
	for {
		var f []byte
		f, rest = kernfile.NextField(rest)
		if len(f) == 0 {
			return e, fmt.Errorf("no \"-\" separator in %q", line)
		}
		if len(f) == 1 && f[0] == '-' {
			break
		}
	}
	fstype, rest := kernfile.NextField(rest)
	source, _ := kernfile.NextField(rest)
	if len(fstype) == 0 || len(source) == 0 {
		return e, fmt.Errorf("missing fs type or source in %q", line)
	}
	return mountEntry{Device: source, MountPoint: mp, FSType: fstype}, nil
}

// parseMounts reads /proc/mounts (fstab format) lines into dst[:0]:
//
//	/dev/sda1 / ext4 rw,relatime 0 0
//
// Lines with fewer than three fields are skipped and reported in the error.
func parseMounts(b []byte, dst []mountEntry) ([]mountEntry, error) {
	dst = dst[:0]
	var firstErr error
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = kernfile.NextLine(b)
		dev, rest := kernfile.NextField(line)
		if len(dev) == 0 {
			continue
		}
		mp, rest := kernfile.NextField(rest)
		fstype, _ := kernfile.NextField(rest)
		if len(fstype) == 0 {
			if firstErr == nil {
				firstErr = fmt.Errorf("line %d: want at least 3 fields, got %q", n, line)
			}
			continue
		}
		dst = append(dst, mountEntry{Device: dev, MountPoint: mp, FSType: fstype})
	}
	return dst, firstErr
}

// unescapeMount undoes the kernel's octal escapes of space, tab, newline
// and backslash (\040 \011 \012 \134) in a mount table field. Any other
// backslash is kept as is.
func unescapeMount(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+3 < len(b) && isOctal(b[i+1]) && isOctal(b[i+2]) && isOctal(b[i+3]) {
			v := int(b[i+1]-'0')<<6 | int(b[i+2]-'0')<<3 | int(b[i+3]-'0')
			if v <= 0xff {
				out = append(out, byte(v))
				i += 3
				continue
			}
		}
		out = append(out, b[i])
	}
	return string(out)
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
