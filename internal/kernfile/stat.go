// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

// /proc/stat is read by several collectors in the same cycle (cpu, proc,
// loadavg's CPU count fallback, docker's system CPU time). This file is its
// one parser, and StatReader its one reader:
//
//	cpu  3476 0 2862 749741 257 0 243 0 0 0
//	cpu0 1233 0 962 375879 6 0 118 0 0 0
//	intr 114930548 113199788 3 0 5 263 0 4 [... many more ...]
//	ctxt 1990473
//	btime 1062191376
//	processes 2915
//	procs_running 1
//	procs_blocked 0

// CPUColumns is the number of counters of a cpu line on current kernels
// (user nice system idle iowait irq softirq steal guest guest_nice). Old
// kernels have fewer (4, 7, 8 or 9); a future kernel's extra columns are
// ignored.
const CPUColumns = 10

// MaxCPUIndex bounds N of a cpuN line: Linux builds with at most 8192
// CPUs (x86 MAXSMP), so a larger index is a corrupt line, and must not
// make a per-CPU cache grow without bound.
const MaxCPUIndex = 1 << 14

// StatCPU is one cpu line of /proc/stat.
type StatCPU struct {
	N     int // -1 for the "cpu" line (all CPUs), else the N of cpuN
	Cols  int // counters the line had, 4 to CPUColumns; 0 if it was bad
	Ticks [CPUColumns]uint64
}

// StatKeys are the scheduler lines of /proc/stat that Stat keeps, in the
// order of Stat.Keys.
var StatKeys = [...]string{"ctxt", "processes", "procs_running", "procs_blocked", "btime"}

// Stat is /proc/stat parsed. Its storage is reused from parse to parse, so
// a steady-state parse allocates nothing.
type Stat struct {
	// CPUs are the cpu lines with a good label, in file order: the kernel
	// lists "cpu" then cpuN in increasing N. A repeated or out-of-order
	// line is left out (it would publish a path twice; a hostile file of
	// repeated cpu0 lines published millions), as is a label such as
	// "cpuX"; both set CPUErr. A line with bad counters is kept with
	// Cols 0: it still names a CPU.
	CPUs []StatCPU
	// CPUErr is the first bad cpu line ("line 3: ..."), nil if none.
	CPUErr error
	// Keys holds the values of the StatKeys lines (the first of each,
	// should one repeat); Seen[i] tells whether StatKeys[i] was present
	// and well formed.
	Keys [len(StatKeys)]uint64
	Seen [len(StatKeys)]bool
	// KeysErr is the first StatKeys line with a bad value, nil if none.
	KeysErr error

	gen uint64 // the StatReader read this is a copy of
}

// OnlineCPUs is the number of cpuN lines (with a good label, bad counters
// or not): the CPUs online, as glibc's get_nprocs counts them when sysfs
// is not there.
func (st *Stat) OnlineCPUs() int {
	n := 0
	for i := range st.CPUs {
		if st.CPUs[i].N >= 0 {
			n++
		}
	}
	return n
}

// Total is the "cpu" line (the sum over CPUs), if it was there and good.
func (st *Stat) Total() (*StatCPU, bool) {
	if len(st.CPUs) > 0 && st.CPUs[0].N == -1 && st.CPUs[0].Cols > 0 {
		return &st.CPUs[0], true
	}
	return nil, false
}

// ParseStat parses b (the content of /proc/stat) into st. Every error
// names its line; the rest of the file is still parsed.
func ParseStat(b []byte, st *Stat) {
	st.CPUs = st.CPUs[:0]
	st.CPUErr, st.KeysErr = nil, nil
	st.Keys, st.Seen = [len(StatKeys)]uint64{}, [len(StatKeys)]bool{}
	last := -2
	for rest, lineNo := b, 1; len(rest) > 0; lineNo++ {
		var line []byte
		line, rest = NextLine(rest)
		label, fields := NextField(line)
		if n, ok, bad := cpuLabel(label); ok {
			switch {
			case bad:
				st.cpuErr(fmt.Errorf("line %d: bad cpu label %q", lineNo, label))
			case n <= last:
				st.cpuErr(fmt.Errorf("line %d: %q repeated or out of order", lineNo, label))
			default:
				last = n
				st.CPUs = append(st.CPUs, StatCPU{N: n})
				c := &st.CPUs[len(st.CPUs)-1]
				k, err := parseCPULine(fields, &c.Ticks)
				if err != nil {
					st.cpuErr(fmt.Errorf("line %d: %w", lineNo, err))
				}
				c.Cols = k
			}
			continue
		}
		if len(label) == 0 || label[0] < 'b' || label[0] > 'p' {
			continue // intr, softirq: most of the file's bytes
		}
		for i, key := range StatKeys {
			if st.Seen[i] || string(label) != key {
				continue
			}
			f, _ := NextField(fields)
			v, ok := ParseUint(f)
			if !ok {
				if st.KeysErr == nil {
					st.KeysErr = fmt.Errorf("line %d: bad %s value %q", lineNo, key, f)
				}
				break
			}
			st.Keys[i], st.Seen[i] = v, true
			break
		}
	}
}

func (st *Stat) cpuErr(err error) {
	if st.CPUErr == nil {
		st.CPUErr = err
	}
}

// copyTo copies st into dst, reusing dst's storage.
func (st *Stat) copyTo(dst *Stat) {
	cpus := append(dst.CPUs[:0], st.CPUs...)
	*dst = *st
	dst.CPUs = cpus
}

// parseCPULine parses the counters after the "cpu"/"cpuN" label into v and
// returns how many there were (at least 4: user nice system idle). On an
// error it returns 0.
func parseCPULine(rest []byte, v *[CPUColumns]uint64) (int, error) {
	n := 0
	for {
		var f []byte
		f, rest = NextField(rest)
		if len(f) == 0 {
			break
		}
		if n == len(v) {
			break // a future kernel's extra column
		}
		x, ok := ParseUint(f)
		if !ok {
			return 0, fmt.Errorf("bad counter %q", f)
		}
		v[n] = x
		n++
	}
	if n < 4 {
		return 0, fmt.Errorf("%d counters, want at least 4", n)
	}
	return n, nil
}

// cpuLabel returns -1 for the "cpu" total line, N for "cpuN", and ok=false
// for any other line (intr, ctxt, ...). A "cpuN" whose N is not a number
// or is out of range gives ok=true and bad=true.
func cpuLabel(label []byte) (n int, ok, bad bool) {
	if !bytes.HasPrefix(label, []byte("cpu")) {
		return 0, false, false
	}
	if len(label) == 3 {
		return -1, true, false
	}
	u, good := ParseUint(label[3:])
	if !good || u >= MaxCPUIndex {
		return 0, true, true
	}
	return int(u), true, false
}

// StatReader reads and parses <procfs>/stat for every collector that needs
// it. Built once and handed to each of them, it reads the file once per
// cycle: the first collector to ask for a cycle's sample time reads, the
// others get a copy of that parse. The kernel makes /proc/stat afresh at
// every read, summing every CPU's counters and every IRQ's count over
// CPUs, so on a many-CPU host it is among the costliest files of a cycle;
// one read also gives the collectors one consistent view.
//
// The collectors run concurrently and a late one may still be reading
// while the next cycle starts: each caller gets its own copy (dst), made
// under the lock, so no parse is shared across goroutines.
type StatReader struct {
	mu   sync.Mutex
	file File
	buf  Buf
	st   Stat
	err  error     // the read's error
	at   time.Time // the sample time of the last read
	gen  uint64    // bumped at every read
}

// NewStatReader reads path, normally <procfs>/stat.
func NewStatReader(path string) *StatReader {
	return &StatReader{file: File{Path: path}}
}

// Path is the file read, for error messages.
func (r *StatReader) Path() string { return r.file.Path }

// Read fills dst with the parse of the file as of sample time t. The file
// is read again unless it was already read for t and dst does not already
// hold that read: a caller asking twice for the same t (a test that
// rewrites its fixture between calls) reads afresh.
//
// A read error (including a *LimitError, whose content is not parsed) is
// returned and dst is left empty.
func (r *StatReader) Read(t time.Time, dst *Stat) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gen == 0 || !r.at.Equal(t) || dst.gen == r.gen {
		r.gen++
		r.at = t
		var b []byte
		b, r.err = r.buf.ReadFile(&r.file)
		if r.err == nil {
			ParseStat(b, &r.st)
		} else {
			ParseStat(nil, &r.st)
		}
	}
	r.st.copyTo(dst)
	dst.gen = r.gen
	return r.err
}

// Close closes the file kept open; a later Read opens it again.
func (r *StatReader) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.file.Close()
}
