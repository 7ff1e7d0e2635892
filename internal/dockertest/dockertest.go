// SPDX-License-Identifier: Apache-2.0

// Package dockertest drives the real Docker Engine from tests through its
// CLI. A test that needs Docker fails without it, never skips.
package dockertest

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Cmd runs the docker CLI and returns its output, trimmed; a failure (or
// two minutes without an answer) fails the test with the CLI's output.
func Cmd(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Require fails the test unless the docker CLI is installed and the
// daemon answers.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("docker CLI not found: %v", err)
	}
	Cmd(t, "version", "--format", "{{.Server.APIVersion}}")
}
