// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// repoRoot is the repository's top directory (tests run in cmd/collector).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

// TestListedPathsAreDocumented keeps docs/metrics.md, the metric contract
// users read, in step with the code: every metric name that --list prints
// (each literal node and each alternative of <a|b|c>) appears in it.
func TestListedPathsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runArgs(t, "--list")
	if code != 0 {
		t.Fatalf("--list: exit %d: %s", code, stderr)
	}
	alt := regexp.MustCompile(`<([^<>]*)>`)
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, path, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("--list line %q: want 'collector path'", line)
		}
		path = strings.TrimSpace(path)
		if i := strings.Index(path, " ("); i >= 0 {
			path = path[:i] // a remark: "(with --tags)"
		}
		var words, parts []string
		for _, m := range alt.FindAllStringSubmatch(path, -1) {
			if strings.Contains(m[1], "|") {
				words = append(words, strings.Split(m[1], "|")...)
			}
		}
		// Literal text outside <...> (placeholders such as <mode> stay
		// out): whole nodes must be words of the document; the pieces of
		// a node next to a placeholder (_normalized) must occur in it.
		for _, node := range strings.FieldsFunc(alt.ReplaceAllString(path, "\x00"), func(r rune) bool {
			return r == '.' || r == ';' || r == '='
		}) {
			if strings.Contains(node, "\x00") {
				parts = append(parts, strings.Split(node, "\x00")...)
			} else {
				words = append(words, node)
			}
		}
		for _, w := range words {
			re := regexp.MustCompile(`(^|[^A-Za-z0-9_])` + regexp.QuoteMeta(w) + `($|[^A-Za-z0-9_])`)
			if !re.Match(doc) {
				t.Errorf("collector %s, path %s: %q is not in docs/metrics.md; document it there", name, path, w)
			}
			checked++
		}
		for _, w := range parts {
			if w != "" && !bytes.Contains(doc, []byte(w)) {
				t.Errorf("collector %s, path %s: %q is not in docs/metrics.md; document it there", name, path, w)
			}
		}
	}
	if checked < 100 {
		t.Errorf("only %d metric names checked: --list output changed shape?", checked)
	}
}

// TestNoPointerOutsideRepository: the repository stands alone. No file may
// send a reader to documents that only the developers had (the team's
// background specifications and notes).
func TestNoPointerOutsideRepository(t *testing.T) {
	root := repoRoot(t)
	// Built from pieces so that this file does not match itself.
	bad := []string{
		".." + "/shared", "shared" + "/spec", "shared" + "/notes",
		"spec" + "/metrics.md", "spec" + "/cli.md", "spec" + "/containers.md",
		"notes" + "/platform.md", "notes" + "/performance.md", "notes" + "/graphite.md", "notes" + "/style.md",
	}
	skipDir := map[string]bool{".git": true, ".state": true, "bin": true, "build": true, "testdata": true}
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDir[d.Name()] && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(p, ".png") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, s := range bad {
			if i := bytes.Index(b, []byte(s)); i >= 0 {
				line := 1 + bytes.Count(b[:i], []byte("\n"))
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s:%d points outside the repository (%q): say it here or in docs/", rel, line, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 {
		t.Errorf("only %d files read: walked the wrong tree?", n)
	}
}

// githubAnchor is the fragment GitHub gives a Markdown heading: lower
// case, punctuation other than '-' and '_' dropped, spaces as '-'.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocLinks: every link from the README or docs/ to a Markdown file of
// the repository, and to a heading in it, resolves.
func TestDocLinks(t *testing.T) {
	root := repoRoot(t)
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files := append([]string{filepath.Join(root, "README.md")}, docs...)
	link := regexp.MustCompile(`\]\(([^)\s]*)\)`)
	heading := regexp.MustCompile(`(?m)^#+ (.*)$`)
	anchors := func(p string) map[string]bool {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		m := map[string]bool{}
		for _, h := range heading.FindAllStringSubmatch(string(b), -1) {
			m[githubAnchor(h[1])] = true
		}
		return m
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, frag, _ := strings.Cut(target, "#")
			dest := f
			if file != "" {
				dest = filepath.Join(filepath.Dir(f), file)
			}
			if _, err := os.Stat(dest); err != nil {
				t.Errorf("%s: link %s: %v", rel, target, err)
				continue
			}
			if frag != "" && strings.HasSuffix(dest, ".md") && !anchors(dest)[frag] {
				t.Errorf("%s: link %s: no such heading in %s", rel, target, filepath.Base(dest))
			}
			n++
		}
	}
	if n < 5 {
		t.Errorf("only %d links checked", n)
	}
}

// TestReadmeListsInstalledPackages: what `make run` and `make test`
// apt-get install (scripts/deps.sh and scripts/graphite.sh) is what the
// README says they install.
func TestReadmeListsInstalledPackages(t *testing.T) {
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	arrays := regexp.MustCompile(`(?m)^\s*(?:PACKAGES|pkgs)\+?=\(([^)]*)\)|install -y -qq --no-install-recommends ([a-z0-9.+-]+)$`)
	n := 0
	for _, f := range []string{"scripts/deps.sh", "scripts/graphite.sh"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range arrays.FindAllStringSubmatch(string(b), -1) {
			for _, pkg := range strings.Fields(m[1] + " " + m[2]) {
				n++
				if !regexp.MustCompile(`(^|[^a-z0-9.+-])` + regexp.QuoteMeta(pkg) + `($|[^a-z0-9+-])`).Match(readme) {
					t.Errorf("%s installs %s; the README does not say so", f, pkg)
				}
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d packages found in the scripts: changed shape?", n)
	}
}
