// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// What collectors share is made only when a selected collector needs it:
// the event dispatcher (it creates the audit file) and the Docker cache
// come with the containers or docker collector, never for host collectors.
func TestSharedDependenciesOnlyWhenNeeded(t *testing.T) {
	for _, tc := range []struct {
		collectors string
		made       bool
	}{{"loadavg", false}, {"cpu,proc", false}, {"containers", true}, {"docker", true}} {
		dir := t.TempDir()
		audit := filepath.Join(dir, "audit.jsonl")
		code, _, stderr := runArgs(t, "--once", "--output", "-", "--hostname", "h", "--collectors", tc.collectors,
			"--audit-file", audit, "--docker-host", "unix://"+filepath.Join(dir, "no-docker.sock"))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.collectors, code, stderr)
		}
		if _, err := os.Stat(audit); (err == nil) != tc.made {
			t.Errorf("%s: audit file made %v, want %v", tc.collectors, err == nil, tc.made)
		}
	}
}
