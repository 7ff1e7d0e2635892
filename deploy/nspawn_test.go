// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const machines = "/var/lib/machines"

// removeMachine deletes what nspawn-container and nspawn leave for name.
func removeMachine(name string) {
	os.RemoveAll(filepath.Join(machines, name))
	for _, f := range []string{".lock", ".sha256", ".sha256.tmp"} {
		os.Remove(filepath.Join(machines, "."+name+f))
	}
	if m, _ := filepath.Glob(filepath.Join(machines, "."+name+".*")); m != nil {
		for _, p := range m {
			os.RemoveAll(p)
		}
	}
	os.Remove(filepath.Join("/run/systemd/nspawn/propagate", name))
}

func machineName(t *testing.T) string {
	name := fmt.Sprintf("nmtest-%d-%s", os.Getpid(), strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")))
	if len(name) > 64 {
		name = name[:64]
	}
	t.Cleanup(func() { removeMachine(name) })
	return name
}

// TestWrapperErrors: --help, and one line + exit 2 for each thing missing.
func TestWrapperErrors(t *testing.T) {
	requireRoot(t)
	img := filepath.Join(builtImage(t), "nodemetrics.tar.gz")
	out, err := runErr(nil, wrapper, "--help")
	if err != nil || !strings.Contains(out, "usage: nspawn-container") {
		t.Errorf("--help: %v\n%s", err, out)
	}
	cases := []struct {
		name string
		cmd  []string
		env  []string
		want string
	}{
		{"no image", []string{wrapper}, nil, "nspawn-container: no image given (see --help)"},
		{"missing image", []string{wrapper, "/nonexistent/image.tar.gz"}, nil, "nspawn-container: image not found: /nonexistent/image.tar.gz"},
		{"not root", []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", wrapper, img}, nil,
			"nspawn-container: must run as root (systemd-nspawn needs it)"},
		{"no systemd-nspawn", []string{wrapper, img}, []string{"SYSTEMD_NSPAWN=/nonexistent/systemd-nspawn"},
			"nspawn-container: systemd-nspawn not found (install the systemd-container package)"},
		{"bad option", []string{wrapper, "--bogus", img}, nil, "nspawn-container: unknown option --bogus (see --help)"},
		{"bad name", []string{wrapper, "--name", "../x", img}, nil, "nspawn-container: bad machine name '../x': use [A-Za-z0-9._-]"},
	}
	for _, c := range cases {
		out, err := runErr(c.env, c.cmd[0], c.cmd[1:]...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit 2", c.name, err)
		}
		if strings.TrimSuffix(out, "\n") != c.want {
			t.Errorf("%s: output %q, want the one line %q", c.name, out, c.want)
		}
	}
}

// TestWrapperImport: the import is idempotent (an unchanged image is not
// unpacked again) and a new image replaces the old one.
func TestWrapperImport(t *testing.T) {
	requireNspawn(t)
	dir := builtImage(t)
	name := machineName(t)
	img := filepath.Join(dir, "nodemetrics.tar.gz")
	run(t, nil, wrapper, "--name", name, "--dry-run", img)
	bin := filepath.Join(machines, name, "usr/bin/collector")
	st1, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	run(t, nil, wrapper, "--name", name, "--dry-run", img)
	st2, _ := os.Stat(bin)
	if !os.SameFile(st1, st2) {
		t.Error("the same image was unpacked again")
	}
	// A changed image (a directory with one more file) replaces it.
	tree := filepath.Join(t.TempDir(), "tree")
	run(t, nil, "cp", "-a", filepath.Join(dir, "rootfs"), tree)
	if err := os.WriteFile(filepath.Join(tree, "etc", "marker"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, wrapper, "--name", name, "--dry-run", tree)
	if _, err := os.Stat(filepath.Join(machines, name, "etc", "marker")); err != nil {
		t.Errorf("new image not imported: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(machines, "."+name+".*"))
	for _, l := range left {
		if !strings.HasSuffix(l, ".lock") && !strings.HasSuffix(l, ".sha256") {
			t.Errorf("left behind: %s", l)
		}
	}
}

// TestWrapperHostDetection: on a host whose PID 1 is not systemd (this one)
// --keep-unit is added, and UNIFIED_HIERARCHY=1 on hybrid cgroups.
func TestWrapperHostDetection(t *testing.T) {
	requireNspawn(t)
	name := machineName(t)
	out := run(t, nil, wrapper, "--name", name, "--dry-run", filepath.Join(builtImage(t), "nodemetrics.tar.gz"),
		"--", "--graphite", "127.0.0.1:1", "--procfs=/p")
	_, systemdHost := os.Stat("/run/systemd/system")
	hybrid := fsType(t, "/sys/fs/cgroup") == "tmpfs" && fsType(t, "/sys/fs/cgroup/unified") == "cgroup2"
	t.Logf("systemd host: %v, hybrid cgroups: %v\n%s", systemdHost == nil, hybrid, out)
	if systemdHost != nil && !strings.Contains(out, " --keep-unit ") {
		t.Error("no --keep-unit on a host without systemd")
	}
	if systemdHost != nil && hybrid != strings.Contains(out, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1\n") {
		t.Errorf("UNIFIED_HIERARCHY=1 set %v on hybrid=%v", !hybrid, hybrid)
	}
	if !strings.Contains(out, "/usr/bin/collector --sysfs /host/sys --rootfs /host/root --graphite 127.0.0.1:1 --procfs=/p") {
		t.Error("default collector flags not replaced by the given ones")
	}
}

func fsType(t *testing.T, p string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return ""
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs"
	case 0x63677270:
		return "cgroup2"
	}
	return fmt.Sprintf("%#x", st.Type)
}

// TestNspawnSettingsFile runs units/nodemetrics.nspawn (trusted from
// /run/systemd/nspawn) with the drop-in's environment: one sample, as
// systemd-nspawn@nodemetrics.service would run it minus --boot & co.
func TestNspawnSettingsFile(t *testing.T) {
	requireNspawn(t)
	name := machineName(t)
	run(t, nil, wrapper, "--name", name, "--dry-run", filepath.Join(builtImage(t), "nodemetrics.tar.gz"))
	settings := string(readFile(t, filepath.Join(root, "units", "nodemetrics.nspawn")))
	settings = strings.Replace(settings, "--graphite 127.0.0.1:2003 --interval 60s",
		"--once --output - --collectors loadavg,network", 1)
	if err := os.MkdirAll("/run/systemd/nspawn", 0o755); err != nil {
		t.Fatal(err)
	}
	sf := filepath.Join("/run/systemd/nspawn", name+".nspawn")
	if err := os.WriteFile(sf, []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(sf) })
	env := nspawnEnvList(parseUnit(t, "systemd-nspawn@nodemetrics.service.d/nodemetrics.conf"))
	env = append(env, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1")
	out := run(t, env, "systemd-nspawn", "--quiet", "--keep-unit", "--register=no", "--console=pipe",
		"--settings=override", "-D", filepath.Join(machines, name))
	host := shortHostname(t)
	if !strings.Contains(out, "servers."+host+".loadavg.01 ") || !strings.Contains(out, "servers."+host+".agent.collectors.network.success 1 ") {
		t.Errorf("no servers.%s.loadavg lines or network success through the .nspawn file:\n%s", host, out)
	}
}

// receiver is a plaintext Graphite listener that keeps every line with its
// arrival time.
type receiver struct {
	ln    net.Listener
	mu    sync.Mutex
	lines []rxLine
}

type rxLine struct {
	at   time.Time
	line string
}

func listen(t *testing.T) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					r.mu.Lock()
					r.lines = append(r.lines, rxLine{time.Now(), sc.Text()})
					r.mu.Unlock()
				}
			}()
		}
	}()
	return r
}

// wait polls until some line after since starts with prefix.
func (r *receiver) wait(prefix string, since time.Time, d time.Duration) (string, bool) {
	for end := time.Now().Add(d); ; {
		if l, ok := r.find(prefix, since); ok {
			return l, true
		}
		if time.Now().After(end) {
			return "", false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *receiver) find(prefix string, since time.Time) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		if !l.at.Before(since) && strings.HasPrefix(l.line, prefix) {
			return l.line, true
		}
	}
	return "", false
}

// loopMount makes an ext4 filesystem in a file and mounts it at dir.
func loopMount(t *testing.T, dir string) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	run(t, nil, "truncate", "-s", "16M", img)
	run(t, nil, "mkfs.ext4", "-q", "-F", img)
	dev := strings.TrimSpace(run(t, nil, "losetup", "--find", "--show", img))
	t.Cleanup(func() { runErr(nil, "losetup", "-d", dev) })
	run(t, nil, "mount", "-t", "ext4", dev, dir)
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
}

// diskspaceName is Diamond's name of a mount point (no escapes in ours).
func diskspaceName(mp string) string {
	return strings.NewReplacer("/", "_", ".", "_").Replace(mp)
}

// TestNspawnEndToEnd runs the image through nspawn-container under a real
// systemd-nspawn, sending every second to a plaintext listener, without
// --hostname: lines must arrive under the HOST's short name. Then ext4
// loop filesystems are mounted on the host after the container started:
//
//   - under a shared mount (what systemd makes / on a normal host, e.g.
//     Flatcar): the mount propagates into /host/root and diskspace.<name>
//     must appear, and stop after the unmount;
//   - under a private mount (this machine's /, whose PID 1 is not systemd):
//     the mount does not propagate, and the test only reports what it saw.
func TestNspawnEndToEnd(t *testing.T) {
	requireNspawn(t)
	name := machineName(t)
	img := filepath.Join(builtImage(t), "nodemetrics.tar.gz")
	host := shortHostname(t)
	rx := listen(t)

	// A shared mount point made before the container starts.
	shared := t.TempDir()
	run(t, nil, "mount", "--bind", shared, shared)
	t.Cleanup(func() { syscall.Unmount(shared, syscall.MNT_DETACH) })
	run(t, nil, "mount", "--make-shared", shared)
	sharedMP := filepath.Join(shared, "disk")
	if err := os.Mkdir(sharedMP, 0o755); err != nil {
		t.Fatal(err)
	}
	privateMP := t.TempDir()
	propagation := strings.TrimSpace(run(t, nil, "findmnt", "-no", "PROPAGATION", "/"))
	t.Logf("host / propagation: %s", propagation)

	cmd := exec.Command(wrapper, "--name", name, img, "--",
		"--graphite", rx.ln.Addr().String(), "--interval", "1s", "--log-level", "debug")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			t.Logf("nspawn-container exited: %v", err)
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("nspawn-container did not stop within 15s of SIGTERM")
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("container output:\n%s", logs.String())
		}
	})

	start := time.Now()
	if l, ok := rx.wait("servers."+host+".", start, 30*time.Second); !ok {
		t.Fatalf("no line under servers.%s. within 30s", host)
	} else {
		t.Logf("first line: %s", l)
	}
	if l, ok := rx.find("servers."+name+".", start); ok {
		t.Errorf("a line under the container's name: %s", l)
	}
	if _, ok := rx.wait("servers."+host+".agent.", start, 10*time.Second); !ok {
		t.Errorf("no self-metrics servers.%s.agent.*", host)
	}
	if _, ok := rx.wait("servers."+host+".network.", start, 10*time.Second); !ok {
		t.Errorf("no servers.%s.network.*", host)
	}
	if l, ok := rx.wait("servers."+host+".diskspace.root.byte_used ", start, 10*time.Second); !ok {
		t.Errorf("no servers.%s.diskspace.root.byte_used", host)
	} else {
		t.Log(l)
	}

	// Mount after start.
	loopMount(t, sharedMP)
	loopMount(t, privateMP)
	mounted := time.Now()
	sharedKey := "servers." + host + ".diskspace." + diskspaceName(sharedMP) + ".byte_used "
	privateKey := "servers." + host + ".diskspace." + diskspaceName(privateMP) + ".byte_used "
	// What the container sees at /host/root/<mp>, through the collector's
	// root (it is nspawn's child, in the host pid namespace): the mounted
	// filesystem (propagated) or the directory below it (not).
	privateSeen := false
	pid := cmd.Process.Pid // the wrapper exec'd systemd-nspawn
	if kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		for _, kid := range strings.Fields(string(kids)) {
			comm, _ := os.ReadFile("/proc/" + kid + "/comm")
			if strings.TrimSpace(string(comm)) != "collector" {
				continue
			}
			for _, mp := range []string{sharedMP, privateMP} {
				seen := sameDev(mp, fmt.Sprintf("/proc/%s/root/host/root%s", kid, mp))
				t.Logf("container sees the host mount at /host/root%s: %v", mp, seen)
				privateSeen = privateSeen || (mp == privateMP && seen)
			}
		}
	}
	if l, ok := rx.wait(sharedKey, mounted, 10*time.Second); !ok {
		t.Errorf("a filesystem mounted after start under a shared mount: no %s", sharedKey)
	} else {
		t.Logf("shared: %s", l)
	}
	// The private one: reported exactly when the container sees it.
	if l, ok := rx.wait(privateKey, mounted, 3*time.Second); ok != privateSeen {
		t.Errorf("private mount point: container sees it %v, collector reported it %v (%s)", privateSeen, ok, l)
	} else {
		t.Logf("private mount point (host / %s): propagated and reported: %v", propagation, ok)
	}

	// Unmount: the shared one must stop.
	if err := syscall.Unmount(sharedMP, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Unmount(privateMP, 0)
	unmounted := time.Now().Add(1500 * time.Millisecond) // a cycle may be in flight
	if _, ok := rx.wait("servers."+host+".agent.", unmounted.Add(time.Second), 10*time.Second); !ok {
		t.Fatal("the agent stopped sending after the unmount")
	}
	if l, ok := rx.find(sharedKey, unmounted); ok {
		t.Errorf("still sent after the unmount: %s", l)
	}
	stop()
}

func sameDev(a, b string) bool {
	var x, y syscall.Stat_t
	return syscall.Stat(a, &x) == nil && syscall.Stat(b, &y) == nil && x.Dev == y.Dev
}
