// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]uint64{"0": 0, "42": 42, "18446744073709551615": 1<<64 - 1} {
		if v, ok := ParseUint([]byte(in)); !ok || v != want {
			t.Errorf("ParseUint(%q) = %d, %v", in, v, ok)
		}
	}
	for _, bad := range []string{"", "-1", "18446744073709551616", "1a", " 1", "+1"} {
		if _, ok := ParseUint([]byte(bad)); ok {
			t.Errorf("ParseUint(%q) ok", bad)
		}
	}
	for in, want := range map[string]int64{"-9223372036854775808": -1 << 63, "9223372036854775807": 1<<63 - 1, "-0": 0} {
		if v, ok := ParseInt([]byte(in)); !ok || v != want {
			t.Errorf("ParseInt(%q) = %d, %v", in, v, ok)
		}
	}
	if _, ok := ParseInt([]byte("9223372036854775808")); ok {
		t.Error("ParseInt overflow accepted")
	}
}

func TestSplit(t *testing.T) {
	b := []byte("cpu  1\t2 \nlast")
	line, rest := NextLine(b)
	f1, r := NextField(line)
	f2, r := NextField(r)
	f3, r := NextField(r)
	f4, _ := NextField(r)
	if string(f1) != "cpu" || string(f2) != "1" || string(f3) != "2" || len(f4) != 0 {
		t.Errorf("fields %q %q %q %q", f1, f2, f3, f4)
	}
	if line, rest = NextLine(rest); string(line) != "last" || rest != nil {
		t.Errorf("last line %q rest %q", line, rest)
	}
}

// A file larger than the first buffer is read whole, and the buffer is
// reused: the second read of the same file allocates nothing, its path
// given whole or in parts (joined as Join joins them, in the Buf's own
// buffer); an error names the joined path.
func TestBufRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	want := strings.Repeat("0123456789abcdef", 1000)
	if err := os.WriteFile(p, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf Buf
	got, err := buf.Read(p)
	if err != nil || string(got) != want {
		t.Fatalf("read %d bytes, err %v", len(got), err)
	}
	if got, err := buf.Read(dir, "", "f"); err != nil || string(got) != want {
		t.Errorf("read of %s, \"\", f: %d bytes, err %v", dir, len(got), err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := buf.Read(dir, "missing"); !os.IsNotExist(err) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v, want not exist naming %s", err, missing)
	}
	if _, err := buf.Read(dir, "f\x00"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("a path with a NUL byte: %v, want EINVAL", err)
	}
	if n := testing.AllocsPerRun(10, func() { buf.Read(p) }); n != 0 {
		t.Errorf("%v allocs per read of a cached size", n)
	}
	if n := testing.AllocsPerRun(10, func() { buf.Read(dir, "f") }); n != 0 {
		t.Errorf("%v allocs per read of a cached size by parts", n)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("123")
	f.Add("-9223372036854775808")
	// Agrees with strconv on every input of at most 20 digits (the kernel
	// never pads a number with zeros beyond that) and never accepts what
	// strconv rejects.
	f.Fuzz(func(t *testing.T, s string) {
		digits := strings.TrimPrefix(s, "-")
		u, ok := ParseUint([]byte(s))
		w, err := strconv.ParseUint(s, 10, 64)
		if ok && (err != nil || u != w) || !ok && err == nil && !strings.HasPrefix(s, "+") && len(s) <= 20 {
			t.Fatalf("ParseUint(%q) = %d %v; strconv %d %v", s, u, ok, w, err)
		}
		i, ok := ParseInt([]byte(s))
		x, err := strconv.ParseInt(s, 10, 64)
		if ok && (err != nil || i != x) || !ok && err == nil && !strings.HasPrefix(s, "+") && len(digits) <= 20 {
			t.Fatalf("ParseInt(%q) = %d %v; strconv %d %v", s, i, ok, x, err)
		}
	})
}

// A file over a cap: the read stops at the cap, returns whole lines up to
// it and a *LimitError naming the cap.
func TestBufReadCaps(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte(strings.Repeat(strings.Repeat("x", 99)+"\n", MaxBytes/100+10)), 0o644); err != nil {
		t.Fatal(err)
	}
	many := filepath.Join(dir, "many")
	if err := os.WriteFile(many, []byte(strings.Repeat("1\n", MaxLines+5)), 0o644); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact")
	if err := os.WriteFile(exact, []byte(strings.Repeat("1\n", MaxLines)), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf Buf
	for _, tc := range []struct {
		path, what string
		lines      int
	}{{long, "bytes", MaxBytes / 100}, {many, "lines", MaxLines}, {exact, "", MaxLines}} {
		b, err := buf.Read(tc.path)
		var le *LimitError
		if tc.what == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
			}
		} else if !errors.As(err, &le) || le.What != tc.what {
			t.Errorf("%s: err %v, want a %s LimitError", tc.path, err, tc.what)
		}
		if len(b) > MaxBytes || bytes.Count(b, []byte("\n")) != tc.lines || (len(b) > 0 && b[len(b)-1] != '\n') {
			t.Errorf("%s: %d bytes, %d lines returned, want %d whole lines", tc.path, len(b), bytes.Count(b, []byte("\n")), tc.lines)
		}
	}
	if cap(buf.b) > MaxBytes+1 {
		t.Errorf("buffer grew to %d bytes", cap(buf.b))
	}
}
