// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// The README's own commands, run as a new user would run them, so that the
// README cannot drift from the code.

// readme returns README.md.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// codeBlock returns the first fenced code block after the first line that
// contains marker, with backslash-continued lines joined.
func codeBlock(t *testing.T, text, marker string) string {
	t.Helper()
	i := strings.Index(text, marker)
	if i < 0 {
		t.Fatalf("README has no %q", marker)
	}
	rest := text[i:]
	start := strings.Index(rest, "\n```")
	if start < 0 {
		t.Fatalf("README: no code block after %q", marker)
	}
	rest = rest[start+4:]
	rest = rest[strings.Index(rest, "\n")+1:] // the ```lang line
	end := strings.Index(rest, "\n```")
	if end < 0 {
		t.Fatalf("README: unterminated code block after %q", marker)
	}
	return strings.ReplaceAll(rest[:end+1], "\\\n", " ")
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// make run also needs the UDP port (carbon's UDP listener).
		if u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			u.Close()
			return p
		}
	}
}

// procStart is a process's start time (field 22 of /proc/PID/stat), or ""
// when it is gone or a zombie.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(f) < 20 || f[0] == "Z" {
		return ""
	}
	return f[19]
}

// sessionOf is a process's session id (field 6 of /proc/PID/stat).
func sessionOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	if len(f) < 4 {
		return -1
	}
	n, _ := strconv.Atoi(f[3])
	return n
}

// started collects the processes a running `make run` started: those in
// its own session and in the sessions of the pid files it wrote (Graphite's
// servers are session leaders). pid -> start time.
func started(t *testing.T, rundir string, makeSID int) map[int]string {
	t.Helper()
	sessions := map[int]bool{makeSID: true}
	for _, f := range []string{"graphite/run/carbon.pid", "graphite/run/web.pid", "agent.pid"} {
		b, err := os.ReadFile(filepath.Join(rundir, f))
		if err != nil {
			t.Errorf("make run wrote no %s: %v", f, err)
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(string(b) + " x")[0])
		sessions[sessionOf(pid)] = true
	}
	procs := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if sessions[sessionOf(pid)] {
			if st := procStart(pid); st != "" {
				procs[pid] = st
			}
		}
	}
	return procs
}

// TestReadmeMakeRun follows the README's first commands on a fresh clone:
// `make run` starts Graphite and the agent and data arrives; Ctrl-C (SIGINT
// to make's process group, as a terminal sends it) stops every process it
// started, whatever their names became (gunicorn renames itself), leaves no
// machine directory outside .state/run, and a second `make run` works.
func TestReadmeMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image and runs Graphite twice")
	}
	requireRoot(t)
	text := readme(t)
	setup := codeBlock(t, text, "# nodemetrics")
	for _, c := range []string{"make run", "make test"} {
		if !regexp.MustCompile(`(?m)^` + c + `\b`).MatchString(setup) {
			t.Fatalf("the README's first commands do not include %q:\n%s", c, setup)
		}
	}
	for _, knob := range []string{"CARBON_PORT", "WEB_PORT", "INTERVAL"} {
		if !strings.Contains(text, knob) {
			t.Errorf("README does not document make run's %s", knob)
		}
	}
	// A test started in the background inherits SIGINT ignored, and so
	// would make: with a handler installed here, exec gives make the
	// default disposition, as a terminal's foreground job has it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	defer signal.Stop(sigs)
	clone := filepath.Join(t.TempDir(), "nodemetrics")
	run(t, nil, "git", "clone", "-q", root, clone)
	host, _, _ := strings.Cut(shortHostname(t), ".")
	_, machinesBefore := os.Stat("/var/lib/machines/nodemetrics-run")

	for round := 1; round <= 2; round++ {
		carbonPort, webPort := freeTCPPort(t), freeTCPPort(t)
		for webPort == carbonPort {
			webPort = freeTCPPort(t)
		}
		var out syncbuf.Buffer
		cmd := exec.Command("make", "run", "INTERVAL=1s",
			fmt.Sprintf("CARBON_PORT=%d", carbonPort), fmt.Sprintf("WEB_PORT=%d", webPort))
		cmd.Dir = clone
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // a terminal's session
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(90 * time.Second):
				t.Errorf("round %d: make run did not stop within 90 s of SIGINT", round)
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		web := fmt.Sprintf("http://127.0.0.1:%d", webPort)
		since := time.Now().Unix() // the second round's Graphite has the first's data
		target := "servers." + host + ".loadavg.01"
		ok := poll(4*time.Minute, time.Second, func() bool {
			select {
			case err := <-exited:
				exited <- err
				return true
			default:
			}
			return hasPoint(web, target, since)
		})
		select {
		case err := <-exited:
			t.Fatalf("round %d: make run exited early: %v\n%s", round, err, out.String())
		default:
		}
		if !ok {
			stop()
			t.Fatalf("round %d: no %s in graphite-web after 4 min:\n%s", round, target, out.String())
		}
		rundir := filepath.Join(clone, ".state", "run")
		if round == 1 {
			// A second make run beside the first would stop its Graphite.
			second := exec.Command("scripts/run.sh", rundir, "1s")
			second.Dir = clone
			second.Env = append(os.Environ(), fmt.Sprintf("CARBON_PORT=%d", freeTCPPort(t)), fmt.Sprintf("WEB_PORT=%d", freeTCPPort(t)))
			o, err := second.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(o), "already running") {
				t.Errorf("a second make run beside the first: %v\n%s", err, o)
			}
			refused := time.Now().Unix()
			if !poll(30*time.Second, time.Second, func() bool { return hasPoint(web, target, refused) }) {
				t.Error("the first run stopped sending after a second was refused")
			}
		}
		procs := started(t, rundir, cmd.Process.Pid)
		stop()
		logs := out.String()
		if !strings.Contains(logs, "stopped; state kept in "+rundir) {
			t.Errorf("round %d: make run did not report its clean-up:\n%s", round, logs)
		}
		if strings.Contains(logs, "Attempted to remove disk file system") {
			t.Errorf("round %d: nspawn's warning reached the user:\n%s", round, logs)
		}
		if !poll(10*time.Second, 100*time.Millisecond, func() bool {
			for pid, st := range procs {
				if procStart(pid) == st {
					return false
				}
			}
			return true
		}) {
			for pid, st := range procs {
				if procStart(pid) == st {
					cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
					t.Errorf("round %d: pid %d left running: %s", round, pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		for _, p := range []int{carbonPort, webPort} {
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
				c.Close()
				t.Errorf("round %d: port %d still open after Ctrl-C", round, p)
			}
		}
		if _, err := os.Stat(filepath.Join(rundir, "machines")); err != nil && strings.Contains(logs, "under systemd-nspawn") {
			t.Errorf("round %d: the machine directory is not in .state/run: %v", round, err)
		}
		t.Logf("round %d: %d processes started and stopped", round, len(procs))
	}
	if _, err := os.Stat("/var/lib/machines/nodemetrics-run"); err == nil && machinesBefore != nil {
		os.RemoveAll("/var/lib/machines/nodemetrics-run")
		t.Error("make run left a machine directory in /var/lib/machines")
	}
}

// hasPoint: graphite-web has a non-null point of target at since or later.
func hasPoint(web, target string, since int64) bool {
	resp, err := http.Get(web + "/render?format=json&from=" + strconv.FormatInt(since, 10) + "&target=" + url.QueryEscape(target))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, m := range regexp.MustCompile(`\[[-0-9.e]+, ([0-9]+)\]`).FindAllSubmatch(b, -1) {
		if ts, _ := strconv.ParseInt(string(m[1]), 10, 64); ts >= since {
			return true
		}
	}
	return false
}

// TestReadmeExamples runs the README's one-shot example (twice with one
// state file: the second run publishes rates) and its example config.
func TestReadmeExamples(t *testing.T) {
	text := readme(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "collector")
	build := exec.Command("go", "build", "-o", bin, "./cmd/collector")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// The README's DIR: proc and sys from the end-to-end fixtures, an
	// empty root (no mount point resolves: diskspace publishes nothing).
	sampleDir := func(name string) string {
		d := filepath.Join(dir, name)
		src := filepath.Join(root, "collectors", "testdata", "e2e", name)
		for _, sub := range []string{"proc", "sys"} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(src, sub), filepath.Join(d, sub)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(filepath.Join(d, "root"), 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	samples := map[string]string{"t0": sampleDir("t0"), "t1": sampleDir("t1")}

	// One-shot: "collector ... DIR/proc ... --state-file /tmp/s.json --timestamp T".
	oneShot := strings.TrimSpace(codeBlock(t, text, "One-shot runs"))
	if !strings.HasPrefix(oneShot, "collector ") || !strings.Contains(oneShot, "DIR/") ||
		!strings.Contains(oneShot, "/tmp/s.json") || !strings.Contains(oneShot, "--timestamp 1700000000") {
		t.Fatalf("the one-shot example changed shape; update this test:\n%s", oneShot)
	}
	state := filepath.Join(dir, "s.json")
	shot := func(sample string, ts int) string {
		c := strings.Replace(oneShot, "collector ", bin+" ", 1)
		c = strings.ReplaceAll(c, "DIR/", samples[sample]+"/")
		c = strings.ReplaceAll(c, "/tmp/s.json", state)
		c = strings.ReplaceAll(c, "1700000000", strconv.Itoa(ts))
		var stderr bytes.Buffer
		cmd := exec.Command("bash", "-c", c)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c, err, stderr.String())
		}
		return string(out)
	}
	first := shot("t0", 1700000000)
	second := shot("t1", 1700000060)
	for name, out := range map[string]string{"first": first, "second": second} {
		if !strings.Contains(out, "servers.h.loadavg.01 ") {
			t.Errorf("%s one-shot run: no servers.h.loadavg.01:\n%s", name, out)
		}
	}
	if strings.Contains(first, "servers.h.cpu.total.user ") {
		t.Error("the first one-shot run published a rate without a previous sample")
	}
	if !strings.Contains(second, "servers.h.cpu.total.user ") || !strings.Contains(second, " 1700000060\n") {
		t.Errorf("the second one-shot run (same state file, later timestamp) has no rates:\n%s", second)
	}

	// The example config, as the user copies it, run once to stdout.
	conf := codeBlock(t, text, "Example config:")
	var parsed struct {
		Collectors []string `toml:"collectors"`
	}
	if _, err := toml.Decode(conf, &parsed); err != nil || len(parsed.Collectors) == 0 {
		t.Fatalf("the example config does not parse or lists no collectors (%v):\n%s", err, conf)
	}
	cfg := filepath.Join(dir, "nodemetrics.toml")
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t0 := samples["t0"]
	cmd := exec.Command(bin, "--config", cfg, "--once", "--output", "-", "--hostname", "h",
		"--procfs", t0+"/proc", "--sysfs", t0+"/sys", "--rootfs", t0+"/root")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the example config: %v\n%s", err, stderr.String())
	}
	allowed := map[string]bool{"agent": true}
	for _, c := range parsed.Collectors {
		allowed[c] = true
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ".", 4)
		if len(f) < 3 || f[0] != "servers" || f[1] != "h" {
			t.Errorf("example config: line %q", sc.Text())
			continue
		}
		if !allowed[f[2]] {
			t.Errorf("example config: %q is from a collector the config does not list", sc.Text())
		}
		seen[f[2]] = true
	}
	if len(seen) < 3 {
		t.Errorf("example config: only %v published:\n%s", seen, out)
	}
}

// TestReadmeKubernetes runs the README's Kubernetes commands against the
// real containerd (Docker's, in a namespace of its own instead of k8s.io)
// with kubectl's input kept: the image is imported under the name the
// rendered DaemonSet asks for.
func TestReadmeKubernetes(t *testing.T) {
	requireRoot(t)
	const sock = "/run/docker/containerd/containerd.sock"
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the Docker Engine's containerd is not running: %v", err)
	}
	block := codeBlock(t, readme(t), "### Kubernetes")
	out := builtImage(t)
	tag, err := os.ReadFile(filepath.Join(out, "IMAGE_TAG"))
	if err != nil {
		t.Fatal(err)
	}
	ns := "nmreadme" + strconv.Itoa(os.Getpid())
	defer func() {
		if ids, err := runErr(nil, "ctr", "-a", sock, "-n", ns, "images", "ls", "-q"); err == nil {
			for _, id := range strings.Fields(ids) {
				runErr(nil, "ctr", "-a", sock, "-n", ns, "images", "rm", id)
			}
		}
		runErr(nil, "ctr", "-a", sock, "namespaces", "rm", ns)
	}()
	rendered := filepath.Join(t.TempDir(), "daemonset.yaml")
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || line == "make image" {
			continue // make image: builtImage did it
		}
		line = strings.ReplaceAll(line, "image/build/", out+"/")
		line = strings.ReplaceAll(line, "ctr -n k8s.io ", "ctr -a "+sock+" -n "+ns+" ")
		line = strings.ReplaceAll(line, "kubectl apply -f -", "cat >"+rendered)
		cmds = append(cmds, line)
	}
	if len(cmds) != 2 {
		t.Fatalf("the README's Kubernetes commands changed shape; update this test: %q", cmds)
	}
	c := exec.Command("bash", "-euo", "pipefail", "-c", strings.Join(cmds, "\n"))
	c.Dir = root
	if o, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmds, "\n"), err, o)
	}
	images := run(t, nil, "ctr", "-a", sock, "-n", ns, "images", "ls", "-q")
	want := "docker.io/library/" + strings.TrimSpace(string(tag))
	if !slices.Contains(strings.Fields(images), want) {
		t.Errorf("ctr images: %q, want %s", images, want)
	}
	ds := loadYAML(t, rendered)
	if img := path(t, ds, "spec", "template", "spec", "containers", 0, "image"); img != strings.TrimSpace(string(tag)) {
		t.Errorf("rendered DaemonSet image %v, want %s (what the kubelet finds as %s)", img, tag, want)
	}
}
