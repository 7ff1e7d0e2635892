// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"fmt"
	"io"
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
// agent's own namespace. A socket stays in the namespace it was created in,
// whichever thread uses it later (see inNetns).
func DialNetns(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if nsPath == "" {
		return d.DialContext(ctx, network, addr)
	}
	c, err := inNetns(nsPath, "dial", func() (io.Closer, error) {
		if dialHook != nil {
			dialHook()
		}
		return d.DialContext(ctx, network, addr)
	})
	if err != nil {
		return nil, err
	}
	return c.(net.Conn), nil
}

// inNetns runs open inside the network namespace nsPath and returns what
// it opened (a socket, which stays in that namespace).
//
// A namespace belongs to an OS thread, not a goroutine: open runs on a
// goroutine locked to its thread, which enters the namespace with setns
// and goes back to the agent's namespace afterwards, also after a panic.
// Only when going back succeeded is the thread unlocked and returned to
// the scheduler; otherwise the goroutine exits still locked and the
// runtime terminates the thread (or, for the main thread, parks it for
// good), so no other goroutine ever runs in a foreign namespace. Entering
// a network namespace needs CAP_SYS_ADMIN (and ptrace access to open the
// pid's ns/net link). what names the operation in errors.
func inNetns(nsPath, what string, open func() (io.Closer, error)) (io.Closer, error) {
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace: %w", err)
	}
	defer target.Close()

	type result struct {
		c   io.Closer
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
				r = result{err: fmt.Errorf("%s in namespace: panic: %v", what, p)}
			}
			// Back home, also after a panic; only then may the thread
			// run other goroutines. If that fails the goroutine exits
			// locked and the runtime terminates the thread.
			if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			} else if r.c != nil {
				r.c.Close()
				r = result{err: fmt.Errorf("%s in namespace: cannot return the thread to the agent's namespace", what)}
			}
			self.Close()
			ch <- r
		}()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err = fmt.Errorf("setns: %w", err)
			return
		}
		c, err := open()
		if err == nil {
			r.c = c
		}
		r.err = err
	}()
	r := <-ch
	return r.c, r.err
}
