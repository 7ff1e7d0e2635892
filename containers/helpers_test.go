// SPDX-License-Identifier: Apache-2.0

package containers

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

	"github.com/nodemetrics/nodemetrics/carbon"
	"github.com/nodemetrics/nodemetrics/collect"
)

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixtureHost is a host tree under testdata/<dir>/{proc,sys}.
func fixtureHost(dir string) collect.Host {
	d := filepath.Join("testdata", dir)
	return collect.Host{Proc: filepath.Join(d, "proc"), Sys: filepath.Join(d, "sys"), Root: filepath.Join(d, "root")}
}

// copyHost copies a fixture tree (symlinks kept) into a temp dir, so a test
// can change files between two cycles.
func copyHost(t testing.TB, dir string) (collect.Host, string) {
	t.Helper()
	src := filepath.Join("testdata", dir)
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		case fi.IsDir():
			return os.MkdirAll(out, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return collect.Host{Proc: filepath.Join(dst, "proc"), Sys: filepath.Join(dst, "sys"), Root: filepath.Join(dst, "root")}, dst
}

// collectOnce runs one cycle at unix time ts over prev, published as the
// agent does (the event counts start again from zero): the plain metrics,
// then the tagged series.
func collectOnce(t testing.TB, c collect.Collector, ts int64, raw bool, prev collect.State) ([]string, collect.State, error) {
	t.Helper()
	s := collect.NewSample(time.Unix(ts, 0), raw, prev)
	err := c.Collect(context.Background(), s)
	c.(collect.Settler).Settle(true)
	return append(render(slices.Collect(s.All())), render(s.Tagged())...), s.Next(), err
}

func render(ms []collect.Metric) []string {
	lines := make([]string, 0, len(ms))
	for _, m := range ms {
		line := string(carbon.AppendLine(nil, "", m.FullPath(), m.Value(), m.Int(), m.IsInt(), 0))
		lines = append(lines, strings.TrimSuffix(line, " 0\n"))
	}
	sort.Strings(lines)
	return lines
}

func wantLines(t testing.TB, got []string, want ...string) {
	t.Helper()
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func newTest(t testing.TB, h collect.Host, opts Options) collect.Collector {
	t.Helper()
	c, err := NewCollector(h, opts, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.(io.Closer).Close() })
	return c
}

// filter keeps the lines starting with prefix.
func filter(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}
