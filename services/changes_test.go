// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

// Discovery does not run every cycle, yet a service started on the host
// between two passes is probed within two cycles: started directly,
// started by a shell that exec's into it later (seen first as "sh"), and
// after a burst of other execs.
func TestNewServiceFoundWithinTwoCycles(t *testing.T) {
	// The watcher reads the kernel's process events or, without them,
	// lists <procfs>: both ways.
	for _, listing := range []bool{false, true} {
		c := New(collect.DefaultHost(), Options{Rediscover: 1000}, nil)
		cycle := func() *collect.Sample {
			t.Helper()
			s := collect.NewSample(time.Now(), true, collect.State{})
			c.Collect(context.Background(), s)
			return s
		}
		probed := func(s *collect.Sample, port int) bool {
			want := "memcached." + strconv.Itoa(port) + ".cmd_set"
			for m := range s.All() {
				if m.Path == want {
					return true
				}
			}
			return false
		}
		start := func(script string, port int) {
			t.Helper()
			cmd := exec.Command("sh", "-c", script, "sh", strconv.Itoa(port))
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		}
		c.watch = newWatcher(c.h.Proc)
		c.watch.noEvents = listing
		cycle()
		if !listing && c.watch.events == nil {
			t.Fatal("no process events as root in the initial namespaces")
		}
		cycle()

		for _, tc := range []struct{ name, script string }{
			{"started", `exec memcached -u nobody -l 127.0.0.1 -p "$1"`},
			{"exec later", `sleep 0.5; exec memcached -u nobody -l 127.0.0.1 -p "$1"`},
			// More events queued than one read of them takes (eventBatch).
			{"after 200 execs", `i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; exec memcached -u nobody -l 127.0.0.1 -p "$1"`},
		} {
			port := freePort(t)
			start(tc.script, port)
			if tc.name == "exec later" {
				cycle() // the shell, not yet memcached
			}
			waitDial(t, "", "127.0.0.1:"+strconv.Itoa(port))
			found := 0
			for n := 1; n <= 2 && found == 0; n++ {
				if probed(cycle(), port) {
					found = n
				}
			}
			if found == 0 {
				t.Errorf("listing %v, %s: memcached on %d not probed within two cycles", listing, tc.name, port)
			}
		}
	}
}

// Close releases the watcher's process events socket and <procfs>
// listing: an agent closed and made again (the e2e tests run several in
// one process) holds no more descriptors than before.
func TestCloseReleasesDescriptors(t *testing.T) {
	fds := func() int {
		t.Helper()
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	run := func(listing bool) {
		c := New(collect.DefaultHost(), Options{}, nil)
		c.watch = newWatcher(c.h.Proc)
		c.watch.noEvents = listing
		for range 3 {
			c.Collect(context.Background(), collect.NewSample(time.Now(), true, collect.State{}))
		}
		if listing == (c.watch.dir == nil) || !listing && c.watch.events == nil {
			t.Fatalf("listing %v: the watcher holds nothing to close", listing)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	run(false) // what the process opens once (the poller) is opened here
	run(true)
	before := fds()
	run(false)
	run(true)
	if after := fds(); after > before {
		t.Errorf("%d descriptors after closing two collectors, %d before", after, before)
	}
}
