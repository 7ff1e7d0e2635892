// SPDX-License-Identifier: Apache-2.0

package dashboards

// Real containers for the check: cgroups made by the test in every
// hierarchy under /sys/fs/cgroup, with a real process (this test binary in
// workload mode) moved into each, and a stub Docker Engine API that gives
// them names, images and labels. The agent discovers them exactly as it
// discovers Docker's (the systemd driver's system.slice/docker-<id>.scope).

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
)

// containerID is a 64-hex id starting with 0badc0de (recognisable in a
// cgroup listing if a run is interrupted before its cleanup).
func containerID(t testing.TB) string {
	b := make([]byte, 28)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "0badc0de" + hex.EncodeToString(b)
}

// ---- the stub Docker Engine API ----

// dockerStub answers the calls the agent's docker cache makes (/version,
// /containers/json, /containers/{id}/json) from the test's table, over a
// unix socket. It has no /events stream: the agent then reports the
// lifecycle of these containers from their cgroups (start on appearance,
// oom from memory.oom_control, die on removal), with the names and images
// the table gives.
type dockerStub struct {
	Socket string
	mu     sync.Mutex
	byID   map[string]stubContainer
	lists  int // /containers/json answered
}

type stubContainer struct {
	ID, Name, Image string
	Labels          map[string]string
	Pid             int
}

var apiPath = regexp.MustCompile(`^/v[0-9.]+(/.*)$`)

func startDockerStub(t testing.TB) *dockerStub {
	d := &dockerStub{Socket: filepath.Join(t.TempDir(), "docker.sock"), byID: map[string]stubContainer{}}
	ln, err := net.Listen("unix", d.Socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(d.serve), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return d
}

func (d *dockerStub) add(c stubContainer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.byID[c.ID] = c
}

func (d *dockerStub) remove(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.byID, id)
}

func (d *dockerStub) listCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lists
}

func (d *dockerStub) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if m := apiPath.FindStringSubmatch(path); m != nil {
		path = m[1]
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case path == "/version":
		reply(map[string]string{"Version": "20.10.0-nmtest", "ApiVersion": "1.41", "MinAPIVersion": "1.12"})
	case path == "/containers/json":
		d.lists++
		list := []map[string]any{}
		for _, c := range d.byID {
			list = append(list, map[string]any{"Id": c.ID, "Names": []string{"/" + c.Name}, "Image": c.Image,
				"Labels": c.Labels, "State": "running"})
		}
		reply(list)
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		c, ok := d.byID[strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			reply(map[string]string{"message": "No such container"})
			return
		}
		reply(map[string]any{"Id": c.ID, "Name": "/" + c.Name, "Image": "sha256:" + strings.Repeat("0", 64),
			"State":  map[string]any{"Status": "running", "Running": true, "Pid": c.Pid},
			"Config": map[string]any{"Image": c.Image, "Labels": c.Labels}})
	default:
		w.WriteHeader(http.StatusNotFound)
		reply(map[string]string{"message": "page not found"})
	}
}

// ---- the containers ----

// workload is what a test container's process does (this test binary
// re-executed with NMTEST_WORKLOAD set; see TestMain).
type workload struct {
	CPU   float64 // share of one CPU, varied slowly around this
	MemMB int     // anonymous memory held
	Net   float64 // own network namespace; frames per 10 ms on its eth0 (linkPair)
	IODir string  // direct-IO writes and reads of a file here
	Phase float64 // offset of the slow variation
}

// testContainer is one container of the check.
type testContainer struct {
	name, image string
	labels      map[string]string
	work        workload
	memLimit    int64   // bytes, 0: none
	cpuQuota    float64 // CPUs, 0: none

	id, rel string
	cmd     *exec.Cmd
	stdin   *os.File
}

// startContainer starts c's process (in a new network namespace if it
// has one), tells the stub Docker daemon about it, and (with waitList)
// waits until the agent's docker cache has listed it, so that its first
// cycle already has the name; then makes its cgroup (Docker's systemd
// driver path) in every hierarchy, moves the process in and lets it go.
func startContainer(t testing.TB, r *cgrouptest.Tree, stub *dockerStub, c *testContainer, waitList bool) {
	t.Helper()
	c.id = containerID(t)
	c.rel = "system.slice/docker-" + c.id + ".scope"
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(c.work)
	c.cmd = exec.Command(exe, "-test.run=^$")
	c.cmd.Env = append(os.Environ(), "NMTEST_WORKLOAD="+string(spec))
	c.cmd.Stdout, c.cmd.Stderr = os.Stderr, os.Stderr
	if c.work.Net > 0 {
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	}
	c.stdin = r.Start(c.cmd, "")
	before := stub.listCount()
	stub.add(stubContainer{ID: c.id, Name: c.name, Image: c.image, Labels: c.labels, Pid: c.cmd.Process.Pid})
	if waitList {
		// The cache lists the daemon every interval: two listings after
		// the add include it.
		deadline := time.Now().Add(30 * time.Second)
		for stub.listCount() < before+2 {
			if time.Now().After(deadline) {
				t.Fatal("the agent never listed the stub Docker daemon's containers")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	r.Mkdir(c.rel)
	if c.memLimit > 0 {
		v := strconv.FormatInt(c.memLimit, 10)
		if !r.Set(c.rel, v, "memory.limit_in_bytes", "memory.max") {
			t.Fatalf("%s: no memory controller to limit", c.name)
		}
	}
	if c.cpuQuota > 0 {
		us := strconv.Itoa(int(c.cpuQuota * 100000))
		r.Set(c.rel, "100000", "cpu.cfs_period_us")
		if !r.Set(c.rel, us, "cpu.cfs_quota_us") && !r.Set(c.rel, us+" 100000", "cpu.max") {
			t.Fatalf("%s: no cpu controller to limit", c.name)
		}
	}
	r.Move(c.rel, c.cmd.Process.Pid)
	if _, err := c.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
}

// stopContainer kills the container's processes and removes its cgroup.
func stopContainer(r *cgrouptest.Tree, stub *dockerStub, c *testContainer) {
	r.Kill(c.cmd)
	r.Rmdir(c.rel)
	stub.remove(c.id)
}

// runWorkload is the container process: it waits for a line on stdin (it
// has been moved into its cgroup by then), then burns CPU, holds memory,
// sends frames between its two veths and does direct IO until stdin
// closes or it is killed.
func runWorkload(spec string) {
	var w workload
	if err := json.Unmarshal([]byte(spec), &w); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(2)
	}
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(0)
	}
	go func() { // parent gone or test over: stop
		in.ReadString('\n')
		os.Exit(0)
	}()
	start := time.Now()
	wave := func(period float64) float64 {
		return 1 + 0.5*math.Sin(time.Since(start).Seconds()/period*2*math.Pi+w.Phase)
	}
	hold := make([][]byte, 0, w.MemMB)
	for i := 0; i < w.MemMB; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = byte(i + j)
		}
		hold = append(hold, b)
	}
	if w.Net > 0 {
		if err := netLoad(w.Net, wave); err != nil {
			fmt.Fprintln(os.Stderr, "workload: network:", err)
			os.Exit(2)
		}
	}
	if w.IODir != "" {
		go ioLoad(w.IODir, wave)
	}
	for { // CPU: busy for a share of every 100 ms
		busy := time.Duration(w.CPU * wave(20) * float64(100*time.Millisecond))
		t0 := time.Now()
		x := 1.0
		for time.Since(t0) < busy {
			for i := 0; i < 2000; i++ {
				x = x*1.0000001 + 1e-9
			}
		}
		hold[0][0] = byte(x)
		time.Sleep(100*time.Millisecond - busy)
	}
}

// netLoad waits for the eth0 the test gives the process's network
// namespace (one end of a veth pair whose other end is another test
// container's eth0), brings it up without any IP (IPv6 off, so not even a
// link-local address) and sends Ethernet broadcast frames of a local
// experimental ethertype through it, at a rate that varies.
func netLoad(scale float64, wave func(float64) float64) error {
	deadline := time.Now().Add(20 * time.Second)
	var ifi *net.Interface
	for {
		var err error
		if ifi, err = net.InterfaceByName("eth0"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no eth0 after 20 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.WriteFile("/proc/sys/net/ipv6/conf/eth0/disable_ipv6", []byte("1"), 0o644)
	if out, err := exec.Command("ip", "link", "set", "eth0", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set eth0 up: %v: %s", err, out)
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0) // send only
	if err != nil {
		return err
	}
	frame := make([]byte, 1000)
	copy(frame[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(frame[6:12], ifi.HardwareAddr)
	frame[12], frame[13] = 0x88, 0xb5
	sa := &syscall.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Protocol: htons(0x88b5)}
	copy(sa.Addr[:], frame[0:6])
	go func() {
		for {
			n := int(scale * wave(15))
			for i := 0; i < n; i++ {
				syscall.Sendto(fd, frame, 0, sa)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return nil
}

// linkPair joins two test containers' network namespaces with a veth
// pair, eth0 in each (created there directly: nothing appears in the
// host's namespace, and no address is configured).
func linkPair(t testing.TB, a, b *testContainer) {
	t.Helper()
	out, err := exec.Command("ip", "link", "add", "eth0", "netns", strconv.Itoa(a.cmd.Process.Pid), "type", "veth",
		"peer", "name", "eth0", "netns", strconv.Itoa(b.cmd.Process.Pid)).CombinedOutput()
	if err != nil {
		t.Fatalf("veth between %s and %s: %v: %s", a.name, b.name, err, out)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ioLoad writes and reads a file with O_DIRECT (issued by this process,
// so charged to its cgroup's blkio/io accounting) at a varying rate.
func ioLoad(dir string, wave func(float64) float64) {
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("io-%d", os.Getpid())), os.O_RDWR|os.O_CREATE|syscall.O_DIRECT, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload: io:", err)
		return
	}
	defer os.Remove(f.Name())
	const block = 256 << 10
	buf, err := syscall.Mmap( // page aligned, as O_DIRECT wants
		-1, 0, block, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return
	}
	for i := range buf {
		buf[i] = byte(i)
	}
	for off := int64(0); ; off = (off + block) % (16 << 20) {
		n := int(4 * wave(25))
		for i := 0; i < n; i++ {
			f.WriteAt(buf, off)
			f.ReadAt(buf, off)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
