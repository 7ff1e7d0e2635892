// SPDX-License-Identifier: Apache-2.0

// Package kernfile reads and tokenises the small text files of /proc, /sys
// and cgroupfs without allocating in steady state: the host collectors and
// the containers collector read thousands of them per cycle.
package kernfile

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
)

// Caps on what one read returns. A kernel file is never near them (the
// largest, /proc/interrupts of a many-CPU host, is a few MB); a hostile or
// corrupt tree (a 100 MB /proc/stat of repeated cpu0 lines) must cost a
// bounded read and an error, not minutes, gigabytes and millions of lines.
const (
	MaxBytes = 16 << 20  // bytes read from one file
	MaxLines = 256 << 10 // lines parsed from one file
)

// LimitError reports a file over one of the caps. What was read up to the
// cap is returned with it, but a collector should treat the file as bad.
type LimitError struct {
	Path  string
	What  string // "bytes" or "lines"
	Limit int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("read %s: more than %d %s, the cap for one file", e.Path, e.Limit, e.What)
}

// Buf reads small kernel files into a buffer that is reused from cycle to
// cycle, so a steady-state collection allocates nothing for reading. The
// buffer starts at 4 KiB: /proc/sys files make the kernel allocate and zero
// a buffer as large as the read, so a huge first read is slow
// (measured: a 1 MiB read of a /proc/sys file costs ~100x a 4 KiB one).
type Buf struct {
	b    []byte
	path []byte // the path being opened (open)
}

// Read returns the whole content of the file named by path, its parts
// joined only to open it (Join). The slice is valid until the next call.
// A file over MaxBytes or MaxLines gives the content up to the cap (whole
// lines) and a *LimitError.
func (f *Buf) Read(path ...string) ([]byte, error) {
	fd, err := f.open(0, path...)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	// A file of procOnePiece's names is read in one read (on a fixture,
	// a regular file, a short read is the end too).
	return f.fill(path, fd, readOn, procOnePiece[filepath.Base(path[len(path)-1])])
}

// fill reads fd, the file of path (Join; named only in errors), to its
// end: from offset 0 with pread (a descriptor kept open), or from where
// it stands (readOn). whole: the kernel makes the file in one
// piece, so a read shorter than asked is its end (no second read to see
// the end).
func (f *Buf) fill(path []string, fd rawFile, how readHow, whole bool) ([]byte, error) {
	if f.b == nil {
		f.b = make([]byte, 0, 4096)
	}
	b := f.b[:0]
	var lerr error
	for {
		if len(b) > MaxBytes {
			lerr = &LimitError{Path: Join(path...), What: "bytes", Limit: MaxBytes}
			b = b[:MaxBytes]
			break
		}
		if len(b) == cap(b) {
			// Doubling, but never beyond the cap (plus the byte that
			// tells a file over it).
			nb := make([]byte, len(b), min(2*cap(b), MaxBytes+1))
			copy(nb, b)
			b = nb
		}
		p := b[len(b):min(cap(b), MaxBytes+1)]
		n, err := fd.read(p, int64(len(b)), how)
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", Join(path...), err)
		}
		if n == 0 || (whole && n < len(p)) {
			break
		}
	}
	f.b = b
	// Each line has at least its newline: only a file longer than
	// MaxLines bytes can have more lines, so the count costs nothing for
	// the files of every day.
	if len(b) > MaxLines && bytes.Count(b, nl) > MaxLines {
		if lerr == nil {
			lerr = &LimitError{Path: Join(path...), What: "lines", Limit: MaxLines}
		}
		b = b[:nthLineEnd(b, MaxLines)]
	} else if lerr != nil {
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	return b, lerr
}

var nl = []byte{'\n'}

// nthLineEnd is the offset just after the n-th newline of b.
func nthLineEnd(b []byte, n int) int {
	off := 0
	for ; n > 0; n-- {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return len(b)
		}
		off += i + 1
	}
	return off
}

// NextLine splits off the first line of b (without its newline).
func NextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// NextField splits off the first space- or tab-separated field of b.
func NextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\t' {
		j++
	}
	return b[i:j], b[j:]
}

// ParseUint parses a decimal unsigned integer without allocating.
func ParseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// ParseInt parses a decimal signed integer without allocating.
func ParseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := ParseUint(b)
	if !ok || u > 1<<63 || (!neg && u == 1<<63) {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}

// Clip bounds what an error message quotes from a kernel file (a hostile
// /proc tree can hold lines of any length).
func Clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
