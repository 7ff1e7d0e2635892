// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/bits"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
	"github.com/nodemetrics/nodemetrics/internal/nowait"
)

// diskspace publishes the space and inodes of the host's real filesystems,
// as Diamond's DiskSpaceCollector does (docs/metrics.md, diskspace). The mount table
// is re-read every cycle (a disk mounted after start appears), from the
// host's PID 1 so that a container sees the host's mounts:
//
//	26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
//
// -> diskspace.root.byte_percentfree, byte_used, byte_free, byte_avail,
// inodes_percentfree, inodes_used, inodes_free, inodes_avail (gauges; bytes
// from statfs of <rootfs>/<mount point>).
//
// For network filesystems (mayHang) stat and statfs run on a worker
// goroutine with a timeout: a dead NFS server must not hang the agent. A
// mount whose call timed out is "stuck" and skipped until that call
// returns. Local filesystems are called directly, without the scheduler's
// system-call bookkeeping (package nowait: they answer from memory, and a
// call with it woke the runtime's monitor thread, a quarter of the
// agent's CPU for the host alone).
type diskspace struct {
	h     collect.Host
	log   *slog.Logger
	files [3]*kernfile.File // <procfs>/1/mountinfo, <procfs>/1/mounts, <procfs>/mounts
	buf   kernfile.Buf

	filesystems []string       // Diamond's filesystems
	exclude     *regexp.Regexp // Diamond's exclude_filters, searched in the mount point

	// local: package nowait's; remote: package syscall's, which may
	// block (the runtime hands the processor on meanwhile).
	local, remote fsCalls
	timeout       time.Duration

	mounts []mountEntry
	perr   error               // mounts' parse error
	from   *kernfile.File      // the table mounts was parsed from, polled for a change
	table  []byte              // its bytes
	tables uint64              // incremented when the table changes
	cache  map[string]*dsMount // by escaped mount point
	seen   map[uint64]struct{} // st_dev already published this cycle
	gen    uint64

	labelsDir string
	labelsMod syscall.Timespec  // mtime of labelsDir when labels was read
	labels    map[string]string // resolved device path -> label
	labelsGen int

	timer *time.Timer
	w     *fsWorker
	ents  []*dsMount          // this cycle's candidate mounts, in table order
	res   []fsResult          // their stat/statfs results
	st    syscall.Stat_t      // scratch for local stat calls
	batch []string            // paths of the remote ones, for the worker
	mu    sync.Mutex          // guards stuck, shared with abandoned workers
	stuck map[string]struct{} // statfs paths whose call has not returned
}

// fsCalls are stat and statfs; tests substitute them.
type fsCalls struct {
	stat   func(path string, st *syscall.Stat_t) error
	statfs func(path string, st *syscall.Statfs_t) error
}

// dsMount is what a mount point costs to name, kept across cycles.
type dsMount struct {
	device    string // mount source the name was computed for
	labelsGen int
	path      string // unescaped mount point below the host root
	mp        string // for logs
	remote    bool   // a network filesystem: stat/statfs may hang
	paths     [8]string
	gen       uint64
	// The st_dev of a local mount point, stat'd under mount table
	// devTable: the device a path resolves to changes only with the
	// mount table, so it is stat'd again only then (statfs, the data,
	// runs every cycle).
	dev      uint64
	devTable uint64
}

var dsMetricNames = [8]string{
	"byte_percentfree", "byte_used", "byte_free", "byte_avail",
	"inodes_percentfree", "inodes_used", "inodes_free", "inodes_avail",
}

// defaultExclude is Diamond's default exclude_filters.
var defaultExclude = regexp.MustCompile(`^/export/home`)

func newDiskspace(d collect.Deps) (collect.Collector, error) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &diskspace{
		h:   d.Host,
		log: d.Log,
		files: [3]*kernfile.File{
			d.File(d.Host.ProcPath("1", "mountinfo")), d.File(d.Host.ProcPath("1", "mounts")), d.File(d.Host.ProcPath("mounts")),
		},
		filesystems: []string{"ext2", "ext3", "ext4", "xfs", "glusterfs", "nfs", "nfs4",
			"ntfs", "hfs", "fat32", "fat16", "btrfs"},
		exclude:   defaultExclude,
		local:     fsCalls{stat: nowait.Stat, statfs: nowait.Statfs},
		remote:    fsCalls{stat: syscall.Stat, statfs: syscall.Statfs},
		timeout:   5 * time.Second,
		cache:     make(map[string]*dsMount),
		seen:      make(map[uint64]struct{}),
		labelsDir: d.Host.RootPath("dev", "disk", "by-label"),
		timer:     t,
		stuck:     make(map[string]struct{}),
	}, nil
}

// readTable reads the first mount table that can be read: the host PID 1's
// mountinfo, its mounts, then <procfs>/mounts (fixtures, old kernels). The
// table read last is read again only when the kernel flags a change to it
// (kernfile.MountsChanged); until then its parsed mounts serve.
func (c *diskspace) readTable() ([]mountEntry, error) {
	if c.from != nil && !c.from.MountsChanged() {
		return c.mounts, c.perr
	}
	c.from = nil
	var firstErr error
	for i := range c.files {
		b, err := c.buf.ReadFile(c.files[i])
		if err != nil {
			if firstErr == nil || (errors.Is(firstErr, fs.ErrNotExist) && !errors.Is(err, fs.ErrNotExist)) {
				firstErr = err
			}
			continue
		}
		if !bytes.Equal(b, c.table) {
			c.table = append(c.table[:0], b...)
			c.tables++
		}
		var perr error
		if i == 0 {
			c.mounts, perr = parseMountInfo(b, c.mounts)
		} else {
			c.mounts, perr = parseMounts(b, c.mounts)
		}
		if perr != nil {
			perr = fmt.Errorf("parse %s: %w", c.files[i].Path, perr)
		}
		c.from, c.perr = c.files[i], perr
		return c.mounts, perr
	}
	return nil, firstErr
}

func (c *diskspace) Collect(ctx context.Context, s *collect.Sample) error {
	mounts, perr := c.readTable()
	if mounts == nil && perr != nil {
		return perr
	}
	c.loadLabels()
	c.gen++
	clear(c.seen)
	c.batch, c.ents, c.res = c.batch[:0], c.ents[:0], c.res[:0]
	for i := range mounts {
		m := &mounts[i]
		if !c.selected(m) {
			continue
		}
		e := c.entry(m)
		e.gen = c.gen
		if c.isStuck(e.path) {
			c.log.Debug("diskspace: skipping mount, an earlier stat/statfs has not returned", "mount", e.mp)
			continue
		}
		c.ents = append(c.ents, e)
		c.res = append(c.res, fsResult{statErr: errPending})
		r := &c.res[len(c.res)-1]
		switch {
		case e.remote:
			c.batch = append(c.batch, e.path)
		case e.devTable == c.tables:
			r.dev, r.statErr = e.dev, nil
			r.statfsErr = c.local.statfs(e.path, &r.fs)
		default:
			probe(c.local, e.path, r, &c.st)
			if r.statErr == nil {
				e.dev, e.devTable = r.dev, c.tables
			}
		}
	}
	var err error
	if len(c.batch) > 0 {
		var got []fsResult
		got, err = c.runBatch(ctx)
		k := 0
		for i := range c.res {
			if c.ents[i].remote && k < len(got) {
				c.res[i] = got[k]
				k++
			}
		}
	}
	for i := range c.res {
		e, r := c.ents[i], &c.res[i]
		if r.statErr == errPending {
			continue // hung, or after the one that hung
		}
		if r.statErr != nil {
			c.log.Debug("diskspace: mount point not accessible, skipped", "mount", e.mp, "err", r.statErr)
			continue
		}
		if _, dup := c.seen[r.dev]; dup {
			continue // bind mount or second mount of the same filesystem
		}
		c.seen[r.dev] = struct{}{}
		if r.statfsErr != nil {
			c.log.Debug("diskspace: statfs failed, mount skipped", "mount", e.mp, "err", r.statfsErr)
			continue
		}
		emitStatfs(s, &e.paths, &r.fs)
	}
	if err != nil && ctx.Err() != nil {
		return err
	}
	if len(c.cache) > len(mounts) {
		for k, e := range c.cache {
			if e.gen != c.gen {
				delete(c.cache, k)
			}
		}
	}
	return perr
}

// selected applies Diamond's filters: a listed fs type, not excluded, a
// device that looks like a real one (a path, an NFS host:/export, or
// tmpfs), an absolute mount point.
func (c *diskspace) selected(m *mountEntry) bool {
	ok := false
	for _, t := range c.filesystems {
		if string(m.FSType) == t {
			ok = true
			break
		}
	}
	if !ok || len(m.MountPoint) == 0 || m.MountPoint[0] != '/' {
		return false
	}
	if c.exclude.Match(m.MountPoint) {
		return false
	}
	return bytes.IndexByte(m.Device, '/') >= 0 || bytes.IndexByte(m.Device, ':') >= 0 ||
		string(m.Device) == "tmpfs"
}

// entry returns the cached naming of m, recomputed when the device mounted
// there or the label table changed.
func (c *diskspace) entry(m *mountEntry) *dsMount {
	e := c.cache[string(m.MountPoint)]
	if e != nil && e.device == string(m.Device) && e.labelsGen == c.labelsGen {
		return e
	}
	if e == nil {
		mp := unescapeMount(m.MountPoint)
		e = &dsMount{path: c.h.RootPath(mp), mp: mp}
		c.cache[string(m.MountPoint)] = e
	}
	e.device = string(m.Device)
	e.labelsGen = c.labelsGen
	e.remote = mayHang(m)
	name := ""
	if len(c.labels) > 0 && len(m.Device) > 0 && m.Device[0] == '/' {
		name = c.labels[resolveInRoot(c.h, unescapeMount(m.Device))]
	}
	if name == "" {
		name = diskspaceName(m.MountPoint)
	}
	name = collect.Segment(name)
	for i, n := range dsMetricNames {
		e.paths[i] = "diskspace." + name + "." + n
	}
	return e
}

// mayHang tells the mounts whose stat/statfs can block forever (a dead
// server): network filesystems, and any source that is not a local path.
// Those run on the worker goroutine under a timeout; local filesystems
// answer from memory and are called directly, which spares a thread
// wake-up per cycle.
func mayHang(m *mountEntry) bool {
	if string(m.Device) == "tmpfs" {
		return false
	}
	if len(m.Device) == 0 || m.Device[0] != '/' || bytes.IndexByte(m.Device, ':') >= 0 {
		return true
	}
	switch string(m.FSType) {
	case "nfs", "nfs4", "glusterfs", "cifs", "smb3", "ceph", "9p", "afs", "lustre", "gfs2", "ocfs2":
		return true
	}
	return hasPrefix(m.FSType, "fuse")
}

// diskspaceName is Diamond's name for a mount point, built from the
// ESCAPED form as /proc/mounts shows it: "/" and "." become "_", "\" is
// dropped, "/" is "root" and "/tmp" is "tmp" (/mnt/a\040b -> _mnt_a040b).
func diskspaceName(mp []byte) string {
	b := make([]byte, 0, len(mp))
	for _, ch := range mp {
		switch ch {
		case '/', '.':
			b = append(b, '_')
		case '\\':
		default:
			b = append(b, ch)
		}
	}
	switch string(b) {
	case "_":
		return "root"
	case "_tmp":
		return "tmp"
	}
	return string(b)
}

func emitStatfs(s *collect.Sample, p *[8]string, st *syscall.Statfs_t) {
	// glibc's statvfs: f_frsize, or f_bsize on kernels that leave it 0;
	// f_favail is f_ffree on Linux.
	frsize := uint64(st.Frsize)
	if st.Frsize <= 0 {
		frsize = uint64(st.Bsize)
	}
	blocks, bfree, bavail := uint64(st.Blocks), uint64(st.Bfree), uint64(st.Bavail)
	files, ffree := uint64(st.Files), uint64(st.Ffree)

	pct := 0.0 // Diamond publishes 0 when f_blocks is 0
	if blocks > 0 {
		pct = float64(bfree) / float64(blocks) * 100
	}
	s.Gauge(p[0], pct)
	if bfree <= blocks {
		gaugeProduct(s, p[1], frsize, blocks-bfree)
	} else {
		s.Gauge(p[1], -float64(frsize)*float64(bfree-blocks))
	}
	gaugeProduct(s, p[2], frsize, bfree)
	gaugeProduct(s, p[3], frsize, bavail)
	if files > 0 {
		s.Gauge(p[4], float64(ffree)/float64(files)*100)
	}
	if ffree <= files {
		s.GaugeInt(p[5], files-ffree)
	} else {
		s.Gauge(p[5], -float64(ffree-files))
	}
	s.GaugeInt(p[6], ffree)
	s.GaugeInt(p[7], ffree)
}

// gaugeProduct publishes a*b with every digit, as a float only if it
// overflows 64 bits.
func gaugeProduct(s *collect.Sample, path string, a, b uint64) {
	if hi, lo := bits.Mul64(a, b); hi == 0 {
		s.GaugeInt(path, lo)
		return
	}
	s.Gauge(path, float64(a)*float64(b))
}

// loadLabels maps devices to their filesystem labels from
// <rootfs>/dev/disk/by-label, re-read only when the directory changes.
// Diamond turns udev's "\x2f" back into "/" before resolving the link, so
// such a label never matches a device; those entries are skipped.
func (c *diskspace) loadLabels() {
	var st syscall.Stat_t
	if err := nowait.Stat(c.labelsDir, &st); err != nil {
		if c.labels != nil {
			c.labels = nil
			c.labelsMod = syscall.Timespec{}
			c.labelsGen++
		}
		return
	}
	if c.labels != nil && st.Mtim == c.labelsMod {
		return
	}
	ents, err := os.ReadDir(c.labelsDir)
	if err != nil {
		return
	}
	labels := make(map[string]string, len(ents))
	for _, de := range ents {
		name := de.Name()
		if strings.Contains(name, `\x2f`) {
			continue
		}
		labels[resolveInRoot(c.h, "/dev/disk/by-label/"+name)] = name
	}
	c.labels = labels
	c.labelsMod = st.Mtim
	c.labelsGen++
}

// resolveInRoot follows the symlink chain of the absolute host path p
// inside the host root (an absolute link target stays in that root), as
// os.path.realpath does for the final component. Intermediate directories
// are not resolved: /dev/disk/by-* and /dev/mapper are plain directories.
func resolveInRoot(h collect.Host, p string) string {
	p = path.Clean(p)
	for range 40 {
		target, err := os.Readlink(h.RootPath(p))
		if err != nil {
			return p
		}
		if path.IsAbs(target) {
			p = path.Clean(target)
		} else {
			p = path.Join(path.Dir(p), target)
		}
	}
	return p
}

// fsResult is stat (st_dev, for the first-mount-per-device rule) and
// statfs of one path. statfs runs even for a duplicate that is then
// dropped: cheaper than a second hand-off to the worker.
type fsResult struct {
	dev       uint64
	statErr   error
	fs        syscall.Statfs_t
	statfsErr error
}

// fsWorker runs the calls that may block forever, one batch (all mounts of
// a cycle) per hand-off. res[:cur] are finished. When no call finishes for
// a whole timeout the worker is abandoned: the mount it is on is marked
// stuck, its request channel closed; when that call finally returns, the
// worker clears the mark and exits.
type fsWorker struct {
	req       chan []string
	done      chan struct{}
	res       []fsResult
	cur       atomic.Int64
	abandoned atomic.Bool
	stuckPath string // set under diskspace.mu before req is closed
	st        syscall.Stat_t
}

var (
	errStuck   = errors.New("stat/statfs timed out")
	errPending = errors.New("stat/statfs not done")
)

// probe is os.stat then os.statvfs of p, as Diamond does.
func probe(calls fsCalls, p string, r *fsResult, st *syscall.Stat_t) {
	r.statErr = calls.stat(p, st)
	r.dev = uint64(st.Dev)
	r.statfsErr = errPending
	if r.statErr == nil {
		r.statfsErr = calls.statfs(p, &r.fs)
	}
}

func (c *diskspace) run(w *fsWorker) {
	for batch := range w.req {
		for i, p := range batch {
			probe(c.remote, p, &w.res[i], &w.st)
			w.cur.Store(int64(i + 1))
			if w.abandoned.Load() {
				break
			}
		}
		w.done <- struct{}{} // buffered: never blocks, even when abandoned
	}
	c.mu.Lock()
	delete(c.stuck, w.stuckPath)
	c.mu.Unlock()
}

// runBatch stats c.batch on the worker. It returns the results of the
// mounts done, in order: all of them, or those before the one that hung
// (timeout without progress) or before the context was cancelled.
func (c *diskspace) runBatch(ctx context.Context) ([]fsResult, error) {
	if c.w == nil {
		c.w = &fsWorker{req: make(chan []string, 1), done: make(chan struct{}, 1)}
		go c.run(c.w)
	}
	w := c.w
	if cap(w.res) < len(c.batch) {
		w.res = make([]fsResult, len(c.batch))
	}
	w.res = w.res[:len(c.batch)]
	w.cur.Store(0)
	w.req <- c.batch
	c.timer.Reset(c.timeout)
	var last int64
	var err error
	for err == nil {
		select {
		case <-w.done:
			c.timer.Stop()
			return w.res, nil
		case <-c.timer.C:
			if n := w.cur.Load(); n != last {
				last = n // slow but alive: wait for the next one
				c.timer.Reset(c.timeout)
				continue
			}
			err = errStuck
		case <-ctx.Done():
			c.timer.Stop()
			err = ctx.Err()
		}
	}
	n := int(w.cur.Load())
	if n >= len(c.batch) {
		<-w.done // finished just now after all
		return w.res, nil
	}
	p := c.batch[n]
	if err == errStuck {
		c.log.Warn("diskspace: stat/statfs did not return, mount skipped until it does",
			"path", p, "timeout", c.timeout)
	}
	// The mark is set before the worker can see its channel closed, so
	// the worker's delete always comes after it.
	c.mu.Lock()
	c.stuck[p] = struct{}{}
	w.stuckPath = p
	w.abandoned.Store(true)
	close(w.req)
	c.mu.Unlock()
	// The abandoned worker still owns its batch and results past n.
	c.w, c.batch = nil, nil
	return w.res[:n], err
}

func (c *diskspace) isStuck(p string) bool {
	c.mu.Lock()
	_, ok := c.stuck[p]
	c.mu.Unlock()
	return ok
}
