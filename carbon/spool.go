// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spool is a durable FIFO of batches on disk: a write-ahead log that a
// Sender appends every batch to before it tries Carbon, so a crash (SIGKILL,
// the OOM killer, the watchdog's exit) loses nothing already enqueued.
// Batches are replayed oldest first with their original timestamps.
//
// It has two cursors. The send cursor is where Next reads; the ack cursor
// is the end of what Carbon is known to have (the sender acknowledges a
// batch once it left the resend window). A broken connection rewinds the
// send cursor to the ack cursor. The ack cursor is persisted (file
// "cursor"), so a restart resends at most the unacknowledged window, and
// segments wholly behind it are deleted.
//
// A segment is a sequence of records (little endian):
//
//	magic | payload length | lines | CRC-32C of payload | CRC-32C of the 16 bytes before | payload
//
// A record with a bad payload checksum is skipped by its (checksummed)
// length; a bad header is skipped by searching for the next valid header.
// Either way only that record is lost, and its lines are counted in
// Dropped. Each run writes segments of its own and a failed write is cut
// back (or its segment sealed), so nothing is ever appended behind a torn
// record.
//
// On a full disk (ENOSPC) or over maxBytes the oldest data goes first:
// drained segments, then the oldest segment, counted.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	log      *slog.Logger
	lock     *os.File // flock'ed: one agent per spool directory
	cur      *os.File // the cursor file

	mu       sync.Mutex
	segs     []*segment // oldest first; the last one may be the write segment
	w        *os.File   // write segment (the last of segs), nil until an Append
	nextSeq  uint64
	bytes    int64 // on disk, all segments
	lines    int   // unacknowledged lines
	unsent   int   // lines after the send cursor
	dropped  uint64
	send     pos
	ack      pos
	inflight []sentRec // records Next returned, not yet acknowledged, in order
	buf      []byte    // read buffer (Next)
	wbuf     []byte    // write buffer (Append)

	saved     pos // the ack cursor last written to the cursor file
	savedAt   time.Time
	syncedAt  time.Time
	dirty     bool // the write segment has data not fsync'ed
	cursorErr bool // a cursor write failed: logged once
	closed    bool
}

// pos is a place in the spool: an offset in the segment of that sequence
// number.
type pos struct {
	seq uint64
	off int64
}

func (p pos) before(q pos) bool { return p.seq < q.seq || (p.seq == q.seq && p.off < q.off) }

type sentRec struct {
	end   pos
	lines int
}

type segment struct {
	seq     uint64
	path    string
	size    int64 // valid end: reading stops here
	lines   int   // unacknowledged valid lines
	r       *os.File
	counted int64 // corrupt records before this offset are already counted
}

const (
	recHeader  = 20
	recMagic   = 0xa71c9ef5 // bytes f5 9e 1c a7: never valid UTF-8, so never in a metric line
	maxRecord  = 64 << 20
	segPrefix  = "seg-"
	segSuffix  = ".spool"
	cursorName = "cursor"
	lockName   = "lock"
	defaultSeg = 8 << 20
	minSeg     = 16 << 10
	// persistEvery bounds how often the ack cursor and the write segment
	// are forced to disk: a crash resends at most this much more than the
	// window.
	persistEvery = time.Second
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrSpoolLocked means another process holds the spool directory.
var ErrSpoolLocked = errors.New("spool directory in use by another process")

var errSpoolClosed = errors.New("spool closed")

// OpenSpool opens (creating it) the spool in dir, bounded to maxBytes on
// disk, and locks it. Segments of earlier runs are scanned from the saved
// read position: their corrupt records are counted in Dropped and logged,
// files that are not regular are skipped (logged), drained ones deleted.
// A directory that cannot be written is an error here, not a silent loss
// later.
func OpenSpool(dir string, maxBytes int64, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("spool %s: %w", dir, ErrSpoolLocked)
		}
		return nil, fmt.Errorf("spool %s: lock: %w", dir, err)
	}
	// Prove the directory takes new files now, not when the data is
	// already lost. A full disk is not a failure: the oldest data makes
	// room then.
	probe := filepath.Join(dir, "probe")
	if f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600); err == nil {
		f.Close()
		os.Remove(probe)
	} else if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		lock.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	cur, err := os.OpenFile(filepath.Join(dir, cursorName), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if err == nil {
		if st, serr := cur.Stat(); serr != nil || !st.Mode().IsRegular() {
			cur.Close()
			err = fmt.Errorf("%s: not a regular file", cur.Name())
		}
	}
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	seg := int64(defaultSeg)
	var fs syscall.Statfs_t
	if syscall.Statfs(dir, &fs) == nil && fs.Blocks > 0 {
		// Small segments on a small disk: dropping the oldest on ENOSPC
		// then loses a sixteenth of it, not all of it.
		seg = min(seg, int64(fs.Blocks)*int64(fs.Bsize)/16)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segBytes: max(min(seg, maxBytes/4), minSeg), log: log, lock: lock, cur: cur}
	if err := s.load(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// load reads the cursor and scans the segments after it.
func (s *Spool) load() error {
	cur, haveCursor := readCursor(s.cur)
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var lost uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		path := filepath.Join(s.dir, name)
		s.nextSeq = max(s.nextSeq, seq+1) // its name is taken, whatever it is
		if !e.Type().IsRegular() {
			s.log.Warn("spool: not a regular file, skipped", "path", path, "type", e.Type().String())
			continue
		}
		if haveCursor && seq < cur.seq {
			os.Remove(path) // drained before the last stop
			continue
		}
		from := int64(0)
		if haveCursor && seq == cur.seq {
			from = cur.off
		}
		size, valid, bad, err := scanSegment(path, from)
		if err != nil {
			s.log.Warn("spool: unreadable segment skipped", "path", path, "err", err)
			continue
		}
		if bad > 0 {
			s.log.Warn("spool: corrupt records skipped", "path", path, "lines", bad)
			lost += uint64(bad)
		}
		sg := &segment{seq: seq, path: path, size: size, lines: valid, counted: size}
		s.segs = append(s.segs, sg)
		s.bytes += size
		s.lines += valid
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	if haveCursor {
		// New segments come after the cursor's, existing or not: one with
		// its number would be read from its offset by the next run.
		s.nextSeq = max(s.nextSeq, cur.seq+1)
	}
	s.dropped = lost
	s.unsent = s.lines
	if len(s.segs) > 0 {
		s.ack = pos{seq: s.segs[0].seq}
		if haveCursor && s.segs[0].seq == cur.seq {
			s.ack.off = min(cur.off, s.segs[0].size)
		}
	} else {
		s.ack = pos{seq: s.nextSeq}
	}
	s.send, s.saved = s.ack, s.ack
	s.reclaim()
	s.saved = pos{seq: ^uint64(0)} // write it now: a stale one may point anywhere
	s.persist()
	if s.lines > 0 {
		s.log.Info("spool: replaying lines from an earlier run", "lines", s.lines, "segments", len(s.segs))
	}
	return nil
}

// The cursor file: seq, offset, CRC-32C of both, overwritten in place (20
// bytes in one sector, so no new block is needed on a full disk; a torn
// one fails its checksum and the spool is read from its oldest segment).
func writeCursor(f *os.File, p pos) error {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:], p.seq)
	binary.LittleEndian.PutUint64(b[8:], uint64(p.off))
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[:16], crcTable))
	_, err := f.WriteAt(b[:], 0)
	return err
}

func readCursor(f *os.File) (pos, bool) {
	var b [20]byte
	if _, err := f.ReadAt(b[:], 0); err != nil || crc32.Checksum(b[:16], crcTable) != binary.LittleEndian.Uint32(b[16:]) {
		return pos{}, false
	}
	return pos{seq: binary.LittleEndian.Uint64(b[0:]), off: int64(binary.LittleEndian.Uint64(b[8:]))}, true
}

// openSegment opens a segment for reading without following a symlink or
// blocking on a FIFO put in its place.
func openSegment(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, nil
}

// scanSegment counts the valid and the lost lines of a segment from off.
func scanSegment(path string, off int64) (size int64, valid, lost int, err error) {
	f, err := openSegment(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, 0, err
	}
	size = st.Size()
	var buf []byte
	for off < size {
		_, n, next, bad := readRecord(f, off, size, &buf)
		valid += n
		lost += bad
		off = next
	}
	return size, valid, lost, nil
}

// readRecord reads the record at off in a segment whose valid data ends at
// end. It returns the payload (nil for a bad record), its lines, where the
// next record starts, and how many lines were lost: a record whose header
// is good but payload bad loses its own lines; a bad header loses what lies
// until the next good header (its newlines are counted).
func readRecord(f io.ReaderAt, off, end int64, buf *[]byte) (rec []byte, lines int, next int64, lost int) {
	var h [recHeader]byte
	if end-off >= recHeader {
		if _, err := f.ReadAt(h[:], off); err == nil {
			if n, l, ok := parseHeader(h[:]); ok {
				if off+recHeader+int64(n) > end { // torn tail
					return nil, 0, end, l
				}
				if cap(*buf) < n {
					*buf = make([]byte, n)
				}
				b := (*buf)[:n]
				if _, err := f.ReadAt(b, off+recHeader); err == nil &&
					crc32.Checksum(b, crcTable) == binary.LittleEndian.Uint32(h[12:]) && b[n-1] == '\n' {
					return b, l, off + recHeader + int64(n), 0
				}
				return nil, 0, off + recHeader + int64(n), l
			}
		}
	}
	// Bad header: find the next good one.
	next, lost = resync(f, off+1, end)
	return nil, 0, next, lost
}

func parseHeader(h []byte) (n, lines int, ok bool) {
	if binary.LittleEndian.Uint32(h[0:]) != recMagic || crc32.Checksum(h[:16], crcTable) != binary.LittleEndian.Uint32(h[16:]) {
		return 0, 0, false
	}
	n, lines = int(binary.LittleEndian.Uint32(h[4:])), int(binary.LittleEndian.Uint32(h[8:]))
	if n == 0 || n > maxRecord || lines == 0 || lines > n {
		return 0, 0, false
	}
	return n, lines, true
}

// resync scans from off for the next valid header; it returns its offset
// (or end) and the newlines in the bytes skipped (the lines lost).
func resync(f io.ReaderAt, off, end int64) (int64, int) {
	magic := binary.LittleEndian.AppendUint32(nil, recMagic)
	chunk := make([]byte, 64<<10)
	lost := 0
	start := off - 1
	for off < end {
		n := min(int64(len(chunk)), end-off)
		b := chunk[:n]
		if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			break
		}
		for i := 0; i < len(b); {
			j := bytes.Index(b[i:], magic)
			if j < 0 {
				break
			}
			at := off + int64(i+j)
			var h [recHeader]byte
			if end-at >= recHeader {
				if _, err := f.ReadAt(h[:], at); err == nil {
					if _, _, ok := parseHeader(h[:]); ok {
						return at, lost + countNL(f, start, at)
					}
				}
			}
			i += j + 1
		}
		// Keep the last 3 bytes: a magic may straddle two chunks.
		if off+n >= end {
			break
		}
		off += max(n-3, 1)
	}
	return end, lost + countNL(f, start, end)
}

func countNL(f io.ReaderAt, from, to int64) int {
	b := make([]byte, 64<<10)
	n := 0
	for from < to {
		k := min(int64(len(b)), to-from)
		if _, err := f.ReadAt(b[:k], from); err != nil && !errors.Is(err, io.EOF) {
			return n
		}
		n += bytes.Count(b[:k], []byte{'\n'})
		from += k
	}
	return n
}

// Append writes one batch of whole lines. Over maxBytes, or on a full
// disk, the oldest data goes first (counted in Dropped); when even that
// does not make room, the batch itself is dropped, counted, and the error
// returned.
func (s *Spool) Append(b []byte, lines int) error {
	if len(b) == 0 || lines <= 0 {
		return nil
	}
	sum := crc32.Checksum(b, crcTable)
	s.mu.Lock()
	defer s.mu.Unlock()
	// One write per record (never a header without its payload), from a
	// buffer reused under mu.
	rec := slices.Grow(s.wbuf[:0], recHeader+len(b))[:recHeader]
	binary.LittleEndian.PutUint32(rec[0:], recMagic)
	binary.LittleEndian.PutUint32(rec[4:], uint32(len(b)))
	binary.LittleEndian.PutUint32(rec[8:], uint32(lines))
	binary.LittleEndian.PutUint32(rec[12:], sum)
	binary.LittleEndian.PutUint32(rec[16:], crc32.Checksum(rec[:16], crcTable))
	rec = append(rec, b...)
	if s.wbuf = rec; cap(rec) > 1<<20 {
		s.wbuf = nil // one huge batch must not pin its size for good
	}
	if s.closed {
		s.dropped += uint64(lines)
		return errSpoolClosed
	}
	for {
		err := s.write(rec)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) || !s.makeRoom() {
			s.dropped += uint64(lines)
			return err
		}
	}
	cur := s.segs[len(s.segs)-1]
	cur.size += int64(len(rec))
	cur.lines += lines
	s.bytes += int64(len(rec))
	s.lines += lines
	s.unsent += lines
	s.dirty = true
	for s.bytes > s.maxBytes && len(s.segs) > 1 {
		s.dropFirst("spool full: oldest segment dropped")
	}
	return nil
}

// write appends rec to the write segment, rotating it when full. A short
// write is cut back; when that fails the segment is sealed, so the next
// record never lands behind a torn one.
func (s *Spool) write(rec []byte) error {
	if s.w == nil || s.segs[len(s.segs)-1].size >= s.segBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	cur := s.segs[len(s.segs)-1]
	n, err := s.w.Write(rec)
	if err == nil {
		return nil
	}
	if n > 0 {
		if terr := s.w.Truncate(cur.size); terr != nil {
			s.log.Warn("spool: cannot cut back a short write, segment sealed", "path", cur.path, "err", terr)
			s.seal()
		}
	}
	return fmt.Errorf("spool: write %s: %w", cur.path, err)
}

// seal stops appending to the write segment.
func (s *Spool) seal() {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

func (s *Spool) rotate() error {
	s.seal()
	s.reclaim()
	seg := &segment{seq: s.nextSeq, path: filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", segPrefix, s.nextSeq, segSuffix)), counted: -1}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.nextSeq++
	s.w = f
	if len(s.segs) == 0 {
		s.ack, s.send = pos{seq: seg.seq}, pos{seq: seg.seq}
	}
	s.segs = append(s.segs, seg)
	return nil
}

// makeRoom frees space on a full disk: a drained write segment first (no
// loss), else the oldest segment (counted). It reports whether it freed
// anything.
func (s *Spool) makeRoom() bool {
	if len(s.segs) == 0 {
		return false
	}
	first := s.segs[0]
	if first.lines == 0 && s.ack.seq == first.seq && s.ack.off >= first.size {
		s.dropFirst("") // drained: nothing lost
		return true
	}
	if first.size == 0 {
		return false // nothing to free: the disk is full without us
	}
	s.dropFirst("disk full: oldest spool segment dropped")
	return true
}

// reclaim deletes the segments wholly behind the ack cursor (the write
// segment stays while it is written).
func (s *Spool) reclaim() {
	for len(s.segs) > 0 {
		f := s.segs[0]
		live := s.w != nil && len(s.segs) == 1
		if f.seq >= s.ack.seq && (live || f.seq != s.ack.seq || s.ack.off < f.size) {
			return
		}
		s.dropFirst("spool: segment removed with unacknowledged lines")
	}
}

// dropFirst deletes the oldest segment; its unacknowledged lines are
// counted as dropped and logged with why.
func (s *Spool) dropFirst(why string) {
	old := s.segs[0]
	if old.lines > 0 {
		s.dropped += uint64(old.lines)
		s.log.Warn(why, "path", old.path, "lines", old.lines)
	}
	s.lines -= old.lines
	s.unsent -= s.unsentIn(old)
	s.bytes -= old.size
	if len(s.segs) == 1 {
		s.seal()
	}
	if old.r != nil {
		old.r.Close()
	}
	os.Remove(old.path)
	s.segs = s.segs[1:]
	k := 0
	for k < len(s.inflight) && s.inflight[k].end.seq <= old.seq {
		k++
	}
	s.inflight = s.inflight[k:]
	next := pos{seq: s.nextSeq}
	if len(s.segs) > 0 {
		next = pos{seq: s.segs[0].seq}
	}
	if s.send.before(next) {
		s.send = next
	}
	if s.ack.before(next) {
		s.ack = next
	}
}

// unsentIn is how many of seg's unacknowledged lines lie after the send
// cursor.
func (s *Spool) unsentIn(seg *segment) int {
	if s.send.seq < seg.seq {
		return seg.lines
	}
	if s.send.seq > seg.seq {
		return 0
	}
	n := seg.lines
	for _, r := range s.inflight {
		if r.end.seq == seg.seq {
			n -= r.lines
		}
	}
	return n
}

func (s *Spool) seg(seq uint64) *segment {
	for _, sg := range s.segs {
		if sg.seq == seq {
			return sg
		}
	}
	return nil
}

// Next returns the batch at the send cursor (valid until the next call)
// and moves the cursor past it, or ok=false when everything was sent.
func (s *Spool) Next() (b []byte, lines int, ok bool) {
	b, lines, _, ok = s.next()
	return b, lines, ok
}

// next is Next that also returns the batch's end, for ackTo.
func (s *Spool) next() (b []byte, lines int, end pos, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < len(s.segs); i++ {
		sg := s.segs[i]
		if sg.seq < s.send.seq {
			continue
		}
		if sg.seq > s.send.seq {
			s.send = pos{seq: sg.seq}
		}
		for s.send.off < sg.size {
			if sg.r == nil {
				f, err := openSegment(sg.path)
				if err != nil {
					s.log.Warn("spool: cannot open segment, its lines are lost", "path", sg.path, "err", err, "lines", sg.lines)
					s.dropped += uint64(sg.lines)
					s.lines -= sg.lines
					s.unsent -= s.unsentIn(sg)
					sg.lines = 0
					break
				}
				sg.r = f
			}
			rec, n, next, lost := readRecord(sg.r, s.send.off, sg.size, &s.buf)
			if lost > 0 && s.send.off >= sg.counted {
				s.log.Warn("spool: corrupt record skipped", "path", sg.path, "offset", s.send.off, "lines", lost)
				s.dropped += uint64(lost)
				s.lines -= lost
				s.unsent -= lost
				sg.lines -= lost
				sg.counted = next
			}
			if rec == nil && len(s.inflight) == 0 && s.ack == s.send {
				// Nothing unacknowledged before the bad bytes: the ack
				// cursor passes them too, so they are not read again.
				s.ack.off = next
			}
			s.send.off = next
			if rec != nil {
				s.inflight = append(s.inflight, sentRec{end: s.send, lines: n})
				s.unsent -= n
				return rec, n, s.send, true
			}
		}
	}
	return nil, 0, s.send, false
}

// mark is the send cursor: the end of the batch Next returned last.
func (s *Spool) mark() pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.send
}

// ackTo acknowledges every batch up to p: they need never be sent again.
// Segments wholly behind it are deleted.
func (s *Spool) ackTo(p pos) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := 0
	for ; k < len(s.inflight) && !p.before(s.inflight[k].end); k++ {
		r := s.inflight[k]
		if sg := s.seg(r.end.seq); sg != nil {
			sg.lines -= r.lines
		}
		s.lines -= r.lines
	}
	s.inflight = s.inflight[k:]
	if s.ack.before(p) {
		s.ack = p
	}
	s.reclaim()
	if time.Since(s.savedAt) >= persistEvery {
		s.persist()
	}
}

// Consume acknowledges everything Next returned.
func (s *Spool) Consume() { s.ackTo(s.mark()) }

// Rewind moves the send cursor back to the ack cursor: after a broken
// connection everything not acknowledged is sent again.
func (s *Spool) Rewind() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.inflight {
		s.unsent += r.lines
	}
	s.inflight = s.inflight[:0]
	s.send = s.ack
}

// Sync forces the write segment and the ack cursor to disk, at most once
// per second (the sender calls it whenever it is idle).
func (s *Spool) Sync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.syncedAt) < persistEvery {
		return
	}
	s.syncedAt = time.Now()
	if s.dirty && s.w != nil {
		s.w.Sync()
		s.dirty = false
	}
	s.persist()
}

// persist writes the ack cursor when it moved. Called with mu held.
func (s *Spool) persist() {
	if s.saved == s.ack {
		return
	}
	if err := writeCursor(s.cur, s.ack); err != nil {
		if !s.cursorErr {
			s.log.Warn("spool: cannot save the read position (a restart resends more)", "err", err)
			s.cursorErr = true
		}
		return
	}
	s.saved, s.savedAt = s.ack, time.Now()
}

// Lines is the number of spooled lines not yet acknowledged.
func (s *Spool) Lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines
}

// Unsent is the number of spooled lines after the send cursor.
func (s *Spool) Unsent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsent
}

// Dropped is the number of lines lost: spool full, disk full, corrupt.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close saves the read position, closes the files and unlocks; the
// segments stay for the next run.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	var err error
	if s.w != nil {
		s.w.Sync()
		err = s.w.Close()
		s.w = nil
	}
	for _, sg := range s.segs {
		if sg.r != nil {
			sg.r.Close()
			sg.r = nil
		}
	}
	if s.lock != nil {
		s.persist()
		s.cur.Close()
		s.lock.Close()
		s.lock = nil
	}
	return err
}
