// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialHook, when set by a test, runs on the locked thread after it entered
// the target namespace and before the dial: a panic there must not leave
// the thread, or any other goroutine, in that namespace.
var dialHook func()

// DialNetns connects to addr from inside the network namespace nsPath
// (<procfs>/<pid>/ns/net of a process of the container). "" dials from the
// agent's own namespace.
//
// A namespace belongs to an OS thread, not a goroutine: the dial runs on a
// goroutine locked to its thread, which enters the namespace with setns,
// creates and connects the socket there (a socket stays in the namespace it
// was created in, whichever thread uses it later) and goes back to the
// agent's namespace, also after a panic. Only when going back succeeded is
// the thread unlocked and returned to the scheduler; otherwise the
// goroutine exits still locked and the runtime terminates the thread (or,
// for the main thread, parks it for good), so no other goroutine ever runs
// in a foreign namespace. Entering a network namespace needs CAP_SYS_ADMIN
// (and ptrace access to open the pid's ns/net link).
func DialNetns(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if nsPath == "" {
		return d.DialContext(ctx, network, addr)
	}
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()

	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var r result
		// The thread's own namespace, to go back to: the agent's, as every
		// unlocked thread is in it.
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open own network namespace: %w", err)}
			return
		}
		defer func() {
			if p := recover(); p != nil {
				r = result{err: fmt.Errorf("dial in namespace: panic: %v", p)}
			}
			// Back home, also after a panic; only then may the thread
			// run other goroutines. If that fails the goroutine exits
			// locked and the runtime terminates the thread.
			if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			} else if r.c != nil {
				r.c.Close()
				r = result{err: errors.New("dial in namespace: cannot return the thread to the agent's namespace")}
			}
			self.Close()
			ch <- r
		}()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("setns: %w", err)
			return
		}
		if dialHook != nil {
			dialHook()
		}
		r.c, r.err = d.DialContext(ctx, network, addr)
	}()
	r := <-ch
	return r.c, r.err
}
