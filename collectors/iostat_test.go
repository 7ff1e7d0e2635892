// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

func TestParseDiskstatsLine(t *testing.T) {
	for _, tc := range []struct {
		in       string
		wantSkip bool
		wantErr  bool
		name     string
		v        [ioColumns]uint64
	}{
		{in: "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11", name: "sda",
			v: [ioColumns]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{in: " 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", name: "nvme0n1",
			v: [ioColumns]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{in: "104 0 cciss/c0d0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", name: "cciss/c0d0",
			v: [ioColumns]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{in: "18446744073709551615 0 sdz 18446744073709551615 0 0 0 0 0 0 0 0 0 0", name: "sdz",
			v: [ioColumns]uint64{18446744073709551615}},
		{in: "", wantSkip: true},
		{in: "   ", wantSkip: true},
		{in: "   8       2 sda2 1 2 3 4", wantSkip: true},                  // 2.6 partition line
		{in: "   7       0 loop0 1 2 3 4 5 6 7 8 9 10 11", wantSkip: true}, // loop
		{in: "   1       0 ram0 1 2 3 4 5 6 7 8 9 10 11", wantSkip: true},  // ram
		{in: "this is a garbage line", wantSkip: true, wantErr: true},
		{in: "8 0", wantSkip: true, wantErr: true},
		{in: "8 0 sda 1 2 3 x 5 6 7 8 9 10 11", wantSkip: true, wantErr: true},
		{in: "8 0 sda 1 2 3 -4 5 6 7 8 9 10 11", wantSkip: true, wantErr: true},
		{in: "8 0 sda 1 2 3 4 5 6 7 8 9 10 18446744073709551616", wantSkip: true, wantErr: true},
	} {
		var d diskstatsLine
		skip, err := parseDiskstatsLine([]byte(tc.in), &d)
		if skip != tc.wantSkip || (err != nil) != tc.wantErr {
			t.Errorf("parseDiskstatsLine(%q) = skip %v, err %v; want skip %v, error %v", tc.in, skip, err, tc.wantSkip, tc.wantErr)
			continue
		}
		if !skip && (string(d.name) != tc.name || d.v != tc.v) {
			t.Errorf("parseDiskstatsLine(%q) = %s %v, want %s %v", tc.in, d.name, d.v, tc.name, tc.v)
		}
	}
}

// diamondDevices is Diamond's default "devices" option; re.match anchors it
// at the start only, each alternative ends with "$".
var diamondDevices = regexp.MustCompile(`^(?:PhysicalDrive[0-9]+$|md[0-9]+$|sd[a-z]+[0-9]*$|x?vd[a-z]+[0-9]*$|disk[0-9]+$|nvme[0-9]+n[0-9]+(p[0-9]+)?$|dm\-[0-9]+$)`)

func TestIODeviceMatch(t *testing.T) {
	for name, want := range map[string]bool{
		"sda": true, "sda1": true, "sdaa12": true, "xvda": true, "xvda1": true, "vdb": true, "vdb3": true,
		"md0": true, "md127": true, "dm-0": true, "nvme0n1": true, "nvme0n1p1": true, "nvme10n12p3": true,
		"disk0": true, "PhysicalDrive3": true,
		"mmcblk0": false, "mmcblk0p1": false, "sr0": false, "hda": false, "loop0": false, "ram0": false,
		"cciss/c0d0": false, "zram0": false, "nvme0": false, "nvme0n": false, "nvme0n1p": false, "nvme0c0n1": false,
		"sd": false, "sd1": false, "sda1b": false, "dm-": false, "md": false, "mdx": false, "vd": false,
		"xvd1": false, "disk": false, "PhysicalDrive": false, "": false, "sdA": false, "md0p1": false,
	} {
		if got := ioDeviceMatch([]byte(name)); got != want {
			t.Errorf("ioDeviceMatch(%q) = %v, want %v", name, got, want)
		}
		if re := diamondDevices.MatchString(name); re != want {
			t.Errorf("test table disagrees with Diamond's regex for %q", name)
		}
	}
}

func TestIODeviceName(t *testing.T) {
	for in, want := range map[string]string{"cciss/c0d0": "cciss_c0d0", "sda": "sda", "a.b c": "a_b_c"} {
		if got := ioDeviceName(in); got != want {
			t.Errorf("ioDeviceName(%q) = %q, want %q", in, got, want)
		}
	}
}

func readWant(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// The want_rate.txt files were computed by Diamond's own arithmetic (a
// transcription of diskusage.py run over the same two files, dt fixed).
func TestIOStatRealRates(t *testing.T) {
	c := newByName(t, "iostat", fixtureHost("iostat/real/t0"))
	got, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil || len(got) != 0 {
		t.Fatalf("first sample: got %v, err %v; want nothing", got, err)
	}
	c.(*iostat).file.Path = filepath.Join("testdata", "iostat", "real", "t1", "proc", "diskstats")
	got, _, err = collectOnce(t, c, 1005, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, readWant(t, "testdata/iostat/real/want_rate.txt")...)
}

func TestIOStatEdgeRates(t *testing.T) {
	c := newByName(t, "iostat", fixtureHost("iostat/edge/t0"))
	got, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "line 14") || len(got) != 0 {
		t.Fatalf("first sample: got %v, err %v; want nothing and an error for line 14", got, err)
	}
	c.(*iostat).file.Path = filepath.Join("testdata", "iostat", "edge", "t1", "proc", "diskstats")
	got, st2, err := collectOnce(t, c, 1060, false, st)
	if err == nil {
		t.Error("garbage line: want an error")
	}
	// md0 and cciss idle or not matched, dm-0 reset, mmcblk0/sr0 not
	// matched, loop0/ram0 skipped, sda2 too short.
	wantLines(t, got, readWant(t, "testdata/iostat/edge/want_rate.txt")...)

	// After the reset dm-0 is back in the next cycle.
	got, _, _ = collectOnce(t, c, 1120, false, st2)
	if len(got) != 0 {
		t.Errorf("no I/O since the last sample: got %v, want nothing", got)
	}
	if st2.Counters["iostat.dm-0.reads"] != 10 {
		t.Errorf("dm-0 reads after reset remembered as %d, want 10", st2.Counters["iostat.dm-0.reads"])
	}
}

func TestIOStatRaw(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "iostat", fixtureHost("iostat/edge/t0")), 1000, true, collect.State{})
	if err == nil {
		t.Error("garbage line: want an error")
	}
	var want []string
	for _, dev := range []struct {
		name string
		v    [ioColumns]uint64
	}{
		{"nvme0n1", [ioColumns]uint64{1000, 10, 80000, 500, 2000, 20, 160000, 1500, 1, 3000, 4000}},
		{"nvme0n1p1", [ioColumns]uint64{900, 5, 70000, 450, 1900, 15, 150000, 1400, 0, 2800, 3700}},
		{"md0", [ioColumns]uint64{10, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"dm-0", [ioColumns]uint64{5000, 0, 40000, 2000, 6000, 0, 48000, 9000, 0, 7000, 11000}},
		{"sda1", [ioColumns]uint64{300, 1, 2400, 30, 400, 2, 3200, 40, 0, 60, 70}},
		{"xvda", [ioColumns]uint64{50, 0, 400, 5, 60, 0, 480, 6, 0, 10, 11}},
		{"vdb", [ioColumns]uint64{7, 0, 56, 1, 8, 0, 64, 1, 0, 2, 2}},
	} {
		for i, x := range dev.v {
			if i == ioReadsSectors || i == ioWritesSectors {
				x *= 512
			}
			want = append(want, "iostat."+dev.name+"."+ioNames[i]+" "+strconv.FormatUint(x, 10))
		}
	}
	wantLines(t, got, want...)
}

func TestIOStatMissingFile(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "iostat", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing diskstats: err %v, want fs.ErrNotExist", err)
	}
}

func TestIOStatMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/diskstats": "8 0 sda 1 2 3 x 5 6 7 8 9 10 11\n" +
		"8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n\x00\xff garbage\n"})
	got, _, err := collectOnce(t, newByName(t, "iostat", h), 1000, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "diskstats: line 1") {
		t.Errorf("err = %v, want a parse error naming the file and line 1", err)
	}
	if len(got) != ioColumns || !strings.HasPrefix(got[0], "iostat.sdb.") {
		t.Errorf("got %v, want the good sdb line only", got)
	}
}

// A device that goes away is forgotten (its names are not kept forever).
func TestIOStatDeviceRemoved(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/diskstats": "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9 10 11\n"})
	c := newByName(t, "iostat", h)
	collectOnce(t, c, 1000, true, collect.State{})
	os.WriteFile(filepath.Join(h.Proc, "diskstats"), []byte("8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"), 0o644)
	collectOnce(t, c, 1060, true, collect.State{})
	if n := len(c.(*iostat).devs); n != 1 {
		t.Errorf("%d devices cached, want 1", n)
	}
}

func FuzzParseDiskstatsLine(f *testing.F) {
	f.Add([]byte(" 254       0 vda 79397 11020 3018186 17050 15197 16960 1388328 5368 0 9824 23958 7052 0 365864 1001 1451 538"))
	f.Add([]byte("8 2 sda2 1 2 3 4"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d diskstatsLine
		skip, err := parseDiskstatsLine(b, &d)
		if err != nil && !skip {
			t.Fatalf("error %v without skip", err)
		}
		if !skip && (len(d.name) == 0 || hasPrefix(d.name, "loop") || hasPrefix(d.name, "ram")) {
			t.Fatalf("accepted device %q", d.name)
		}
	})
}

// The hand-written matcher is Diamond's regex.
func FuzzIODeviceMatch(f *testing.F) {
	for _, s := range []string{"sda1", "nvme0n1p1", "dm-0", "mmcblk0", "xvda", "PhysicalDrive0", "md0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, "\n") {
			return // Python's "$" also matches before a final newline; names never hold one
		}
		if got, want := ioDeviceMatch([]byte(s)), diamondDevices.MatchString(s); got != want {
			t.Fatalf("ioDeviceMatch(%q) = %v, regex says %v", s, got, want)
		}
	})
}

func BenchmarkCollectIOStat(b *testing.B) {
	c := newByName(b, "iostat", fixtureHost("iostat/real/t1"))
	s := collect.NewSample(time.Unix(1000, 0), false, collect.State{})
	c.Collect(b.Context(), s)
	b.ReportAllocs()
	for i := range b.N {
		s.Reset(time.Unix(int64(1005+i), 0))
		if err := c.Collect(b.Context(), s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadIOStat(b *testing.B) {
	var buf kernfile.Buf
	file := filepath.Join("testdata", "iostat", "real", "t1", "proc", "diskstats")
	b.ReportAllocs()
	for range b.N {
		if _, err := buf.Read(file); err != nil {
			b.Fatal(err)
		}
	}
}
