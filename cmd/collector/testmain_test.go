// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// TestMain keeps the tests away from the host's default spool directory
// (a test that wants the default points defaultStateDir at its own) and
// removes the collector binary the process tests share.
func TestMain(m *testing.M) {
	defaultStateDir = "/nonexistent/nodemetrics-test-state"
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// collectorBinary builds the collector once for the tests that run it as a
// process (to SIGKILL it).
func collectorBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binError = os.MkdirTemp("", "collector-test-"); binError != nil {
			return
		}
		binPath = filepath.Join(binDir, "collector")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binError = err
			t.Logf("%s", out)
		}
	})
	if binError != nil {
		t.Fatalf("build: %v", binError)
	}
	return binPath
}
