// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
	"github.com/nodemetrics/nodemetrics/internal/mounttest"
	"golang.org/x/sys/unix"
)

// fakeFS stands in for stat/statfs: mount point (host path) -> values.
type fakeFS struct {
	root string
	mu   sync.Mutex
	devs map[string]uint64
	st   map[string]syscall.Statfs_t
	log  []string // paths passed to stat, in order
}

func (f *fakeFS) rel(p string) string {
	r := strings.TrimPrefix(p, f.root)
	if r == "" {
		return "/"
	}
	return r
}

func (f *fakeFS) stat(p string, st *syscall.Stat_t) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, f.rel(p))
	d, ok := f.devs[f.rel(p)]
	if !ok {
		return syscall.ENOENT
	}
	st.Dev = d
	return nil
}

func (f *fakeFS) statfs(p string, st *syscall.Statfs_t) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.st[f.rel(p)]
	if !ok {
		return syscall.ENOENT
	}
	*st = v
	return nil
}

func newFakeDiskspace(t testing.TB, h collect.Host, f *fakeFS) *diskspace {
	t.Helper()
	c := newByName(t, "diskspace", h).(*diskspace)
	f.root = h.Root
	c.local = fsCalls{stat: f.stat, statfs: f.statfs}
	c.remote = c.local
	return c
}

func small(frsize int64, blocks, bfree, bavail, files, ffree uint64) syscall.Statfs_t {
	return syscall.Statfs_t{Bsize: 4096, Frsize: frsize, Blocks: blocks, Bfree: bfree, Bavail: bavail, Files: files, Ffree: ffree}
}

func diskspaceLines(name string, vals ...string) []string {
	var out []string
	for i, n := range dsMetricNames {
		if vals[i] != "" {
			out = append(out, "diskspace."+name+"."+n+" "+vals[i])
		}
	}
	return out
}

func TestDiskspaceEdgeCases(t *testing.T) {
	f := &fakeFS{
		devs: map[string]uint64{"/": 1, "/mnt/a b": 2, "/var/lib/docker": 1, "/srv/nfs": 3,
			"/data.d": 4, "/a\\b": 5, "/tmp": 6, "/export/home": 7, "/media/cdrom": 8, "/run/x": 9},
		st: map[string]syscall.Statfs_t{
			"/":        small(4096, 1000, 250, 200, 100, 40),
			"/mnt/a b": small(4096, 360540255, 285953527, 267639130, 91578368, 91229495),
			"/srv/nfs": small(0, 9, 7, 7, 0, 0), // f_frsize 0: glibc falls back to f_bsize
			"/data.d":  small(512, 0, 0, 0, 3, 1),
			"/a\\b":    small(1024, 10, 12, 1, 5, 6), // nonsense from a broken fs: negative used
		},
	}
	c := newFakeDiskspace(t, fixtureHost("diskspace/edge"), f)
	got, _, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	want = append(want, diskspaceLines("root", "25", "3072000", "1024000", "819200", "40", "60", "40", "40")...)
	want = append(want, diskspaceLines("_mnt_a040b", "79.31251033258408", "305507237888", "1171265646592",
		"1096249876480", "99.61904431404587", "348873", "91229495", "91229495")...)
	want = append(want, diskspaceLines("_srv_nfs", "77.77777777777779", "8192", "28672", "28672", "", "0", "0", "0")...)
	want = append(want, diskspaceLines("_data_d", "0", "0", "0", "0", "33.33333333333333", "2", "1", "1")...)
	want = append(want, diskspaceLines("_a134b", "120", "-2048", "12288", "1024", "120", "-1", "6", "6")...)
	wantLines(t, got, want...)

	// The statfs path is the unescaped mount point below the host root;
	// excluded types, filters and devices are never stat'ed; the NFS
	// mount goes to the worker after the local ones.
	wantStat := "/ /mnt/a b /var/lib/docker /data.d /gone /a\\b /srv/nfs"
	if s := strings.Join(f.log, " "); s != wantStat {
		t.Errorf("stat calls %q, want %q", s, wantStat)
	}
}

func TestDiskspaceProcMountsFallback(t *testing.T) {
	f := &fakeFS{
		devs: map[string]uint64{"/": 1, "/mnt/a b": 2},
		st:   map[string]syscall.Statfs_t{"/": small(4096, 4, 2, 1, 0, 0), "/mnt/a b": small(4096, 4, 1, 1, 0, 0)},
	}
	c := newFakeDiskspace(t, fixtureHost("diskspace/procmounts"), f)
	got, _, err := collectOnce(t, c, 1000, false, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "mounts: line 5") {
		t.Errorf("err = %v, want a parse error for line 5 of mounts", err)
	}
	var want []string
	want = append(want, diskspaceLines("root", "50", "8192", "8192", "4096", "", "0", "0", "0")...)
	want = append(want, diskspaceLines("_mnt_a040b", "25", "12288", "4096", "4096", "", "0", "0", "0")...)
	wantLines(t, got, want...)
}

// Diamond's tmpfs test: with tmpfs in the list, "tmpfs" counts as a device
// and /tmp is named "tmp".
func TestDiskspaceTmpfs(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/1/mountinfo": "29 26 0:50 / /tmp rw - tmpfs tmpfs rw\n" +
		"30 26 0:51 / /dev/shm rw - tmpfs shm rw\n"})
	f := &fakeFS{devs: map[string]uint64{"/tmp": 1, "/dev/shm": 2}, st: map[string]syscall.Statfs_t{"/tmp": small(4096, 2, 1, 1, 4, 2)}}
	c := newFakeDiskspace(t, h, f)
	c.filesystems = []string{"tmpfs"}
	got, _, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, diskspaceLines("tmp", "50", "4096", "4096", "4096", "50", "2", "2", "2")...)
}

func TestDiskspaceLabels(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/1/mountinfo": "1 0 8:17 / /data rw - ext4 /dev/sdb1 rw\n" +
			"2 0 253:0 / /vg rw - xfs /dev/mapper/vg-data rw\n" +
			"3 0 8:33 / /c rw - ext4 /dev/sdc rw\n" +
			"4 0 8:49 / /d rw - ext4 /dev/sdd rw\n",
		"root/dev/sdb1": "", "root/dev/dm-0": "", "root/dev/sdc": "", "root/dev/sdd": "",
	})
	link := func(target, name string) {
		p := filepath.Join(h.Root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	link("../../sdb1", "dev/disk/by-label/DATA")
	link("../dm-0", "dev/mapper/vg-data")
	link("/dev/dm-0", "dev/disk/by-label/vol.1") // absolute: stays in the host root
	link("../../sdc", `dev/disk/by-label/a\x2fb`)
	f := &fakeFS{
		devs: map[string]uint64{"/data": 1, "/vg": 2, "/c": 3, "/d": 4},
		st: map[string]syscall.Statfs_t{"/data": small(1, 1, 1, 1, 0, 0), "/vg": small(1, 1, 1, 1, 0, 0),
			"/c": small(1, 1, 1, 1, 0, 0), "/d": small(1, 1, 1, 1, 0, 0)},
	}
	c := newFakeDiskspace(t, h, f)
	got, _, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, n := range []string{"DATA", "vol_1", "_c", "_d"} {
		want = append(want, diskspaceLines(n, "100", "0", "1", "1", "", "0", "0", "0")...)
	}
	wantLines(t, got, want...)

	// A label added later is picked up, a mount added later appears.
	time.Sleep(50 * time.Millisecond) // a new directory mtime (coarse clock)
	link("../../sdd", "dev/disk/by-label/backup")
	os.WriteFile(filepath.Join(h.Proc, "1", "mountinfo"), []byte("4 0 8:49 / /d rw - ext4 /dev/sdd rw\n5 0 8:65 / /e rw - ext4 /dev/sde rw\n"), 0o644)
	f.devs["/e"], f.st["/e"] = 5, small(1, 2, 1, 1, 0, 0)
	got, _, err = collectOnce(t, c, 1060, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	want = diskspaceLines("backup", "100", "0", "1", "1", "", "0", "0", "0")
	want = append(want, diskspaceLines("_e", "50", "1", "1", "1", "", "0", "0", "0")...)
	wantLines(t, got, want...)
	if len(c.cache) != 2 {
		t.Errorf("%d mounts cached, want 2", len(c.cache))
	}
}

// A statfs that never returns (dead NFS server) is abandoned after the
// timeout; the mount is skipped, without calling statfs again, until the
// pending call returns.
func TestDiskspaceStuckStatfs(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/1/mountinfo": "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n" +
		"2 0 0:40 / /nfs rw - nfs fs:/x rw\n"})
	f := &fakeFS{devs: map[string]uint64{"/": 1, "/nfs": 2},
		st: map[string]syscall.Statfs_t{"/": small(1, 1, 1, 1, 0, 0), "/nfs": small(1, 4, 1, 1, 0, 0)}}
	c := newFakeDiskspace(t, h, f)
	c.timeout = 50 * time.Millisecond
	release := make(chan struct{})
	var nfsCalls atomic.Int32
	c.remote.statfs = func(p string, st *syscall.Statfs_t) error {
		if f.rel(p) == "/nfs" && nfsCalls.Add(1) == 1 {
			<-release
		}
		return f.statfs(p, st)
	}
	rootOnly := diskspaceLines("root", "100", "0", "1", "1", "", "0", "0", "0")
	for i := range 2 {
		got, _, err := collectOnce(t, c, int64(1000+60*i), false, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		wantLines(t, got, rootOnly...)
	}
	if n := nfsCalls.Load(); n != 1 {
		t.Fatalf("statfs of the stuck mount called %d times, want 1", n)
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); c.isStuck(c.h.RootPath("/nfs")); {
		if time.Now().After(deadline) {
			t.Fatal("mount still stuck after its statfs returned")
		}
		time.Sleep(time.Millisecond)
	}
	got, _, err := collectOnce(t, c, 1120, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, append(rootOnly, diskspaceLines("_nfs", "25", "3", "1", "1", "", "0", "0", "0")...)...)
}

// Slow network mounts that keep progressing are not abandoned: the timeout
// is per call, not for the whole batch.
func TestDiskspaceSlowRemote(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/1/mountinfo": "1 0 0:40 / /n1 rw - nfs a:/x rw\n" +
		"2 0 0:41 / /n2 rw - nfs4 b:/y rw\n3 0 0:42 / /n3 rw - glusterfs c:/z rw\n"})
	f := &fakeFS{devs: map[string]uint64{"/n1": 1, "/n2": 2, "/n3": 3},
		st: map[string]syscall.Statfs_t{"/n1": small(1, 1, 1, 1, 0, 0), "/n2": small(1, 1, 1, 1, 0, 0), "/n3": small(1, 1, 1, 1, 0, 0)}}
	c := newFakeDiskspace(t, h, f)
	c.timeout = 60 * time.Millisecond
	c.remote.statfs = func(p string, st *syscall.Statfs_t) error { time.Sleep(40 * time.Millisecond); return f.statfs(p, st) }
	got, _, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3*7 {
		t.Errorf("got %d lines, want all three mounts: %v", len(got), got)
	}
}

func TestMayHang(t *testing.T) {
	for _, tc := range []struct {
		dev, fstype string
		want        bool
	}{
		{"/dev/sda1", "ext4", false}, {"tmpfs", "tmpfs", false}, {"/dev/mapper/vg-x", "xfs", false},
		{"host:/export", "nfs", true}, {"/dev/sdb", "nfs4", true}, {"//srv/share", "cifs", true},
		{"server", "glusterfs", true}, {"sshfs#x", "fuse.sshfs", true}, {"none", "ext4", true},
	} {
		if got := mayHang(&mountEntry{Device: []byte(tc.dev), FSType: []byte(tc.fstype)}); got != tc.want {
			t.Errorf("mayHang(%s %s) = %v, want %v", tc.dev, tc.fstype, got, tc.want)
		}
	}
}

// A hung stat is handled the same way, and a cancelled context stops the
// cycle.
func TestDiskspaceStuckStatAndCancel(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/1/mountinfo": "1 0 0:40 / /nfs rw - nfs fs:/x rw\n"})
	f := &fakeFS{devs: map[string]uint64{"/nfs": 2}, st: map[string]syscall.Statfs_t{"/nfs": small(1, 4, 1, 1, 0, 0)}}
	c := newFakeDiskspace(t, h, f)
	release := make(chan struct{})
	c.remote.stat = func(p string, st *syscall.Stat_t) error { <-release; return f.stat(p, st) }
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := collect.NewSample(time.Unix(1000, 0), false, collect.State{})
	if err := c.Collect(ctx, s); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err %v, want context.Canceled", err)
	}
	c.timeout = 20 * time.Millisecond
	got, _, err := collectOnce(t, c, 1060, false, collect.State{})
	if err != nil || len(got) != 0 {
		t.Errorf("stuck stat: got %v, %v; want nothing", got, err)
	}
	close(release)
	for deadline := time.Now().Add(5 * time.Second); c.isStuck(c.h.RootPath("/nfs")); {
		if time.Now().After(deadline) {
			t.Fatal("mount still stuck after its stat returned")
		}
		time.Sleep(time.Millisecond)
	}
}

// Against the real machine: the collector's statfs of "/" agrees with
// syscall.Statfs("/") (retried: other processes write to the disk).
func TestDiskspaceRealRoot(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/1/mountinfo": "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"})
	h.Root = "/"
	c := newByName(t, "diskspace", h)
	var got, want []string
	for range 20 {
		var err error
		got, _, err = collectOnce(t, c, 1000, false, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		var st syscall.Statfs_t
		if err := syscall.Statfs("/", &st); err != nil {
			t.Fatal(err)
		}
		fr := uint64(st.Frsize)
		want = []string{
			"diskspace.root.byte_used " + strconv.FormatUint(fr*(st.Blocks-st.Bfree), 10),
			"diskspace.root.byte_free " + strconv.FormatUint(fr*st.Bfree, 10),
			"diskspace.root.byte_avail " + strconv.FormatUint(fr*st.Bavail, 10),
			"diskspace.root.inodes_used " + strconv.FormatUint(st.Files-st.Ffree, 10),
			"diskspace.root.inodes_free " + strconv.FormatUint(st.Ffree, 10),
			"diskspace.root.inodes_avail " + strconv.FormatUint(st.Ffree, 10),
		}
		if containsAll(got, want) {
			return
		}
	}
	t.Errorf("got:\n%s\nwant among them:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
}

func containsAll(got, want []string) bool {
	have := make(map[string]bool, len(got))
	for _, g := range got {
		have[g] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func TestDiskspaceMissing(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "diskspace", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no mount table: err %v, want fs.ErrNotExist", err)
	}
}

func TestDiskspaceMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/1/mountinfo": "garbage\n1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"})
	f := &fakeFS{devs: map[string]uint64{"/": 1}, st: map[string]syscall.Statfs_t{"/": small(1, 1, 1, 1, 0, 0)}}
	got, _, err := collectOnce(t, newFakeDiskspace(t, h, f), 1000, false, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "mountinfo: line 1") {
		t.Errorf("err = %v, want a parse error naming mountinfo line 1", err)
	}
	wantLines(t, got, diskspaceLines("root", "100", "0", "1", "1", "", "0", "0", "0")...)
}

func TestDiskspaceName(t *testing.T) {
	for in, want := range map[string]string{
		"/": "root", "/tmp": "tmp", "/var/lib": "_var_lib", "/boot": "_boot", `/mnt/a\040b`: "_mnt_a040b",
		"/data.d": "_data_d", "/tmp/x": "_tmp_x",
	} {
		if got := diskspaceName([]byte(in)); got != want {
			t.Errorf("diskspaceName(%q) = %q, want %q", in, got, want)
		}
	}
}

// The real mount table of the capture machine: / (ext4 /dev/vda) and a
// bind mount of it at /var/lib/docker; the rest are virtual filesystems.
func TestDiskspaceRealMountinfo(t *testing.T) {
	f := &fakeFS{devs: map[string]uint64{"/": 0xfe00, "/var/lib/docker": 0xfe00},
		st: map[string]syscall.Statfs_t{"/": small(4096, 10, 5, 4, 8, 2)}}
	got, _, err := collectOnce(t, newFakeDiskspace(t, fixtureHost("diskspace/real"), f), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, diskspaceLines("root", "50", "20480", "20480", "16384", "25", "6", "2", "2")...)
}

func BenchmarkCollectDiskspace(b *testing.B) {
	h := fixtureHost("diskspace/real")
	h.Root = "/"
	c := newByName(b, "diskspace", h)
	s := collect.NewSample(time.Unix(1000, 0), false, collect.State{})
	b.ReportAllocs()
	for i := range b.N {
		s.Reset(time.Unix(int64(1000+i), 0))
		if err := c.Collect(b.Context(), s); err != nil {
			b.Fatal(err)
		}
	}
}

// The floor: read the same mount table, stat each candidate mount (/ and
// its bind mount /var/lib/docker, as Diamond does) and statfs the one real
// filesystem.
func BenchmarkReadDiskspace(b *testing.B) {
	var buf kernfile.Buf
	file := filepath.Join("testdata", "diskspace", "real", "proc", "1", "mountinfo")
	var st syscall.Statfs_t
	var sst syscall.Stat_t
	b.ReportAllocs()
	for range b.N {
		if _, err := buf.Read(file); err != nil {
			b.Fatal(err)
		}
		if syscall.Stat("/", &sst) != nil || syscall.Stat("/var/lib/docker", &sst) != nil {
			b.Skip("no /var/lib/docker here")
		}
		if err := syscall.Statfs("/", &st); err != nil {
			b.Fatal(err)
		}
	}
}

// A local mount point is stat'd (for its device, to publish each
// filesystem once) when it first appears and again only when the mount
// table changes; statfs, the data, runs every cycle.
func TestDiskspaceStatsOnlyWhenTheTableChanges(t *testing.T) {
	table := "26 1 254:1 / / rw,relatime - ext4 /dev/vda1 rw\n" +
		"40 26 254:1 /docker /var/lib/docker rw,relatime - ext4 /dev/vda1 rw\n"
	h := tempHost(t, map[string]string{"proc/1/mountinfo": table})
	f := &fakeFS{
		devs: map[string]uint64{"/": 1, "/var/lib/docker": 1},
		st: map[string]syscall.Statfs_t{
			"/":               small(4096, 1000, 250, 200, 100, 40),
			"/var/lib/docker": small(4096, 1000, 250, 200, 100, 40),
		},
	}
	c := newFakeDiskspace(t, h, f)
	root := diskspaceLines("root", "25", "3072000", "1024000", "819200", "40", "60", "40", "40")
	slices.Sort(root) // as collectOnce renders them
	for cycle := 0; cycle < 3; cycle++ {
		got, _, err := collectOnce(t, c, int64(1000+60*cycle), false, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, root) {
			t.Fatalf("cycle %d: %q, want the root only (the same device twice)", cycle, got)
		}
	}
	if want := []string{"/", "/var/lib/docker"}; !slices.Equal(f.log, want) {
		t.Fatalf("stat calls over 3 cycles of one table: %q, want %q", f.log, want)
	}
	// A new filesystem mounted over the same mount point: a new table.
	f.mu.Lock()
	f.devs["/var/lib/docker"] = 2
	f.log = nil
	f.mu.Unlock()
	table += "41 40 254:2 / /var/lib/docker rw,relatime - ext4 /dev/vdb rw\n"
	if err := os.WriteFile(h.ProcPath("1", "mountinfo"), []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, c, 1180, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, append(root, diskspaceLines("_var_lib_docker", "25", "3072000", "1024000", "819200", "40", "60", "40", "40")...)...)
	if want := []string{"/", "/var/lib/docker"}; !slices.Equal(f.log, want) {
		t.Fatalf("stat calls after the table changed: %q, want %q", f.log, want)
	}
}

// The real mount table, kept open and read again only when the kernel
// flags a change: a filesystem mounted between two cycles is published at
// the next one, a remount (new size) too, and an unmounted one is gone at
// the next one. In a mount namespace of the test's own, the host's table
// seen through <proc>/1 -> /proc/thread-self.
func TestDiskspaceFollowsRealMounts(t *testing.T) {
	h := tempHost(t, nil)
	if err := os.Symlink("/proc/thread-self", h.ProcPath("1")); err != nil {
		t.Fatal(err)
	}
	h.Root = "/"
	dir := t.TempDir()
	name := "diskspace." + diskspaceName([]byte(dir)) + ".byte_free "
	mounttest.InPrivateNS(t, func() {
		c := newByName(t, "diskspace", h).(*diskspace)
		c.filesystems = []string{"tmpfs"}
		free := func(when string) string {
			t.Helper()
			got, _, err := collectOnce(t, c, 1000, false, collect.State{})
			if err != nil {
				t.Errorf("%s: %v", when, err)
			}
			for _, l := range got {
				if strings.HasPrefix(l, name) {
					return strings.TrimPrefix(l, name)
				}
			}
			return ""
		}
		if v := free("before the mount"); v != "" {
			t.Errorf("before the mount: %s%s", name, v)
		}
		free("a cycle with no change")
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
			t.Errorf("mount: %v", err)
			return
		}
		defer unix.Unmount(dir, 0)
		if v := free("after the mount"); v != "1048576" {
			t.Errorf("after the mount: %q free, want 1048576", v)
		}
		if v := free("a cycle with no change"); v != "1048576" {
			t.Errorf("a cycle with no change: %q free, want 1048576", v)
		}
		if err := unix.Mount("", dir, "", unix.MS_REMOUNT, "size=2m"); err != nil {
			t.Errorf("remount: %v", err)
			return
		}
		if v := free("after a remount"); v != "2097152" {
			t.Errorf("after a remount: %q free, want 2097152", v)
		}
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount: %v", err)
			return
		}
		if v := free("after the unmount"); v != "" {
			t.Errorf("after the unmount: still published, %s%s", name, v)
		}
	})
}
