// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Spool is an on-disk queue of batches behind the in-memory queue: while
// Carbon is down or slow, batches that no longer fit in memory go to
// append-only segment files, and are replayed from there, oldest first,
// with their original timestamps. It survives restarts and crashes: a
// process killed mid-write leaves a torn last record, which the reader
// detects by its length and checksum and skips, so garbage never reaches
// Carbon.
//
// A segment is a sequence of records:
//
//	uint32 payload length | uint32 lines | uint32 CRC-32C of payload | payload
//
// (little endian). Each run appends to a segment of its own, never to one
// written before, so a torn record can only be the tail of an old segment.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	log      *slog.Logger

	mu      sync.Mutex
	segs    []*segment // oldest first; the last one may be the write segment
	w       *os.File   // write segment, nil until the first Append
	nextSeq uint64
	bytes   int64 // on disk, all segments
	lines   int   // not yet consumed
	dropped uint64

	// Read position in segs[0], and the record Next returned.
	r                  *os.File
	roff               int64
	buf                []byte
	peekLen, peekLines int
}

type segment struct {
	seq   uint64
	path  string
	size  int64
	lines int // unconsumed lines, known for segments this run wrote or scanned
}

const (
	recHeader  = 12
	maxRecord  = 64 << 20
	segPrefix  = "seg-"
	segSuffix  = ".spool"
	defaultSeg = 8 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// OpenSpool opens (creating it) the spool in dir, bounded to maxBytes on
// disk. Segments of earlier runs are scanned so their lines count.
func OpenSpool(dir string, maxBytes int64, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, segBytes: min(defaultSeg, max(maxBytes/4, 64<<10)), log: log}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		seg := &segment{seq: seq, path: filepath.Join(dir, name)}
		if seg.size, seg.lines, err = scanSegment(seg.path); err != nil {
			log.Warn("spool: unreadable segment skipped", "path", seg.path, "err", err)
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.lines += seg.lines
		s.nextSeq = max(s.nextSeq, seq+1)
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	if s.lines > 0 {
		log.Info("spool: replaying lines from an earlier run", "lines", s.lines, "segments", len(s.segs))
	}
	return s, nil
}

// scanSegment counts the whole, valid records of a segment.
func scanSegment(path string) (size int64, lines int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	var buf []byte
	var off int64
	for {
		rec, n, err := readRecord(f, off, &buf)
		if err != nil {
			break // the end, or a torn tail: nothing after it is trusted
		}
		lines += n
		off += int64(recHeader + len(rec))
	}
	return st.Size(), lines, nil
}

// readRecord reads the record at off. It fails on a short, oversized or
// corrupt record.
func readRecord(f io.ReaderAt, off int64, buf *[]byte) ([]byte, int, error) {
	var h [recHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, 0, err
	}
	n := binary.LittleEndian.Uint32(h[0:])
	lines := binary.LittleEndian.Uint32(h[4:])
	sum := binary.LittleEndian.Uint32(h[8:])
	if n == 0 || n > maxRecord || lines == 0 || lines > n {
		return nil, 0, errTorn
	}
	if cap(*buf) < int(n) {
		*buf = make([]byte, n)
	}
	b := (*buf)[:n]
	if _, err := f.ReadAt(b, off+recHeader); err != nil {
		return nil, 0, errTorn
	}
	if crc32.Checksum(b, crcTable) != sum || b[n-1] != '\n' {
		return nil, 0, errTorn
	}
	return b, int(lines), nil
}

var errTorn = errors.New("torn or corrupt spool record")

// Append writes one batch of whole lines. When the spool would exceed its
// bound, whole oldest segments are deleted and their lines counted as
// dropped.
func (s *Spool) Append(b []byte, lines int) error {
	if len(b) == 0 || lines <= 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil || s.segs[len(s.segs)-1].size >= s.segBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	rec := make([]byte, recHeader+len(b))
	binary.LittleEndian.PutUint32(rec[0:], uint32(len(b)))
	binary.LittleEndian.PutUint32(rec[4:], uint32(lines))
	binary.LittleEndian.PutUint32(rec[8:], crc32.Checksum(b, crcTable))
	copy(rec[recHeader:], b)
	if _, err := s.w.Write(rec); err != nil {
		return fmt.Errorf("spool: write %s: %w", s.w.Name(), err)
	}
	cur := s.segs[len(s.segs)-1]
	cur.size += int64(len(rec))
	cur.lines += lines
	s.bytes += int64(len(rec))
	s.lines += lines
	for s.bytes > s.maxBytes && len(s.segs) > 1 {
		s.dropOldest()
	}
	return nil
}

func (s *Spool) rotate() error {
	if s.w != nil {
		s.w.Close()
	}
	seg := &segment{seq: s.nextSeq, path: filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", segPrefix, s.nextSeq, segSuffix))}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.nextSeq++
	s.w = f
	s.segs = append(s.segs, seg)
	return nil
}

func (s *Spool) dropOldest() {
	old := s.segs[0]
	s.dropped += uint64(old.lines)
	s.lines -= old.lines
	s.bytes -= old.size
	s.log.Warn("spool full: oldest segment dropped", "path", old.path, "lines", old.lines)
	s.removeFirst()
}

func (s *Spool) removeFirst() {
	old := s.segs[0]
	s.peekLen, s.peekLines = 0, 0
	if s.r != nil {
		s.r.Close()
		s.r, s.roff = nil, 0
	}
	if len(s.segs) == 1 && s.w != nil {
		s.w.Close()
		s.w = nil
	}
	if err := os.Remove(old.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("spool: cannot remove segment", "path", old.path, "err", err)
	}
	s.segs = s.segs[1:]
}

// Next returns the oldest unconsumed batch (valid until the next call) or
// ok=false when the spool is empty. Call Consume once it was delivered.
func (s *Spool) Next() (b []byte, lines int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		seg := s.segs[0]
		if s.r == nil {
			f, err := os.Open(seg.path)
			if err != nil {
				s.log.Warn("spool: cannot open segment, skipped", "path", seg.path, "err", err)
				s.lines -= seg.lines
				s.bytes -= seg.size
				s.removeFirst()
				continue
			}
			s.r, s.roff = f, 0
		}
		rec, n, err := readRecord(s.r, s.roff, &s.buf)
		if err == nil {
			s.peekLen, s.peekLines = len(rec), n
			return rec, n, true
		}
		if s.w != nil && len(s.segs) == 1 {
			return nil, 0, false // the live write segment: nothing more yet
		}
		if !errors.Is(err, io.EOF) {
			s.log.Warn("spool: torn record skipped", "path", seg.path, "offset", s.roff)
		}
		// The segment is done (or its tail torn): the rest of its lines
		// will never be read.
		s.lines -= seg.lines
		s.bytes -= seg.size
		s.removeFirst()
	}
	return nil, 0, false
}

// Consume marks the batch returned by Next as delivered.
func (s *Spool) Consume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peekLen == 0 || s.r == nil || len(s.segs) == 0 {
		return
	}
	s.roff += int64(recHeader + s.peekLen)
	s.segs[0].lines -= s.peekLines
	s.lines -= s.peekLines
	s.peekLen, s.peekLines = 0, 0
}

// Lines is the number of spooled lines not yet delivered.
func (s *Spool) Lines() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines
}

// Dropped is the number of lines lost because the spool was full.
func (s *Spool) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close closes the files; the segments stay for the next run.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	if s.w != nil {
		err := s.w.Close()
		s.w = nil
		return err
	}
	return nil
}
