// SPDX-License-Identifier: Apache-2.0

// Command floor is the cost floor that `make bench-daemon` measures the
// agent against: a daemon that wakes at the agent's wall-clock-aligned ticks
// and only reads the files the agent reads each cycle, with every descriptor
// opened once and re-read at offset 0 (pread), parsing nothing. Whatever the
// agent spends above it is the agent's own overhead: parsing, rates,
// formatting, discovery, goroutines and timers.
//
// The host set is what the default host collectors read: /proc/stat,
// meminfo, loadavg, vmstat, diskstats, interrupts, uptime,
// sys/kernel/random/entropy_avail, sys/fs/file-nr, pressure/cpu, memory and
// io, the host network namespace's net/dev, sockstat, sockstat6, snmp and
// netstat (through <proc>/1), a poll of <proc>/1/mountinfo (read again
// only when the kernel flags a change to the mount table, as the agent
// does), and a statfs of each local filesystem mounted at start. For each cgroup path listed in -containers (relative to
// the hierarchy roots, e.g. docker/<id>) it reads the cgroup files the
// containers collector reads: on cgroup v1 cpuacct.usage, cpuacct.stat,
// cpu.stat, memory.usage_in_bytes, memory.stat, memory.limit_in_bytes,
// memory.oom_control, the two blkio.throttle *_recursive files and
// pids.current, and on a hybrid host the cgroup2 tree's cpu.pressure,
// memory.pressure and io.pressure; on cgroup v2 cpu.stat, memory.current,
// memory.stat, memory.max, memory.events, io.stat, pids.current and the
// three pressure files. And the one check the agent must make per
// container for its network: the network namespace of the container's
// first process (found once in cgroup.procs), an fstatat of ns/net below
// its /proc/<pid> directory kept open, and the namespace's net/dev when it
// is not the host's, once per namespace (the benchmark's containers share
// the host's).
//
// After each cycle it prints one line: "cycle <n> files <f> bytes <b>".
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	interval := fs.Duration("interval", 60*time.Second, "tick interval (aligned to the wall clock, as the agent's)")
	proc := fs.String("proc", "/proc", "procfs root")
	sys := fs.String("sys", "/sys", "sysfs root")
	root := fs.String("root", "/", "host root for statfs of mount points")
	list := fs.String("containers", "", "`FILE` of cgroup paths relative to the hierarchy roots, one a line")
	cycles := fs.Int("cycles", 0, "stop after this many cycles (0: run until SIGTERM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *interval <= 0 || *cycles < 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "floor: -interval must be positive, -cycles not negative, no arguments")
		return 2
	}
	var rels []string
	if *list != "" {
		var err error
		if rels, err = readList(*list); err != nil {
			fmt.Fprintf(stderr, "floor: %v\n", err)
			return 2
		}
	}
	f, err := open(*proc, *sys, *root, rels)
	if err != nil {
		fmt.Fprintf(stderr, "floor: %v\n", err)
		return 2
	}
	out := bufio.NewWriter(stdout)
	for n := 1; *cycles == 0 || n <= *cycles; n++ {
		next := time.Now().Truncate(*interval).Add(*interval)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return 0
		case <-t.C:
		}
		files, bytes := f.cycle()
		fmt.Fprintf(out, "cycle %d files %d bytes %d\n", n, files, bytes)
		out.Flush()
	}
	return 0
}

func readList(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rels []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			rels = append(rels, l)
		}
	}
	return rels, nil
}

// file is one descriptor kept open, and the size it is read with: twice
// its first content, at least 4 KiB (a /proc/sys file read with a large
// buffer makes the kernel allocate and zero that much).
type file struct {
	fd   int
	size int
	// pieces: the kernel prints the file a record at a time (a seq_file
	// iterator: vmstat, interrupts, diskstats, net/dev, mountinfo,
	// cgroup.procs); one read stops where a record no longer fits in the
	// kernel's page-sized buffer, so a short read is not its end and the
	// file is read until a read returns nothing, as any correct reader
	// must. The other files are printed in one piece: a short read is
	// their end.
	pieces bool
	// mounts: a mount table, polled at every cycle and read only when the
	// kernel flags a change (POLLPRI), as the agent's diskspace collector
	// does (kernfile.MountsChanged).
	mounts bool
}

// inPieces are the files of the set printed a record at a time.
var inPieces = map[string]bool{"vmstat": true, "interrupts": true, "diskstats": true, "dev": true,
	"mountinfo": true, "cgroup.procs": true}

type floor struct {
	files   []file
	buf     []byte          // one buffer for all reads
	mounts  []string        // statfs targets
	procs   []int           // /proc/<pid> directories of the containers' first processes
	hostNet uint64          // the host's network namespace
	netns   map[uint64]bool // the containers' namespaces whose net/dev is read
	proc    string
}

// open opens every file once. A host file that is missing is skipped (a
// kernel without IPv6 has no sockstat6); a container file that is missing
// is an error: the benchmark made those cgroups.
func open(proc, sys, root string, rels []string) (*floor, error) {
	f := &floor{}
	for _, p := range []string{"stat", "meminfo", "loadavg", "vmstat", "diskstats", "interrupts", "uptime",
		"sys/kernel/random/entropy_avail", "sys/fs/file-nr", "1/net/dev", "1/net/sockstat", "1/net/sockstat6",
		"1/net/snmp", "1/net/netstat", "1/mountinfo", "pressure/cpu", "pressure/memory", "pressure/io"} {
		if err := f.add(filepath.Join(proc, p)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	mi, err := os.ReadFile(filepath.Join(proc, "1", "mountinfo"))
	if err != nil {
		return nil, err
	}
	f.mounts = localMounts(mi, root)
	cg := filepath.Join(sys, "fs", "cgroup")
	var paths []string
	var procs string // the cgroup.procs the agent finds a pid in
	if _, err := os.Stat(filepath.Join(cg, "cgroup.controllers")); err == nil {
		paths, procs = v2Files(cg), filepath.Join(cg, "cgroup.procs")
	} else {
		paths, procs = v1Files(cg)
	}
	// As the agent: PID 1's namespace link, or kthreadd's when PID 1's is
	// unreadable (a PID 1 in another user namespace).
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(proc, "1", "ns", "net"), &st); err != nil {
		if err := unix.Stat(filepath.Join(proc, "2", "ns", "net"), &st); err != nil {
			return nil, fmt.Errorf("host network namespace: %w", err)
		}
	}
	f.hostNet, f.proc, f.netns = st.Ino, proc, map[uint64]bool{}
	for _, rel := range rels {
		for _, p := range paths {
			dir, name := filepath.Split(p)
			if err := f.add(filepath.Join(dir, rel, name)); err != nil {
				return nil, err
			}
		}
		if procs == "" {
			continue
		}
		dir, name := filepath.Split(procs)
		if err := f.addPid(filepath.Join(dir, rel, name)); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// addPid opens the /proc directory of the first process of a cgroup.procs.
func (f *floor) addPid(procs string) error {
	b, err := os.ReadFile(procs)
	if err != nil {
		return err
	}
	pid, _, _ := strings.Cut(string(b), "\n")
	if pid == "" {
		return fmt.Errorf("%s: no process", procs)
	}
	fd, err := unix.Open(filepath.Join(f.proc, pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Join(f.proc, pid), Err: err}
	}
	f.procs = append(f.procs, fd)
	// A network namespace of its own: its net/dev, kept open as the
	// agent keeps it, once per namespace (a pod's containers share one).
	var ns unix.Stat_t
	if err := unix.Fstatat(fd, "ns/net", &ns, 0); err != nil || ns.Ino == f.hostNet || f.netns[ns.Ino] {
		return nil
	}
	f.netns[ns.Ino] = true
	return f.add(filepath.Join(f.proc, pid, "net", "dev"))
}

func v2Files(root string) []string {
	var p []string
	for _, n := range []string{"cpu.stat", "memory.current", "memory.stat", "memory.max", "memory.events",
		"io.stat", "pids.current", "cpu.pressure", "memory.pressure", "io.pressure"} {
		p = append(p, filepath.Join(root, n))
	}
	return p
}

// v1Files are the container files below each controller root, the roots
// found as the containers collector finds them (cpu and cpuacct separate
// or joined; a controller's root recognised by a file only its root has),
// and the cgroup.procs it finds a pid in.
func v1Files(root string) ([]string, string) {
	pick := func(marker string, dirs ...string) string {
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(root, d, marker)); err == nil {
				return filepath.Join(root, d)
			}
		}
		return ""
	}
	cpuacct := pick("cpuacct.usage", "cpuacct", "cpu,cpuacct", "cpuacct,cpu")
	cpu := pick("cpu.shares", "cpu", "cpu,cpuacct", "cpuacct,cpu")
	mem := pick("memory.usage_in_bytes", "memory")
	blkio := pick("cgroup.procs", "blkio")
	pids := pick("cgroup.procs", "pids")
	var p []string
	for _, x := range [][2]string{
		{cpuacct, "cpuacct.usage"}, {cpuacct, "cpuacct.stat"}, {cpu, "cpu.stat"},
		{mem, "memory.usage_in_bytes"}, {mem, "memory.stat"}, {mem, "memory.limit_in_bytes"},
		{mem, "memory.oom_control"},
		{blkio, "blkio.throttle.io_service_bytes_recursive"}, {blkio, "blkio.throttle.io_serviced_recursive"},
		{pids, "pids.current"},
	} {
		if x[0] != "" {
			p = append(p, filepath.Join(x[0], x[1]))
		}
	}
	// A hybrid host's cgroup2 tree: the pressure files.
	if _, err := os.Stat(filepath.Join(root, "unified", "cgroup.controllers")); err == nil {
		for _, n := range []string{"cpu.pressure", "memory.pressure", "io.pressure"} {
			p = append(p, filepath.Join(root, "unified", n))
		}
	}
	procs := ""
	if mem != "" {
		procs = filepath.Join(mem, "cgroup.procs")
	}
	return p, procs
}

// localMounts are the mount points of the local filesystems Diamond's
// diskspace collector reports, below root.
func localMounts(mountinfo []byte, root string) []string {
	local := map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true,
		"ntfs": true, "hfs": true, "fat32": true, "fat16": true}
	var out []string
	for _, l := range strings.Split(string(mountinfo), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		a, b := strings.Fields(pre), strings.Fields(post)
		if !ok || len(a) < 5 || len(b) < 1 || !local[b[0]] {
			continue
		}
		out = append(out, filepath.Join(root, a[4]))
	}
	return out
}

func (f *floor) add(path string) error {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	x := file{fd: fd, size: 4096, pieces: inPieces[filepath.Base(path)], mounts: filepath.Base(path) == "mountinfo"}
	if n := f.read(&x); n*2 > x.size {
		x.size = (n*2 + 4095) &^ 4095
	}
	f.files = append(f.files, x)
	return nil
}

// read preads the whole file from offset 0; a short read is the end of a
// file printed in one piece (see file.pieces).
func (f *floor) read(x *file) int {
	if len(f.buf) < x.size {
		f.buf = make([]byte, x.size)
	}
	n := 0
	for {
		m, err := syscall.Pread(x.fd, f.buf[n:x.size], int64(n))
		if err != nil || m <= 0 {
			return n
		}
		n += m
		if n < x.size {
			if !x.pieces {
				return n
			}
			continue
		}
		x.size *= 2 // grown since the start: read the rest
		if len(f.buf) < x.size {
			f.buf = append(f.buf, make([]byte, x.size-len(f.buf))...)
		}
	}
}

func (f *floor) cycle() (files, n int) {
	for i := range f.files {
		if x := &f.files[i]; x.mounts {
			fds := []unix.PollFd{{Fd: int32(x.fd), Events: unix.POLLPRI}}
			if k, err := unix.Ppoll(fds, &unix.Timespec{}, nil); err == nil && (k == 0 || fds[0].Revents == 0) {
				continue
			}
		}
		n += f.read(&f.files[i])
	}
	var st syscall.Statfs_t
	for _, m := range f.mounts {
		syscall.Statfs(m, &st)
	}
	var ns unix.Stat_t
	for _, fd := range f.procs {
		unix.Fstatat(fd, "ns/net", &ns, 0)
	}
	return len(f.files), n
}
