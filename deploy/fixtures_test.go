// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
)

// Host fixtures of the end-to-end test: a shared mount point, a loop-mounted
// ext4 filesystem, a docker-style cgroup, a network namespace with a veth
// pair and a process in both, and a sampler of the host's /proc/1/net/dev.
// Each registers its own cleanup; t.Cleanup runs them last-made-first, so
// processes die before their cgroups and netns are removed.

// poll calls f every step until it returns true or d has passed; it
// returns f's last answer.
func poll(d, step time.Duration, f func() bool) bool {
	for end := time.Now().Add(d); ; {
		if f() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(step)
	}
}

// sharedDir makes a new directory a mount point of its own (a bind mount
// onto itself) with shared propagation, and returns it.
func sharedDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	run(t, nil, "mount", "--bind", d, d)
	t.Cleanup(func() { syscall.Unmount(d, syscall.MNT_DETACH) })
	run(t, nil, "mount", "--make-shared", d)
	return d
}

// loopMount makes an ext4 filesystem in a file, attaches it to a loop
// device and mounts that at dir. It returns an unmount function (also run
// by t.Cleanup, harmlessly twice); the loop device is detached in t.Cleanup.
func loopMount(t *testing.T, dir string) (dev string, unmount func() error) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	run(t, nil, "truncate", "-s", "16M", img)
	run(t, nil, "mkfs.ext4", "-q", "-F", img)
	dev = strings.TrimSpace(run(t, nil, "losetup", "--find", "--show", img))
	t.Cleanup(func() {
		if out, err := runErr(nil, "losetup", "-d", dev); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	run(t, nil, "mount", "-t", "ext4", dev, dir)
	mounted := true
	unmount = func() error {
		if !mounted {
			return nil
		}
		mounted = false
		return syscall.Unmount(dir, 0)
	}
	t.Cleanup(func() {
		if mounted {
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dev, unmount
}

// diskspaceName is Diamond's name of a mount point (no escapes in ours).
func diskspaceName(mp string) string {
	return strings.NewReplacer("/", "_", ".", "_").Replace(mp)
}

// testNetns is a network namespace joined to the host's by a veth pair in
// a /30 of 10.232.0.0/16 (the containers package's tests use 10.231/16).
type testNetns struct {
	name             string
	hostIf, nsIf     string
	hostAddr, nsAddr string
}

func makeNetns(t *testing.T) *testNetns {
	t.Helper()
	pid := os.Getpid()
	n := &testNetns{
		name:   fmt.Sprintf("nme2e%d", pid),
		hostIf: fmt.Sprintf("nme%dh", pid%1000000),
		nsIf:   fmt.Sprintf("nme%dc", pid%1000000),
	}
	sub := 4 * (pid / 250 % 64)
	n.hostAddr = fmt.Sprintf("10.232.%d.%d", pid%250, sub+1)
	n.nsAddr = fmt.Sprintf("10.232.%d.%d", pid%250, sub+2)
	run(t, nil, "ip", "netns", "add", n.name)
	t.Cleanup(func() {
		runErr(nil, "ip", "link", "del", n.hostIf) // takes its peer along
		if out, err := runErr(nil, "ip", "netns", "del", n.name); err != nil {
			t.Errorf("ip netns del %s: %v %s", n.name, err, out)
		}
	})
	run(t, nil, "ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf)
	run(t, nil, "ip", "link", "set", n.nsIf, "netns", n.name)
	run(t, nil, "ip", "addr", "add", n.hostAddr+"/30", "dev", n.hostIf)
	run(t, nil, "ip", "link", "set", n.hostIf, "up")
	run(t, nil, "ip", "-n", n.name, "addr", "add", n.nsAddr+"/30", "dev", n.nsIf)
	run(t, nil, "ip", "-n", n.name, "link", "set", n.nsIf, "up")
	run(t, nil, "ip", "-n", n.name, "link", "set", "lo", "up")
	return n
}

// startIn starts `ip netns exec NS sleep 300` as a new process group whose
// leader is moved into the cgroup rel of cgs BEFORE it enters the namespace
// (it waits on its stdin first), so its memory is charged there. It waits
// until the pid is in the namespace and returns the pid; cgs kills it.
func (n *testNetns) startIn(t *testing.T, cgs *cgrouptest.Tree, rel string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read x; exec ip netns exec "+n.name+" sleep 300")
	in := cgs.Start(cmd, rel)
	pid := cmd.Process.Pid
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	self := nsInode(t, "/proc/self/ns/net")
	if !poll(10*time.Second, 10*time.Millisecond, func() bool {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return strings.TrimSpace(string(comm)) == "sleep" && nsInode(t, fmt.Sprintf("/proc/%d/ns/net", pid)) != self
	}) {
		t.Fatalf("pid %d never became sleep in netns %s", pid, n.name)
	}
	return pid
}

// traffic sends a little to the namespace: UDP datagrams and TCP connects
// to a closed port (SYN in, RST out).
func (n *testNetns) traffic() {
	for i := 0; i < 20; i++ {
		if c, err := net.Dial("udp", net.JoinHostPort(n.nsAddr, "9")); err == nil {
			c.Write(bytes.Repeat([]byte("x"), 200))
			c.Close()
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(n.nsAddr, "9"), time.Second); err == nil {
			c.Close()
		}
	}
}

func nsInode(t *testing.T, p string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return 0
	}
	return st.Ino
}

// netDevColumns are the 16 counters of a /proc/net/dev line in kernel
// order, by the collector's metric names.
var netDevColumns = [16]string{
	"rx_byte", "rx_packets", "rx_errors", "rx_drop", "rx_fifo", "rx_frame", "rx_compressed", "rx_multicast",
	"tx_byte", "tx_packets", "tx_errors", "tx_drop", "tx_fifo", "tx_colls", "tx_carrier", "tx_compressed",
}

func netDevColumn(name string) int {
	for i, c := range netDevColumns {
		if c == name {
			return i
		}
	}
	panic("no /proc/net/dev column " + name)
}

// readNetDev parses a /proc/net/dev file: interface -> counters.
func readNetDev(p string) (map[string][16]uint64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	m := map[string][16]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 16 {
			return nil, fmt.Errorf("%s: %q: %d fields", p, sc.Text(), len(f))
		}
		var v [16]uint64
		for i, s := range f {
			if v[i], err = strconv.ParseUint(s, 10, 64); err != nil {
				return nil, fmt.Errorf("%s: %q: %v", p, sc.Text(), err)
			}
		}
		m[strings.TrimSpace(name)] = v
	}
	return m, nil
}

// netSampler reads the host's /proc/1/net/dev every 100 ms with the wall
// time of each read, so that a Carbon point of tick T (read by the
// collector between T and T+1 s) can be bracketed by the test's reads.
type netSampler struct {
	mu      sync.Mutex
	samples []netSample
	stop    chan struct{}
	done    chan struct{}
}

type netSample struct {
	before, after time.Time // the read happened between these
	dev           map[string][16]uint64
}

func sampleHostNetDev(t *testing.T) *netSampler {
	s := &netSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			before := time.Now()
			dev, err := readNetDev("/proc/1/net/dev")
			if err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, netSample{before, time.Now(), dev})
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() { close(s.stop); <-s.done })
	return s
}

// bracket returns the host's counter col of iface from the last read that
// ended before from and the first that began after to; ok is false when the
// reads do not cover [from, to] yet.
func (s *netSampler) bracket(iface string, col int, from, to time.Time) (lo, hi uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var haveLo bool
	for _, x := range s.samples {
		v, in := x.dev[iface]
		if !in {
			continue
		}
		if !x.after.After(from) {
			lo, haveLo = v[col], true
		}
		if x.before.After(to) {
			return lo, v[col], haveLo
		}
	}
	return 0, 0, false
}

// last is the newest read.
func (s *netSampler) last() map[string][16]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return nil
	}
	return s.samples[len(s.samples)-1].dev
}
