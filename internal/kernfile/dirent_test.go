// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// A listing gives every entry with its type, "." and ".." left out, over
// as many getdents as a small buffer takes, and allocates nothing; a
// file that is not a directory is an error naming it.
func TestDir(t *testing.T) {
	dir := t.TempDir()
	want := map[string]uint8{}
	for i := range 60 {
		name := fmt.Sprintf("entry-with-a-longish-name-%02d", i)
		if i%3 == 0 {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			want[name] = syscall.DT_DIR
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = syscall.DT_REG
	}
	got := map[string]uint8{}
	var buf Buf
	if err := buf.Dir(func(name []byte, typ uint8) { got[string(name)] = typ }, dir); err != nil || !maps.Equal(got, want) {
		t.Errorf("listing: %v %v, want %v", got, err, want)
	}

	// 512 bytes hold a few entries: the listing takes many reads.
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var names []string
	if err := Dirents(fd, make([]byte, 512), func(name []byte, _ uint8) { names = append(names, string(name)) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if !slices.Equal(names, slices.Sorted(maps.Keys(want))) {
		t.Errorf("listing in a 512-byte buffer: %v", names)
	}

	n := 0
	if a := testing.AllocsPerRun(10, func() { buf.Dir(func([]byte, uint8) { n++ }, dir) }); a != 0 {
		t.Errorf("%v allocs per listing", a)
	}
	file := filepath.Join(dir, "entry-with-a-longish-name-01")
	if err := buf.Dir(func([]byte, uint8) {}, dir, "entry-with-a-longish-name-01"); !errors.Is(err, syscall.ENOTDIR) || !strings.Contains(err.Error(), file) {
		t.Errorf("listing a file: %v, want ENOTDIR naming %s", err, file)
	}
}

// Exists finds what os.Stat finds (a file, a directory, through a link),
// not a missing name or a dangling link, and allocates nothing.
func TestExists(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), nil, 0o644)
	os.Symlink("f", filepath.Join(dir, "link"))
	os.Symlink("missing", filepath.Join(dir, "dangling"))
	var buf Buf
	for name, want := range map[string]bool{"f": true, "": true, "link": true, "missing": false, "dangling": false} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := buf.Exists(dir, name); got != want || got != (err == nil) {
			t.Errorf("Exists(%s, %q) = %v, want %v (os.Stat: %v)", dir, name, got, want, err)
		}
	}
	if n := testing.AllocsPerRun(10, func() { buf.Exists(dir, "f") }); n != 0 {
		t.Errorf("%v allocs per Exists", n)
	}
}
