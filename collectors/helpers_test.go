// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/carbon"
)

// fixtureHost is a host tree under testdata: testdata/<dir>/{proc,sys,root}.
func fixtureHost(dir string) Host {
	d := filepath.Join("testdata", dir)
	return Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: filepath.Join(d, "root")}
}

// tempHost builds a host tree in a temp dir from relative path -> content,
// for edge cases written inline in a test.
func tempHost(t testing.TB, files map[string]string) Host {
	t.Helper()
	d := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(d, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"proc", "sys", "root"} {
		os.MkdirAll(filepath.Join(d, sub), 0o755)
	}
	return Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: filepath.Join(d, "root")}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newByName builds the registered collector called name.
func newByName(t testing.TB, name string, h Host) Collector {
	t.Helper()
	for _, f := range Registry() {
		if f.Name == name {
			c, err := f.New(h, discardLogger())
			if err != nil {
				t.Fatalf("new %s: %v", name, err)
			}
			return c
		}
	}
	t.Fatalf("no collector %q", name)
	return nil
}

// collect runs one cycle of c at unix time ts over prev and returns the
// sorted "path value" lines, the error and the state for the next cycle.
func collect(t testing.TB, c Collector, ts int64, raw bool, prev State) ([]string, State, error) {
	t.Helper()
	s := NewSample(time.Unix(ts, 0), raw, prev)
	err := c.Collect(context.Background(), s)
	return render(s.Metrics()), s.Next(), err
}

func render(ms []Metric) []string {
	lines := make([]string, 0, len(ms))
	for _, m := range ms {
		line := string(carbon.AppendLine(nil, "", m.Path, m.Value, m.Int, m.IsInt, 0))
		lines = append(lines, strings.TrimSuffix(line, " 0\n"))
	}
	sort.Strings(lines)
	return lines
}

// wantLines compares sorted rendered lines with the expected ones.
func wantLines(t testing.TB, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
