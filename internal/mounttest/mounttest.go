// SPDX-License-Identifier: Apache-2.0

// Package mounttest runs test code in a mount namespace of its own, where
// it can mount and unmount for real without touching the host's table and
// without the host's mounts (made by other tests, by Docker) showing up.
package mounttest

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// InPrivateNS runs fn on a thread of its own in a new mount namespace into
// which no mount propagates, and waits for it. /proc/thread-self is that
// thread's, so a mount table opened through it is the namespace's. The
// thread is never unlocked: it ends with fn, and its namespace with it. fn
// must report with t.Error, not t.Fatal (it is not the test's goroutine).
func InPrivateNS(t *testing.T, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare a mount namespace: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		fn()
	}()
	<-done
}
