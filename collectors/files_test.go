// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseFileNr(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    [3]uint64
		wantErr bool
	}{
		{in: "1344\t0\t9223372036854775807\n", want: [3]uint64{1344, 0, 9223372036854775807}},
		{in: "893 0 2466167", want: [3]uint64{893, 0, 2466167}},
		{in: "1 2 3 4\n", want: [3]uint64{1, 2, 3}},
		{in: "", wantErr: true},
		{in: "1 2", wantErr: true},
		{in: "1\n2 3", wantErr: true},
		{in: "1 x 3", wantErr: true},
		{in: "-1 0 5", wantErr: true},
	} {
		got, err := parseFileNr([]byte(tc.in))
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("parseFileNr(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestFilesCollect(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "files", fixtureHost("e2e/t1")), 1, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "files.assigned 514", "files.unused 0", "files.max 2466167")
	// Raw mode changes nothing: all three are gauges.
	h := tempHost(t, map[string]string{"proc/sys/fs/file-nr": "1344\t0\t9223372036854775807\n"})
	got, _, err = collectOnce(t, newByName(t, "files", h), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "files.assigned 1344", "files.unused 0", "files.max 9223372036854775807")
}

func TestFilesMalformedAndMissing(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "files", fixtureHost("files/malformed")), 1, false, collect.State{})
	if err == nil || len(got) != 0 {
		t.Errorf("two-field file-nr: %v, %v; want nothing and an error", got, err)
	}
	_, _, err = collectOnce(t, newByName(t, "files", tempHost(t, nil)), 1, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func FuzzParseFileNr(f *testing.F) {
	f.Add([]byte("1344\t0\t9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseFileNr(b)
		if err != nil && v != [3]uint64{} && v[2] != 0 {
			t.Fatalf("parseFileNr(%q) filled all three fields and failed: %v", b, err)
		}
	})
}

func BenchmarkCollectFiles(b *testing.B) { benchCollectSteady(b, "files", fixtureHost("e2e/t1")) }
func BenchmarkReadFiles(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("sys/fs/file-nr"))
}
