// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"bytes"
	"slices"
	"testing"
)

func TestParseSingle(t *testing.T) {
	for _, tc := range []struct {
		in      string
		v       uint64
		max     bool
		wantErr bool
	}{
		{in: "52428800\n", v: 52428800},
		{in: "max\n", max: true},
		{in: "0", v: 0},
		{in: "", wantErr: true},
		{in: "-1\n", wantErr: true},
		{in: "12 13\n", wantErr: true},
		{in: "99999999999999999999999\n", wantErr: true},
	} {
		v, max, err := ParseSingle([]byte(tc.in))
		if (err != nil) != tc.wantErr || (!tc.wantErr && (v != tc.v || max != tc.max)) {
			t.Errorf("ParseSingle(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, v, max, err, tc.v, tc.max, tc.wantErr)
		}
	}
}

func TestParseKV(t *testing.T) {
	keys := []string{"usage_usec", "user_usec", "nr_throttled"}
	v := func(x uint64) Value { return Value{V: x, OK: true} }
	for _, tc := range []struct {
		in      string
		out     [3]Value
		wantErr bool
	}{
		{in: "usage_usec 10\nuser_usec 7\nsystem_usec 3\nnr_throttled 1\n", out: [3]Value{v(10), v(7), v(1)}},
		{in: "user_usec 7", out: [3]Value{{}, v(7), {}}},
		{in: "new_key\nusage_usec 5\n\n", out: [3]Value{v(5), {}, {}}},
		// A zero is a value: present, unlike a missing key.
		{in: "nr_throttled 0\n", out: [3]Value{{}, {}, v(0)}},
		{in: "usage_usec x\nuser_usec 7\n", out: [3]Value{{}, v(7), {}}, wantErr: true},
		{in: "usage_usec 1 2\n", wantErr: true},
		{in: "usage_usec\n", wantErr: true},
		{in: ""},
	} {
		// out starts dirty: what the last file left must not leak.
		out := [3]Value{v(9), v(9), v(9)}
		err := ParseKV([]byte(tc.in), keys, out[:])
		if (err != nil) != tc.wantErr || out != tc.out {
			t.Errorf("ParseKV(%q) = %v %v; want %v error %v", tc.in, out, err, tc.out, tc.wantErr)
		}
	}
}

func TestParseIOStat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    IOStat
		wantErr bool
	}{
		{in: "8:0 rbytes=90112 wbytes=4096 rios=6 wios=1 dbytes=0 dios=0\n253:0 rbytes=10 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n",
			want: IOStat{ReadBytes: 90122, WriteBytes: 4096, Reads: 8, Writes: 1}},
		{in: ""},
		{in: "8:0\n"},
		{in: "8:0 rbytes=1 cost.usage=5 wbytes=2\n", want: IOStat{ReadBytes: 1, WriteBytes: 2}},
		{in: "8:0 rbytes=x wbytes=2\n", want: IOStat{WriteBytes: 2}, wantErr: true},
		{in: "8:0 rbytes wbytes=2\n", want: IOStat{WriteBytes: 2}, wantErr: true},
	} {
		got, err := ParseIOStat([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseIOStat(%q) = %+v, %v; want %+v error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseBlkio(t *testing.T) {
	for _, tc := range []struct {
		in      string
		r, w    uint64
		wantErr bool
	}{
		{in: "8:0 Read 100\n8:0 Write 4\n8:0 Sync 4\n8:0 Async 100\n8:0 Discard 0\n8:0 Total 104\n8:16 Read 1\n8:16 Write 2\nTotal 107\n", r: 101, w: 6},
		{in: "Total 0\n"},
		{in: ""},
		{in: "8:0 Read x\n8:0 Write 3\n", w: 3, wantErr: true},
		{in: "8:0 Bogus 3\n", wantErr: true},
		{in: "8:0 Read\n", wantErr: true},
	} {
		r, w, err := ParseBlkio([]byte(tc.in))
		if (err != nil) != tc.wantErr || r != tc.r || w != tc.w {
			t.Errorf("ParseBlkio(%q) = %d %d %v; want %d %d error %v", tc.in, r, w, err, tc.r, tc.w, tc.wantErr)
		}
	}
}

func TestParsePids(t *testing.T) {
	for in, want := range map[string][]int{"123\n456\n": {123, 456}, "0\n0\n77\n": {77}, "": nil, "x\n9\n": {9}, "0\n": nil, " 5 \n": {5}} {
		var got []int
		parsePids([]byte(in), func(pid int) bool { got = append(got, pid); return true })
		if !slices.Equal(got, want) {
			t.Errorf("parsePids(%q) = %v; want %v", in, got, want)
		}
		var first []int
		if parsePids([]byte(in), func(pid int) bool { first = append(first, pid); return false }) != (len(want) == 0) || len(first) > 1 {
			t.Errorf("parsePids(%q) went on after fn returned false: %v", in, first)
		}
	}
}

func FuzzParseSingle(f *testing.F) {
	f.Add([]byte("123\n"))
	f.Add([]byte("max"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, max, err := ParseSingle(b)
		if err != nil && (v != 0 || max) {
			t.Fatalf("error with a value: %d %v", v, max)
		}
		if max && string(bytes.TrimSpace(b)) != "max" {
			t.Fatalf("max from %q", b)
		}
	})
}

func FuzzParseKV(f *testing.F) {
	f.Add([]byte("usage_usec 10\nuser_usec 7\nsystem_usec 3\n"))
	f.Add([]byte("total_rss 1\ntotal_cache x\n"))
	keys := []string{"usage_usec", "user_usec", "system_usec", "total_rss", "total_cache"}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := make([]Value, len(keys))
		ParseKV(b, keys, out)
		for i, k := range keys {
			if out[i].OK && !bytes.Contains(b, []byte(k)) {
				t.Fatalf("key %s found in %q", k, b)
			}
			if !out[i].OK && out[i].V != 0 {
				t.Fatalf("key %s has a value but was not found", k)
			}
		}
	})
}

func FuzzParseIOStat(f *testing.F) {
	f.Add([]byte("8:0 rbytes=90112 wbytes=4096 rios=6 wios=1 dbytes=0 dios=0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _ := ParseIOStat(b)
		if !bytes.Contains(b, []byte("=")) && got != (IOStat{}) {
			t.Fatalf("values without key=value: %+v", got)
		}
	})
}

func FuzzParseBlkio(f *testing.F) {
	f.Add([]byte("8:0 Read 100\n8:0 Write 4\n8:0 Total 104\nTotal 104\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, w, _ := ParseBlkio(b)
		if !bytes.Contains(b, []byte("Read")) && r != 0 || !bytes.Contains(b, []byte("Write")) && w != 0 {
			t.Fatalf("read %d write %d from %q", r, w, b)
		}
	})
}

func FuzzParsePids(f *testing.F) {
	f.Add([]byte("0\n123\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parsePids(b, func(pid int) bool {
			if pid <= 0 {
				t.Fatalf("pid %d from %q", pid, b)
			}
			return true
		})
	})
}
