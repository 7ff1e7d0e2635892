// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const (
	testVersion = "deploytest"
	testEpoch   = "1700000000"
	testImage   = "nodemetrics-deploytest"
	maxImage    = 10 << 20
)

var (
	root, _    = filepath.Abs("..")
	wrapper    = filepath.Join(root, "nspawn", "nspawn-container")
	buildOnce  sync.Once
	builtDir   string
	buildErr   error
	scratchDir string // removed by TestMain
)

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "nodemetrics-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratchDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the deployment tests need root (systemd-nspawn, mount, losetup, docker, apt-get)")
	}
}

// run runs a command and fails the test with its output if it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return b.String(), err
}

// aptInstall installs Debian packages, updating the lists once if needed.
func aptInstall(t *testing.T, pkgs ...string) {
	t.Helper()
	requireRoot(t)
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	args := append([]string{"install", "-y", "-qq", "--no-install-recommends"}, pkgs...)
	if _, err := runErr(env, "apt-get", args...); err != nil {
		run(t, env, "apt-get", "update", "-qq")
		run(t, env, "apt-get", args...)
	}
}

var installMu sync.Mutex

// requireNspawn installs systemd-container when systemd-nspawn is missing,
// then requires `nspawn-container --check` to pass.
func requireNspawn(t *testing.T) {
	t.Helper()
	requireRoot(t)
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := exec.LookPath("systemd-nspawn"); err != nil {
		t.Log("systemd-nspawn missing: apt-get install systemd-container")
		aptInstall(t, "systemd-container")
	}
	if out, err := runErr(nil, wrapper, "--check"); err != nil {
		t.Fatalf("systemd-nspawn cannot run containers here: %v\n%s", err, out)
	}
}

// python returns a python3 that can import yaml, installing python3-yaml
// (Debian's) when none can.
func python(t *testing.T) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if _, err := runErr(nil, p, "-c", "import yaml"); err == nil {
			return p
		}
	}
	t.Log("no python3 with yaml: apt-get install python3-yaml")
	aptInstall(t, "python3-yaml")
	return "/usr/bin/python3"
}

// loadYAML parses a YAML file with PyYAML's safe_load and returns it as
// generic JSON values (map[string]any, []any, float64, string, bool).
func loadYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	py := python(t)
	out, err := exec.Command(py, "-c",
		"import json,sys,yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", path).Output()
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return v
}

// builtImage builds the image once per test binary (VERSION and
// SOURCE_DATE_EPOCH fixed) and returns its OUTDIR.
func builtImage(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		builtDir = filepath.Join(scratchDir, "image")
		out, err := buildImage(builtDir)
		if err != nil {
			buildErr = fmt.Errorf("image/build.sh: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtDir
}

func buildImage(dir string) (string, error) {
	return runErr([]string{"VERSION=" + testVersion, "SOURCE_DATE_EPOCH=" + testEpoch,
		"IMAGE_NAME=" + testImage, "GOFLAGS=-buildvcs=false"},
		filepath.Join(root, "image", "build.sh"), dir)
}

// shortHostname is the collector's default --hostname: the host name up to
// the first dot.
func shortHostname(t *testing.T) string {
	t.Helper()
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ = strings.Cut(h, ".")
	return h
}

// path walks generic JSON values: keys for maps, ints for slices.
func path(t *testing.T, v any, keys ...any) any {
	t.Helper()
	for i, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: not a map at %v", keys[:i+1], keys[:i])
			}
			if v, ok = m[k]; !ok {
				t.Fatalf("%v: missing", keys[:i+1])
			}
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				t.Fatalf("%v: not a list of > %d items", keys[:i+1], k)
			}
			v = s[k]
		}
	}
	return v
}
