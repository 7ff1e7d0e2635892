// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// startAgent runs the agent in-process with args, its stdout and stderr to
// the returned log, for the end-to-end tests. stop cancels it and waits:
// an exit other than 0, or no exit within 20 s, fails the test. The test's
// clean-up stops it (a second stop does nothing), then prints the log if
// the test failed.
func startAgent(t *testing.T, args ...string) (logs *syncbuf.Buffer, stop func()) {
	t.Helper()
	logs = &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, logs, logs) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("agent exit %d", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("agent did not stop")
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	t.Cleanup(stop)
	return logs, stop
}
