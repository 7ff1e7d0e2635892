// SPDX-License-Identifier: Apache-2.0

package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/dockertest"
)

// With the real Docker Engine: while the events stream is connected and
// nothing changes, the agent's ticks list nothing; a container created,
// renamed and removed shows in the snapshot within a second or two of
// each change, by its event.
func TestCacheFollowsTheRealDaemon(t *testing.T) {
	dockertest.Require(t)
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
	dockertest.Cmd(t, "import", "--change", `CMD ["/x"]`, tarball, img)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", img).Run() })
	name, renamed := "nmcache"+sfx+"-a", "nmcache"+sfx+"-b"
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name, renamed).Run() })

	daemon, err := SocketPath("", "/proc")
	must(t, err)
	client, counter := countingClient(daemon)
	cache := NewCache(client, Options{Interval: time.Second, Events: mustDispatcher(t), Logger: quietLog()})
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
		before := counter.lists.Load()
		time.Sleep(3500 * time.Millisecond) // three ticks at least
		if n := counter.lists.Load() - before; n != 0 {
			t.Errorf("%s: %d lists over three ticks with nothing changing, want none", when, n)
		}
	}
	quiet("at start")
	id := dockertest.Cmd(t, "create", "--name", name, "--label", "nmtest=1", img)
	waitFor("the created container", func(s *Snapshot) bool { return s.DockerNames[id] == name })
	dockertest.Cmd(t, "rename", name, renamed)
	waitFor("the new name", func(s *Snapshot) bool { return s.DockerNames[id] == renamed })
	quiet("after a rename")
	dockertest.Cmd(t, "rm", renamed)
	waitFor("the removal", func(s *Snapshot) bool { _, ok := s.ByID[id]; return !ok })
}
