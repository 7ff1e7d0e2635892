// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testNetns makes a network namespace of the test's own (only lo up, no
// route to or from the host) and removes it at cleanup.
func testNetns(t testing.TB) (name, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("network namespaces need root")
	}
	b := make([]byte, 4)
	rand.Read(b)
	name = "nmsvc" + hex.EncodeToString(b)
	ip(t, "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	ip(t, "-n", name, "link", "set", "lo", "up")
	return name, filepath.Join("/run/netns", name)
}

func ip(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// listenIn opens a TCP listener inside the namespace at nsPath (the test
// side of DialNetns; its thread never returns to the scheduler).
func listenIn(t testing.TB, nsPath, addr string) net.Listener {
	t.Helper()
	type res struct {
		l   net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer func() {
			// Back home, or exit locked (the thread is discarded).
			if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			home.Close()
		}()
		f, err := os.Open(nsPath)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err}
			return
		}
		l, err := net.Listen("tcp", addr)
		ch <- res{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.l.Close() })
	return r.l
}

// threadNetns lists the network namespace of every thread of this
// process.
func threadNetns(t testing.TB) map[string]string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, task := range tasks {
		ns, err := os.Readlink(filepath.Join("/proc/self/task", task.Name(), "ns/net"))
		if err == nil {
			out[task.Name()] = ns
		}
	}
	return out
}

// Thousands of dials into a foreign namespace, some panicking after
// setns, some timing out mid-connect: afterwards every thread of the
// process is in its own namespace, and the connections work from any
// goroutine.
func TestDialNetnsNoLeak(t *testing.T) {
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	name, nsPath := testNetns(t)
	// A veth pair, both ends in the namespace, nobody at 10.99.0.2: a
	// connect there waits for an ARP answer until its deadline.
	ip(t, "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip(t, "-n", name, "addr", "add", "10.99.0.1/24", "dev", "v0")
	ip(t, "-n", name, "link", "set", "v0", "up")
	ip(t, "-n", name, "link", "set", "v1", "up")
	l := listenIn(t, nsPath, "127.0.0.1:0")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	// The listener is only in the namespace: from here nothing answers.
	if c, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("the namespace's listener is reachable from the host namespace")
	}

	var n atomic.Int64
	dialHook = func() {
		if n.Add(1)%7 == 0 {
			panic("probe blew up inside the namespace")
		}
	}
	defer func() { dialHook = nil }()
	const probes = 3000
	var ok, panicked, timedOut atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range probes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			addr, timeout := l.Addr().String(), 2*time.Second
			if i%5 == 0 {
				addr, timeout = "10.99.0.2:80", 20*time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			c, err := DialNetns(ctx, nsPath, "tcp", addr)
			switch {
			case err != nil && strings.Contains(err.Error(), "panic"):
				panicked.Add(1)
			case errors.Is(err, context.DeadlineExceeded) || (err != nil && strings.Contains(err.Error(), "timeout")):
				timedOut.Add(1)
			case err != nil:
				t.Errorf("dial: %v", err)
			default:
				// Used from whatever thread runs this goroutine now.
				runtime.Gosched()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				msg := []byte("ping")
				buf := make([]byte, 4)
				if _, err := c.Write(msg); err != nil {
					t.Errorf("write: %v", err)
				} else if _, err := io.ReadFull(c, buf); err != nil || !bytes.Equal(buf, msg) {
					t.Errorf("echo: %q %v", buf, err)
				} else {
					ok.Add(1)
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d probes: %d answered, %d panicked, %d timed out", probes, ok.Load(), panicked.Load(), timedOut.Load())
	if panicked.Load() == 0 || timedOut.Load() == 0 || ok.Load() == 0 {
		t.Fatal("the mix of outcomes the test needs did not happen")
	}
	// A goroutine that exits locked hands its thread to the runtime to
	// be terminated: that thread may still be there a moment after the
	// result was delivered, but it runs no goroutine any more.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var foreign []string
		for task, ns := range threadNetns(t) {
			if ns != self {
				foreign = append(foreign, task+" in "+ns)
			}
		}
		if len(foreign) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads outside the agent's namespace %s: %v", self, foreign)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
