// SPDX-License-Identifier: Apache-2.0

package docker

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// dockerCLI runs the docker CLI against the real daemon; a test that needs
// Docker fails without it, never skips.
func dockerCLI(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// listCounter is a unix-socket proxy to the real daemon that counts the
// container list requests going through it (the requests are GETs, with
// no body: every line a client sends is a request or header line).
type listCounter struct {
	sock  string
	lists atomic.Int32
}

func newListCounter(t *testing.T, daemon string) *listCounter {
	p := &listCounter{sock: filepath.Join(shortTemp(t), "docker.sock")}
	ln, err := net.Listen("unix", p.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, daemon)
		}
	}()
	return p
}

func (p *listCounter) serve(c net.Conn, daemon string) {
	defer c.Close()
	d, err := net.Dial("unix", daemon)
	if err != nil {
		return
	}
	defer d.Close()
	go func() { io.Copy(c, d); c.Close() }()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "GET ") && (strings.Contains(line, "/containers/json?") || strings.Contains(line, "/containers/json ")) {
			p.lists.Add(1)
		}
		if _, werr := io.WriteString(d, line); err != nil || werr != nil {
			return
		}
	}
}

// With the real Docker Engine: while the events stream is connected and
// nothing changes, the agent's ticks list nothing; a container created,
// renamed and removed shows in the snapshot within a second or two of
// each change, by its event.
func TestCacheFollowsTheRealDaemon(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("docker CLI not found: %v", err)
	}
	dockerCLI(t, "version", "--format", "{{.Server.APIVersion}}")
	var b [4]byte
	rand.Read(b[:])
	sfx := hex.EncodeToString(b[:])
	// A one-file image from a local tarball (no registry); its container
	// is created, never started.
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o755))
	tarball := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", dir, "--owner=0", "--group=0", "-cf", tarball, "x").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	img := "nmcache" + sfx + ":1"
	dockerCLI(t, "import", "--change", `CMD ["/x"]`, tarball, img)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })
	name, renamed := "nmcache"+sfx+"-a", "nmcache"+sfx+"-b"
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name, renamed).Run() })

	daemon, err := SocketPath("", "/proc")
	must(t, err)
	proxy := newListCounter(t, daemon)
	cache := NewCache(NewClient(proxy.sock), Options{Interval: time.Second, Events: mustDispatcher(t), Logger: quietLog()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cache.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor := func(what string, ok func(*Snapshot) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s := cache.Snapshot(); s == nil || !ok(s); s = cache.Snapshot() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not in the snapshot after 5 s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("first refresh and a live stream", func(*Snapshot) bool { return cache.Live() })

	quiet := func(when string) {
		t.Helper()
		time.Sleep(1500 * time.Millisecond) // a refresh poked by the change's events, throttled to one a second, is done
		before := proxy.lists.Load()
		time.Sleep(3500 * time.Millisecond) // three ticks at least
		if n := proxy.lists.Load() - before; n != 0 {
			t.Errorf("%s: %d lists over three ticks with nothing changing, want none", when, n)
		}
	}
	quiet("at start")
	id := dockerCLI(t, "create", "--name", name, "--label", "nmtest=1", img)
	waitFor("the created container", func(s *Snapshot) bool { return s.DockerNames[id] == name })
	dockerCLI(t, "rename", name, renamed)
	waitFor("the new name", func(s *Snapshot) bool { return s.DockerNames[id] == renamed })
	quiet("after a rename")
	dockerCLI(t, "rm", renamed)
	waitFor("the removal", func(s *Snapshot) bool { _, ok := s.ByID[id]; return !ok })
}
