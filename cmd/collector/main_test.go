// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func runArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExits2WithOneLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknownKey := write("unknown.toml", "interval = 10\nintervall = 20\n")
	badValue := write("bad.toml", "interval = \"soon\"\n")
	badType := write("type.toml", "prefix = 3\n")
	broken := write("broken.toml", "interval = [\n")
	for _, tc := range []struct {
		args []string
		want string // must appear in the one-line error
	}{
		{[]string{"--nope"}, "-nope"},
		{[]string{"--interval", "abc"}, "interval"},
		{[]string{"--interval", "0"}, "interval"},
		{[]string{"--collectors", "cpu,bogus"}, "bogus"},
		{[]string{"--output", "file.txt"}, "output"},
		{[]string{"--protocol", "sctp"}, "protocol"},
		{[]string{"--graphite-mode", "hash"}, "graphite-mode"},
		{[]string{"--graphite-mode", "failover", "--protocol", "udp"}, "failover"},
		{[]string{"--config", write("mode.toml", "graphite_mode = \"any\"\n")}, "graphite-mode"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"--config", filepath.Join(dir, "missing.toml")}, "missing.toml"},
		{[]string{"--config", unknownKey}, "intervall"},
		{[]string{"--config", badValue}, "soon"},
		{[]string{"--config", badType}, "prefix"},
		{[]string{"--config", broken}, "broken.toml"},
		{[]string{"--once", "extra-arg"}, "extra-arg"},
	} {
		code, _, stderr := runArgs(t, tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", tc.args, code, stderr)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q: want one line naming %q", tc.args, stderr, tc.want)
		}
	}
}

func TestFlagsWinOverConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(cfg, []byte("prefix = \"fromfile\"\nhostname = \"filehost\"\ncollectors = [\"loadavg\"]\n"), 0o644)
	code, out, stderr := runArgs(t, "--config", cfg, "--hostname", "flaghost", "--once", "--output", "-",
		"--procfs", "../../collectors/testdata/e2e/t0/proc", "--sysfs", "../../collectors/testdata/e2e/t0/sys",
		"--rootfs", t.TempDir(), "--timestamp", "1700000000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "fromfile.flaghost.loadavg.01 ") || strings.Contains(out, ".cpu.") {
		t.Fatalf("want prefix from the file, hostname from the flag, only loadavg; got:\n%s", out)
	}
}

func TestList(t *testing.T) {
	code, out, _ := runArgs(t, "--list")
	if code != 0 || !strings.Contains(out, "memory.MemUsedPercentage") || !strings.Contains(out, "iostat") {
		t.Fatalf("--list: exit %d, output:\n%s", code, out)
	}
}

// volatile matches the lines whose values depend on the machine: the
// self-metric durations, and diskspace (statfs of the test's root).
var volatile = regexp.MustCompile(`(?m)^(\S+\.duration_seconds|servers\.testhost\.diskspace\.\S+) .*\n`)

// TestGolden runs the whole pipeline the way a user's one-shot runs do:
// a first run over snapshot t0 keeps its state, a second run over t1 sixty
// seconds later prints rates; a third prints raw counters. Regenerate with
// go test ./cmd/collector -run Golden -update
func TestGolden(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	// diskspace's statfs values belong to the machine, not the fixture:
	// its lines are left out of the comparison (volatile).
	root := t.TempDir()
	oneShot := func(snap, ts string, extra ...string) string {
		tree := filepath.Join("..", "..", "collectors", "testdata", "e2e", snap)
		args := append([]string{"--once", "--output", "-", "--hostname", "testhost",
			"--procfs", filepath.Join(tree, "proc"), "--sysfs", filepath.Join(tree, "sys"), "--rootfs", root,
			"--timestamp", ts}, extra...)
		code, out, stderr := runArgs(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		return volatile.ReplaceAllString(out, "")
	}
	oneShot("t0", "1700000000", "--state-file", state)
	check(t, "e2e-rates.txt", oneShot("t1", "1700000060", "--state-file", state))
	check(t, "e2e-counters.txt", oneShot("t1", "1700000060", "--counters"))
}

func check(t *testing.T, golden, got string) {
	t.Helper()
	assertWellFormed(t, got)
	path := filepath.Join("testdata", golden)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update after checking the diff):\n%s", path, diffLines(string(want), got))
	}
}

// assertWellFormed checks the output contract of docs/metrics.md (Paths): three fields,
// plain decimal values, no path twice.
var valueRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

func assertWellFormed(t *testing.T, out string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		f := strings.Split(line, " ")
		if len(f) != 3 || !valueRE.MatchString(f[1]) {
			t.Errorf("malformed line %q", line)
			continue
		}
		if seen[f[0]] {
			t.Errorf("path twice in one cycle: %s", f[0])
		}
		seen[f[0]] = true
	}
}

func diffLines(want, got string) string {
	w := map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	g := map[string]bool{}
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}

func TestVersion(t *testing.T) {
	code, out, stderr := runArgs(t, "--version")
	if code != 0 || out != "collector "+version+"\n" || stderr != "" {
		t.Errorf("--version: exit %d, stdout %q, stderr %q; want 0 and %q", code, out, stderr, "collector "+version+"\n")
	}
}
