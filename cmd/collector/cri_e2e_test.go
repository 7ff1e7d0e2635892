// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/dockertest"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// containerdSock is the containerd the Docker Engine runs on the project's
// machines; ctr talks to it in the kubelet's k8s.io namespace.
const containerdSock = "/run/docker/containerd/containerd.sock"

func ctr(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"-a", containerdSock, "-n", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// busyboxRootfs is a one-binary root: Debian's static busybox (installed by
// scripts/deps.sh), no registry.
func busyboxRootfs(t *testing.T) string {
	dir := t.TempDir()
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("static busybox (scripts/deps.sh installs busybox-static): %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "sleep"} {
		os.Symlink("busybox", filepath.Join(dir, "bin", l))
	}
	return dir
}

// criPod is a Kubernetes pod made the way the kubelet's CRI makes it, with
// ctr: a sandbox (pause) container owning the network namespace, and
// workload containers joining it, all with the CRI annotations.
type criPod struct {
	t                *testing.T
	rootfs, ns, name string
	uid, qos         string
	systemd          bool
	ids              []string
	sandboxID        string
}

func (p *criPod) cgroup(id string) string {
	if !p.systemd {
		return "kubepods/" + p.qos + "/pod" + p.uid + "/" + id
	}
	u := strings.ReplaceAll(p.uid, "-", "_")
	return "kubepods.slice/kubepods-" + p.qos + ".slice/kubepods-" + p.qos + "-pod" + u + ".slice/cri-containerd-" + id + ".scope"
}

func (p *criPod) run(typ, container, image string, extra ...string) string {
	t := p.t
	t.Helper()
	id := cgrouptest.ID(t)
	p.ids = append(p.ids, id)
	t.Cleanup(func() {
		exec.Command("ctr", "-a", containerdSock, "-n", "k8s.io", "task", "rm", "-f", id).Run()
		exec.Command("ctr", "-a", containerdSock, "-n", "k8s.io", "container", "rm", id).Run()
	})
	args := []string{"run", "-d", "--null-io", "--cgroup", p.cgroup(id),
		"--annotation", "io.kubernetes.cri.container-type=" + typ,
		"--annotation", "io.kubernetes.cri.sandbox-name=" + p.name,
		"--annotation", "io.kubernetes.cri.sandbox-namespace=" + p.ns,
		"--annotation", "io.kubernetes.cri.sandbox-uid=" + p.uid}
	if typ == "container" {
		args = append(args, "--annotation", "io.kubernetes.cri.container-name="+container,
			"--annotation", "io.kubernetes.cri.image-name="+image,
			"--annotation", "io.kubernetes.cri.sandbox-id="+p.sandboxID)
	} else {
		args = append(args, "--annotation", "io.kubernetes.cri.image-name=registry.k8s.io/pause:3.9")
		p.sandboxID = id
	}
	args = append(args, extra...)
	args = append(args, "--rootfs", p.rootfs, id, "/bin/sh", "-c", "while :; do /bin/sleep 1; done")
	ctr(t, args...)
	return id
}

// taskPid is the host pid of a running task.
func taskPid(t *testing.T, id string) int {
	for _, l := range strings.Split(ctr(t, "task", "ls"), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == id {
			pid, _ := strconv.Atoi(f[1])
			return pid
		}
	}
	t.Fatalf("task %s not listed", id)
	return 0
}

// start makes the pod: the sandbox with a veth in its new network
// namespace (the CNI's part), then the workload containers in it.
func (p *criPod) start(workloads map[string]string) {
	t := p.t
	// runc removes a container's cgroups, the kubelet the pod's: here the
	// test does (registered first, so it runs after the containers went).
	t.Cleanup(func() { removePodCgroups(p.uid) })
	p.run("sandbox", "", "")
	pid := taskPid(t, p.sandboxID)
	veth := "nmv" + p.uid[len(p.uid)-8:]
	if out, err := exec.Command("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(pid)).CombinedOutput(); err != nil {
		t.Fatalf("veth into the pod: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	exec.Command("ip", "link", "set", veth, "up").Run()
	exec.Command("nsenter", "-t", strconv.Itoa(pid), "-n", "ip", "link", "set", "eth0", "up").Run()
	for name, image := range workloads {
		p.run("container", name, image, "--with-ns", "network:/proc/"+strconv.Itoa(pid)+"/ns/net")
	}
}

// TestContainerdKubernetesEndToEnd runs Kubernetes-shaped pods on the real
// containerd (the Docker Engine's, through ctr in the k8s.io namespace,
// with the kubelet's CRI annotations), one with the cgroupfs and one with
// the systemd cgroup shape, and the agent with --tags against a real
// Graphite: each workload is published once as namespace/pod/container with
// its image tag (on these machines the memory controller puts it at another
// relative path, process_api/<hash>/kubepods/...), the pause containers
// are not published, the pod's network once.
func TestContainerdKubernetesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real containers and Graphite")
	}
	if _, err := exec.LookPath("ctr"); err != nil {
		t.Fatalf("ctr (containerd's CLI; scripts/deps.sh installs it): %v", err)
	}
	sfx := randSuffix()
	rootfs := busyboxRootfs(t)
	ns := "shop" + sfx
	a := &criPod{t: t, rootfs: rootfs, ns: ns, name: "web-7d9", uid: "0badc0de-" + sfx + "-4000-8000-00000000000a", qos: "besteffort"}
	b := &criPod{t: t, rootfs: rootfs, ns: ns, name: "web-8e1", uid: "0badc0de-" + sfx + "-4000-8000-00000000000b", qos: "burstable", systemd: true}
	a.start(map[string]string{"nginx": "registry.local/shop/web:1.4", "sidecar": "registry.local/shop/proxy:2"})
	b.start(map[string]string{"nginx": "registry.local/shop/web:1.5"})

	g := graphitetest.Start(t)
	host := "cri" + sfx
	startAgent(t, "--graphite", g.CarbonAddr, "--interval", "1s", "--hostname", host, "--prefix", "test",
		"--collectors", "containers", "--tags", "--docker-host", "unix://"+filepath.Join(t.TempDir(), "none.sock"),
		"--log-level", "debug")

	// The bar: the image tag selects the web pods' containers.
	series := g.WaitFor(t, "seriesByTag('name=container.cpu.total','image=~registry.local/shop/web.*','namespace="+ns+"')", "-10min",
		func(s []graphitetest.Series) bool { return len(s) == 2 }, 60*time.Second)
	got := map[string]string{}
	for _, s := range series {
		got[s.Tags["container"]] = s.Tags["image"] + " " + s.Tags["pod"] + " " + s.Tags["runtime"]
	}
	want := map[string]string{
		ns + "_web-7d9_nginx": "registry.local/shop/web:1.4 web-7d9 containerd",
		ns + "_web-8e1_nginx": "registry.local/shop/web:1.5 web-8e1 containerd",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tagged series of %s: %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	prefix := "test." + host + ".containers."
	node := func(pod, c string) string { return ns + "_" + pod + "_" + c }
	// Each workload once, by name; every metric of a v1 controller there
	// (memory from the nested hierarchy too).
	for _, n := range []string{node("web-7d9", "nginx"), node("web-7d9", "sidecar"), node("web-8e1", "nginx")} {
		g.WaitFor(t, prefix+n+".memory.usage_byte", "-10min", func(s []graphitetest.Series) bool {
			_, _, ok := lastValue(s)
			return ok
		}, 30*time.Second)
		g.WaitFor(t, prefix+n+".cpu.total", "-10min", func(s []graphitetest.Series) bool {
			_, _, ok := lastValue(s)
			return ok
		}, 30*time.Second)
	}
	// Pod a's network (its veth) once, under one of its two workloads.
	g.WaitFor(t, prefix+ns+"_web-7d9_*.network.eth0.rx_byte", "-10min", func(s []graphitetest.Series) bool { return len(s) == 1 }, 30*time.Second)
	all, err := g.Find(prefix + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		for _, id := range append(a.ids, b.ids...) {
			if strings.Contains(p, id[:12]) {
				t.Errorf("%s published by id (a second identity, or a pause container): %s", id, p)
			}
		}
	}
	var ours []string
	for _, p := range all {
		if strings.HasPrefix(p, prefix+ns+"_") {
			ours = append(ours, p)
		}
	}
	t.Logf("the pods' container nodes: %v", ours)
	if len(ours) != 3 {
		t.Errorf("%d container nodes of the test's pods, want the 3 workloads: %v", len(ours), all)
	}
}

// removePodCgroups removes the pod cgroups (and the qos/kubepods parents
// left empty) of pod uid in every hierarchy, wherever it sits.
func removePodCgroups(uid string) {
	u := strings.ReplaceAll(uid, "-", "_")
	var dirs []string
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(d.Name(), uid) || strings.Contains(d.Name(), u) {
			dirs = append(dirs, p)
			return filepath.SkipDir
		}
		return nil
	})
	for _, d := range dirs {
		var sub []string
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		for i := len(sub) - 1; i >= 0; i-- {
			for try := 0; try < 100 && os.Remove(sub[i]) != nil && !os.IsNotExist(os.Remove(sub[i])); try++ {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
}

// TestDockerStateFilesWithoutAPI runs a real Docker container and the agent
// with --docker-host pointing at a dead socket (the daemon other tests use
// keeps running): the name, image and labels still come from Docker's
// config.v2.json, in the first cycle.
func TestDockerStateFilesWithoutAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real container")
	}
	dockertest.Require(t)
	sfx := randSuffix()
	img := "nmtest-bb" + sfx + ":1"
	tarball := filepath.Join(t.TempDir(), "rootfs.tar")
	if out, err := exec.Command("tar", "-C", busyboxRootfs(t), "--owner=0", "--group=0", "-cf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	dockertest.Cmd(t, "import", tarball, img)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })
	name := "nmt" + sfx + "-state"
	cs := &testContainers{t: t}
	t.Cleanup(cs.cleanup)
	id := cs.run(name, "--label", "tier=web", "--network", "none", img, "/bin/sh", "-c", "while :; do /bin/sleep 1; done")

	// A socket that refuses: a unix socket file nobody listens on.
	dead := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", dead)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	var out, logs syncbuf.Buffer
	code := run(context.Background(), []string{"--once", "--output", "-", "--hostname", "h", "--collectors", "containers",
		"--tags", "--tag-labels", "tier", "--docker-host", "unix://" + dead}, &out, &logs)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, logs.String())
	}
	plain, tagged := "servers.h.containers."+name+".pids.current ", "container.pids.current;container="+name+";host=h;image="+img+";label_tier=web;runtime=docker "
	if !strings.Contains(out.String(), plain) || !strings.Contains(out.String(), tagged) {
		t.Errorf("want %q and %q in:\n%s", plain, tagged, grepLines(out.String(), "pids.current"))
	}
	if strings.Contains(out.String(), "containers."+id[:12]) {
		t.Errorf("published by id as well:\n%s", grepLines(out.String(), id[:12]))
	}
}

// grepLines is the lines of s containing sub.
func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
