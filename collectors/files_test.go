// SPDX-License-Identifier: Apache-2.0

package collectors

import "testing"

func TestParseFileNr(t *testing.T) {
	v, err := parseFileNr([]byte("1344\t0\t9223372036854775807\n"))
	if err != nil || v != [3]uint64{1344, 0, 9223372036854775807} {
		t.Fatalf("parseFileNr = %v, %v", v, err)
	}
	for _, bad := range []string{"", "1 2", "1 x 3", "-1 0 5"} {
		if _, err := parseFileNr([]byte(bad)); err == nil {
			t.Errorf("parseFileNr(%q) accepted", bad)
		}
	}
}

func TestFilesCollect(t *testing.T) {
	got, _, err := collect(t, newByName(t, "files", tempHost(t, map[string]string{"proc/sys/fs/file-nr": "893\t0\t2466167\n"})), 1, false, State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "files.assigned 893", "files.unused 0", "files.max 2466167")
}

func FuzzParseFileNr(f *testing.F) {
	f.Add([]byte("1344\t0\t9223372036854775807\n"))
	f.Fuzz(func(t *testing.T, b []byte) { parseFileNr(b) })
}

func BenchmarkCollectFiles(b *testing.B) { benchCollectSteady(b, "files", fixtureHost("e2e/t1")) }
func BenchmarkReadFiles(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("sys/fs/file-nr"))
}
