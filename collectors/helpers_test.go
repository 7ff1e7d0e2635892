// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"

	"github.com/nodemetrics/nodemetrics/carbon"
)

// fixtureHost is a host tree under testdata: testdata/<dir>/{proc,sys,root}.
func fixtureHost(dir string) collect.Host {
	d := filepath.Join("testdata", dir)
	return collect.Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: filepath.Join(d, "root")}
}

// tempHost builds a host tree in a temp dir from relative path -> content,
// for edge cases written inline in a test.
func tempHost(t testing.TB, files map[string]string) collect.Host {
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
	return collect.Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: filepath.Join(d, "root")}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newByName builds the registered collector called name.
func newByName(t testing.TB, name string, h collect.Host) collect.Collector {
	t.Helper()
	for _, f := range Registry(nil) {
		if f.Name == name {
			c, err := f.New(collect.Deps{Host: h, Log: discardLogger()})
			if err != nil {
				t.Fatalf("new %s: %v", name, err)
			}
			return c
		}
	}
	t.Fatalf("no collector %q", name)
	return nil
}

// collectOnce runs one cycle of c at unix time ts over prev and returns the
// sorted "path value" lines, the error and the state for the next cycle.
func collectOnce(t testing.TB, c collect.Collector, ts int64, raw bool, prev collect.State) ([]string, collect.State, error) {
	t.Helper()
	s := collect.NewSample(time.Unix(ts, 0), raw, prev)
	err := c.Collect(context.Background(), s)
	return render(slices.Collect(s.All())), s.Next(), err
}

func render(ms []collect.Metric) []string {
	lines := make([]string, 0, len(ms))
	for _, m := range ms {
		line := string(carbon.AppendLine(nil, "", m.Path, m.Value(), m.Int(), m.IsInt(), 0))
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

// benchCollectSteady measures steady-state cycles of collector name over h
// (two warm-up cycles first, so rates and caches are in place), reusing
// the collect.Sample as the agent does. Shared by the memory, vmstat, sockets and
// tcp benchmarks.
func benchCollectSteady(b *testing.B, name string, h collect.Host) {
	c := newByName(b, name, h)
	ctx := context.Background()
	t0 := time.Unix(1000, 0)
	s := collect.NewSample(t0, false, collect.State{})
	for i := 1; i <= 2; i++ {
		if err := c.Collect(ctx, s); err != nil {
			b.Fatal(err)
		}
		s.Reset(t0.Add(time.Duration(i) * time.Second))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Reset(t0.Add(time.Duration(i+3) * time.Second))
		if err := c.Collect(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// benchReadSteady is the floor for benchCollectSteady: only reading the
// same files with one reused buffer.
func benchReadSteady(b *testing.B, paths ...string) {
	var buf kernfile.Buf
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range paths {
			if _, err := buf.Read(p); err != nil {
				b.Fatal(err)
			}
		}
	}
}
