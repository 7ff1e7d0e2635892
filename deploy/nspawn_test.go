// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
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

// hostInterface is Diamond's default interface filter, which the network
// collector applies: ^\s*((?:eth|bond|em|p1p|eno|enp|ens|enx)\S*):
func hostInterface(name string) bool {
	for _, p := range []string{"eth", "bond", "em", "p1p", "eno", "enp", "ens", "enx"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// points are the non-null points of one series (tick -> value); none while
// Carbon has not created it.
func points(g *graphitetest.Graphite, target string) (map[int64]float64, error) {
	ss, err := g.Render(target, "-10min")
	if err != nil || len(ss) == 0 {
		return nil, err
	}
	if len(ss) > 1 {
		return nil, fmt.Errorf("%s: %d series", target, len(ss))
	}
	return ss[0].Values(), nil
}

// waitPoint polls target until it has a point at a tick >= from and
// returns the earliest such; it fails the test after d.
func waitPoint(t *testing.T, g *graphitetest.Graphite, target string, from int64, d time.Duration) (int64, float64) {
	t.Helper()
	var (
		ts   int64
		v    float64
		last map[int64]float64
		err  error
	)
	if !poll(d, 200*time.Millisecond, func() bool {
		if last, err = points(g, target); err != nil {
			return false
		}
		ts = 0
		for k, x := range last {
			if k >= from && (ts == 0 || k < ts) {
				ts, v = k, x
			}
		}
		return ts != 0
	}) {
		t.Fatalf("Carbon: no point of %s at or after %s within %v (err %v, points %v)",
			target, time.Unix(from, 0).Format(time.TimeOnly), d, err, last)
	}
	return ts, v
}

// TestNspawnEndToEnd builds the image, runs it through nspawn-container
// under a real systemd-nspawn against a real carbon-cache on loopback
// (graphitetest), every second with --counters (raw counters, so values
// compare directly with the kernel's), and asserts through graphite-web's
// render API that:
//
//   - every path is under servers.<the host's short hostname>, not the
//     machine's name;
//   - diskspace reports an ext4 filesystem on a loop device that the test
//     mounts on the host AFTER the container started, and stops reporting
//     it once it is unmounted;
//   - network shows exactly the host's interfaces (Diamond's filter), and
//     their counters lie between two reads of the host's /proc/1/net/dev
//     made by the test before and after the cycle of each Carbon point;
//   - the per-container collector finds the docker/<64hex> cgroup the test
//     made, maps it to its process's host pid through cgroup.procs (host
//     pid namespace shared: SYSTEMD_NSPAWN_SHARE_NS_PID=1, no cgroupns:
//     SYSTEMD_NSPAWN_USE_CGNS=0), reads /host/proc/<pid>/net/dev of the
//     netns the process is in, and publishes the veth's counters as they
//     are in that netns, plus memory.usage_byte.
func TestNspawnEndToEnd(t *testing.T) {
	requireNspawn(t)
	begin := time.Now()
	name := machineName(t)
	img := filepath.Join(builtImage(t), "nodemetrics.tar.gz")
	host := shortHostname(t)
	g := graphitetest.Start(t)
	t.Logf("image and Graphite ready after %v", time.Since(begin).Round(time.Millisecond))

	// This host's / is a private mount (PID 1 is not systemd), so a mount
	// made after the container started would never propagate into its
	// /host/root. systemd makes / shared on a normal host (Flatcar too);
	// the test gets the same by making its own mount directory a shared
	// mount point before the container starts, and mounts below it later.
	mp := filepath.Join(sharedDir(t), "disk")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	cgs := cgrouptest.New(t)
	id := cgrouptest.ID(t)
	cgs.Mkdir("docker/" + id) // Docker's cgroupfs driver
	ns := makeNetns(t)
	pid := ns.startIn(t, cgs, "docker/"+id)
	// A memcached on the namespace's loopback only: the agent inside
	// nspawn reaches it only by entering the namespace (CAP_SYS_ADMIN and
	// CAP_SYS_PTRACE are all it kept for that).
	mc := exec.Command("sh", "-c", "read x; exec ip netns exec "+ns.name+" memcached -u nobody -l 127.0.0.1 -p 11211 -t 1")
	if _, err := cgs.Start(mc, "docker/"+id).Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	hostNet := sampleHostNetDev(t)
	t.Logf("cgroup docker/%s, pid %d in netns %s (%s %s <-> %s %s)",
		id, pid, ns.name, ns.hostIf, ns.hostAddr, ns.nsIf, ns.nsAddr)

	cmd := exec.Command(wrapper, "--name", name, img, "--",
		"--graphite", g.CarbonAddr, "--interval", "1s", "--counters", "--log-level", "debug")
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
			if err != nil {
				t.Errorf("nspawn-container exited: %v", err)
			}
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
	started := time.Now()
	root := "servers." + host

	// The host path.
	var tops []string
	if !poll(30*time.Second, 200*time.Millisecond, func() bool {
		tops, _ = g.Find("servers.*")
		return len(tops) > 0
	}) {
		t.Fatalf("nothing under servers.* in Carbon within 30s of the start")
	}
	t.Logf("first paths in Carbon %v after the start", time.Since(started).Round(time.Millisecond))
	// The default spool is on, in the state directory the wrapper binds
	// from the host (it outlives the machine directory).
	if _, err := os.Stat(filepath.Join(machines, "."+name+".state", "spool", url.PathEscape(g.CarbonAddr), "cursor")); err != nil {
		t.Errorf("no default spool in the host's state directory: %v", err)
	}
	rootUsed := root + ".diskspace.root.byte_used"
	waitPoint(t, g, rootUsed, started.Unix(), 10*time.Second)
	if tops, _ = g.Find("servers.*"); len(tops) != 1 || tops[0] != root {
		t.Errorf("Carbon has %v under servers.*, want only %s (the host's name; the machine is %s)", tops, root, name)
	}

	// diskspace: a filesystem mounted after the start, then unmounted.
	dev, unmount := loopMount(t, mp)
	mounted := time.Now()
	loopUsed := root + ".diskspace." + diskspaceName(mp) + ".byte_used"
	ts, v := waitPoint(t, g, loopUsed, mounted.Unix()+1, 15*time.Second)
	t.Logf("%s (ext4 on %s) mounted after the start: %s = %v at %s", mp, dev, loopUsed, v, time.Unix(ts, 0).Format(time.TimeOnly))
	if err := unmount(); err != nil {
		t.Fatal(err)
	}
	// A cycle of tick T reads the mounts at T or later: from the first
	// tick after the unmount on, the filesystem must be gone, while the
	// agent goes on sending (root's points two ticks on).
	gone := time.Now().Unix() + 1
	waitPoint(t, g, rootUsed, gone+1, 15*time.Second)
	if after, err := points(g, loopUsed); err != nil {
		t.Error(err)
	} else {
		for ts, v := range after {
			if ts >= gone {
				t.Errorf("%s still reported after the unmount: %v at %s", loopUsed, v, time.Unix(ts, 0).Format(time.TimeOnly))
			}
		}
	}

	// network: the host's interfaces and counters.
	var want []string
	for ifc := range hostNet.last() {
		if hostInterface(ifc) {
			want = append(want, root+".network."+ifc)
		}
	}
	slices.Sort(want)
	var got []string
	poll(10*time.Second, 200*time.Millisecond, func() bool {
		got, _ = g.Find(root + ".network.*")
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("Carbon has network interfaces %v, the host's /proc/1/net/dev %v", got, want)
	}
	for _, node := range want {
		ifc := strings.TrimPrefix(node, root+".network.")
		for _, col := range []string{"rx_byte", "tx_byte", "rx_packets", "tx_packets"} {
			target := node + "." + col
			// Each point of tick T was read between T and T+1s: the
			// host's counter before T and after T+1s bracket it.
			checked, example := 0, ""
			poll(10*time.Second, 250*time.Millisecond, func() bool {
				pts, err := points(g, target)
				if err != nil {
					return false
				}
				checked = 0
				for ts, v := range pts {
					lo, hi, ok := hostNet.bracket(ifc, netDevColumn(col), time.Unix(ts, 0), time.Unix(ts+1, 0))
					if !ok {
						continue
					}
					checked++
					example = fmt.Sprintf("%d <= %v <= %d at %s", lo, v, hi, time.Unix(ts, 0).Format(time.TimeOnly))
					if v < float64(lo) || v > float64(hi) {
						t.Errorf("%s = %v at %s; the host's /proc/1/net/dev had %d before and %d after that cycle",
							target, v, time.Unix(ts, 0).Format(time.TimeOnly), lo, hi)
						return true
					}
				}
				return checked >= 3
			})
			if checked < 3 {
				t.Errorf("%s: %d points bracketed by host reads, want 3", target, checked)
			} else {
				t.Logf("%s: %d points within the host's counters, e.g. %s", target, checked, example)
			}
		}
	}

	// containers: the test's cgroup, its pid and that pid's netns.
	ns.traffic()
	devPath := fmt.Sprintf("/proc/%d/net/dev", pid)
	readNS := func() [16]uint64 {
		m, err := readNetDev(devPath)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := m[ns.nsIf]
		if !ok {
			t.Fatalf("%s has no %s: %v", devPath, ns.nsIf, m)
		}
		return c
	}
	before := readNS()
	// A point of tick T >= sent+1s was read after before was.
	sent := time.Now()
	if before[0] == 0 || before[1] == 0 {
		t.Fatalf("no traffic arrived in the netns: %v", before)
	}
	ctr := root + ".containers." + id[:12]
	for _, col := range []string{"rx_byte", "rx_packets"} {
		i := netDevColumn(col)
		target := ctr + ".network." + ns.nsIf + "." + col
		ts, v := waitPoint(t, g, target, sent.Unix()+1, 15*time.Second)
		after := readNS()
		if v < float64(before[i]) || v > float64(after[i]) {
			t.Errorf("%s = %v at %s; %s in /proc/%d/net/dev had %d before and %d after",
				target, v, time.Unix(ts, 0).Format(time.TimeOnly), col, pid, before[i], after[i])
		} else {
			t.Logf("%s = %v (the netns of pid %d: %d..%d)", target, v, pid, before[i], after[i])
		}
	}
	mem := ctr + ".memory.usage_byte"
	ts, v = waitPoint(t, g, mem, started.Unix(), 10*time.Second)
	if v <= 0 {
		t.Errorf("%s = %v at %s, want > 0", mem, v, time.Unix(ts, 0).Format(time.TimeOnly))
	} else {
		t.Logf("%s = %v", mem, v)
	}
	conns := ctr + ".memcached.localhost.curr_connections"
	if ts, v = waitPoint(t, g, conns, started.Unix(), 15*time.Second); v < 1 {
		t.Errorf("%s = %v at %s, want >= 1 (the probe's own connection)", conns, v, time.Unix(ts, 0).Format(time.TimeOnly))
	} else {
		t.Logf("%s = %v: the service in the container's namespace was probed from inside nspawn", conns, v)
	}
	if ifs, _ := g.Find(ctr + ".network.*"); len(ifs) != 1 || ifs[0] != ctr+".network."+ns.nsIf {
		t.Errorf("container interfaces in Carbon %v, want only %s (lo is left out)", ifs, ns.nsIf)
	}

	stop()
	t.Logf("end to end in %v (%v after the container started)", time.Since(begin).Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
}
