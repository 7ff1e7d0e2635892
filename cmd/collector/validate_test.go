// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// agentBinary builds the agent once per test run.
func agentBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nodemetrics-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "collector")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("build: %v", binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	// Away from the host's default spool directory: a test that wants the
	// default points defaultStateDir at its own.
	defaultStateDir = "/nonexistent/nodemetrics-test-state"
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// Every bad flag or config value, whatever collectors are on: the real
// binary prints one line naming the mistake on stderr and exits 2, within
// seconds (a FIFO or /dev/zero as the config file must not hang or grow).
func TestBadValuesExit2(t *testing.T) {
	bin := agentBinary(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := write("big.toml", "# "+strings.Repeat("x", 2<<20)+"\n")
	notDir := write("plain", "")
	// Only the collector named here is on: the checks of --audit-file,
	// --docker-host and --events-url must not depend on the containers
	// or docker collectors.
	base := []string{"--once", "--output", "-", "--collectors", "loadavg"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--interval", "2e9"}, "interval"},
		{[]string{"--interval", "1e300"}, "interval"},
		{[]string{"--interval", "NaN"}, "interval"},
		{[]string{"--interval", "600000h"}, "interval"},
		{[]string{"--interval", "100000h"}, "interval"},
		{[]string{"--interval", "25h"}, "interval"},
		{[]string{"--interval", "1ns"}, "interval"},
		{[]string{"--interval", "0.1"}, "interval"},
		{[]string{"--interval", "0.5"}, "interval"},
		{[]string{"--interval", "1.5s"}, "interval"},
		{[]string{"--interval", "-60"}, "interval"},
		{[]string{"--config", write("iv.toml", "interval = 9223372036854775807\n")}, "interval"},
		{[]string{"--config", write("ivf.toml", "interval = 0.5\n")}, "interval"},
		{[]string{"--output", "", "--graphite", ""}, "graphite"},
		{[]string{"--output", "", "--graphite", ",,,"}, "graphite"},
		{[]string{"--graphite", "127.0.0.1:99999"}, "graphite"},
		{[]string{"--graphite", "127.0.0.1:0"}, "graphite"},
		{[]string{"--graphite", ":abc"}, "graphite"},
		{[]string{"--graphite", ":2003"}, "graphite"},
		{[]string{"--graphite", "bad host!!:2003"}, "graphite"},
		{[]string{"--graphite", "127.0.0.1"}, "graphite"},
		{[]string{"--graphite", "127.0.0.1:2003,x_y:2003"}, "x_y"},
		{[]string{"--output", "", "--config", write("g.toml", "graphite = \",,\"\n")}, "graphite"},
		{[]string{"--queue-lines", "0"}, "queue-lines"},
		{[]string{"--timestamp", "4294967296"}, "timestamp"},
		{[]string{"--queue-lines", "2000000000"}, "queue-lines"},
		{[]string{"--max-containers", "-1"}, "max-containers"},
		{[]string{"--max-containers", "100000000"}, "max-containers"},
		{[]string{"--max-containers", "5001"}, "max-containers"},
		{[]string{"--procfs", "/nonexistent"}, "--procfs"},
		{[]string{"--sysfs", filepath.Join(dir, "nosys")}, "--sysfs"},
		{[]string{"--rootfs", notDir}, "--rootfs"},
		{[]string{"--config", write("root.toml", "procfs = \"/host/proc-not-here\"\n")}, "--procfs"},
		{[]string{"--audit-file", filepath.Join(dir, "nodir", "audit.json")}, "--audit-file"},
		{[]string{"--audit-file", dir}, "--audit-file"},
		{[]string{"--audit-file", fifo}, "--audit-file"},
		{[]string{"--state-file", filepath.Join(dir, "nodir", "state.json")}, "--state-file"},
		{[]string{"--docker-host", "tcp://127.0.0.1:2375"}, "--docker-host"},
		{[]string{"--docker-host", "unix://"}, "--docker-host"},
		{[]string{"--docker-host", "relative.sock"}, "--docker-host"},
		{[]string{"--events-url", "ftp://127.0.0.1/"}, "--events-url"},
		{[]string{"--events-url", "127.0.0.1:8080"}, "--events-url"},
		{[]string{"--events-url", "http://"}, "--events-url"},
		{[]string{"--events-url", "http://127.0.0.1:99999"}, "--events-url"},
		{[]string{"--events-url", "http://u:p@127.0.0.1:8080"}, "--events-url"},
		{[]string{"--config", "/dev/zero"}, "--config"},
		{[]string{"--config", fifo}, "--config"},
		{[]string{"--config", big}, "--config"},
		{[]string{"--config", dir}, "--config"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, append(append([]string{}, base...), tc.args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		code := cmd.ProcessState.ExitCode()
		if code != 2 {
			t.Errorf("%q: exit %d (%v), want 2; stderr %q", tc.args, code, err, stderr.String())
			continue
		}
		if strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: stderr %q: want one line naming %q", tc.args, stderr.String(), tc.want)
		}
		if stdout.Len() > 0 {
			t.Errorf("%q: printed metrics: %q", tc.args, stdout.String())
		}
	}
}

// The bounds themselves are accepted.
func TestBoundaryValuesAccepted(t *testing.T) {
	tree := filepath.Join("..", "..", "collectors", "testdata", "e2e", "t0")
	for _, extra := range [][]string{
		{"--interval", "1"}, {"--interval", "24h"}, {"--interval", "86400"},
		{"--graphite", "localhost:1,127.0.0.1:65535,[::1]:2003,carbon-1.example.:2004"},
		{"--events-url", "https://graphite.example:8443/base/"},
		{"--docker-host", "unix:///run/docker.sock"},
	} {
		args := append([]string{"--once", "--output", "-", "--collectors", "loadavg", "--hostname", "h",
			"--procfs", filepath.Join(tree, "proc"), "--sysfs", filepath.Join(tree, "sys"), "--rootfs", t.TempDir()}, extra...)
		if code, _, stderr := runArgs(t, args...); code != 0 {
			t.Errorf("%q: exit %d: %s", extra, code, stderr)
		}
	}
}
