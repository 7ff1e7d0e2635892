// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSplitNetDevLine(t *testing.T) {
	for _, tc := range []struct {
		in, name, rest string
		ok             bool
	}{
		{in: "  eth0: 1 2", name: "eth0", rest: " 1 2", ok: true},
		{in: "eth0.100:1 2", name: "eth0.100", rest: "1 2", ok: true},
		{in: "Inter-|   Receive    |  Transmit"},
		{in: " face |bytes    packets errs"},
		{in: ": 1", name: "", rest: " 1", ok: true},
		{in: ""},
	} {
		name, rest, ok := SplitNetDevLine([]byte(tc.in))
		if ok != tc.ok || string(name) != tc.name || string(rest) != tc.rest {
			t.Errorf("SplitNetDevLine(%q) = %q, %q, %v; want %q, %q, %v", tc.in, name, rest, ok, tc.name, tc.rest, tc.ok)
		}
	}
}

func TestParseNetDevLine(t *testing.T) {
	var v NetDevCounters
	for _, tc := range []struct {
		in      string
		want    NetDevCounters
		wantErr bool
	}{
		{in: " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", want: NetDevCounters{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{in: "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 extra 99",
			want: NetDevCounters{18446744073709551615, 15: 1}},
		{in: "\t1\t2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\t", want: NetDevCounters{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{in: " 1 2 3", wantErr: true},
		{in: "", wantErr: true},
		{in: " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x", wantErr: true},
		{in: " -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", wantErr: true},
		{in: " 18446744073709551616 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", wantErr: true},
	} {
		err := ParseNetDevLine([]byte("eth0"), []byte(tc.in), &v)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseNetDevLine(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && v != tc.want {
			t.Errorf("ParseNetDevLine(%q) = %v, want %v", tc.in, v, tc.want)
		}
	}
	if err := ParseNetDevLine(nil, []byte(" 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"), &v); err == nil {
		t.Error("a line without an interface name accepted")
	}
}

func TestCheckNetDevHeader(t *testing.T) {
	for in, ok := range map[string]bool{
		"": false, "garbage\n": false, "\x00:\n:::\n eth0:\n": false, " face |bytes\n": false,
		"Inter-|   Receive  |  Transmit\n face |bytes\n": true,
	} {
		if err := CheckNetDevHeader([]byte(in)); (err == nil) != ok {
			t.Errorf("CheckNetDevHeader(%q) = %v", in, err)
		}
	}
}

// netDevLines renders every interface line of b: "name=counters" for the
// good ones, "line N: error" for the others.
func netDevLines(b []byte) string {
	var out []string
	for n := 0; ; {
		name, counters, rest, ok := NextNetDevLine(b, &n)
		if !ok {
			break
		}
		b = rest
		var v NetDevCounters
		if err := ParseNetDevLine(name, counters, &v); err != nil {
			out = append(out, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		out = append(out, fmt.Sprintf("%s=%v", name, v))
	}
	return strings.Join(out, "\n")
}

// This machine's /proc/net/dev, a broken one, and the headers alone.
func TestNextNetDevLine(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"net-dev", "lo=[15085339 13984 0 0 0 0 0 0 15085339 13984 0 0 0 0 0 0]\n" +
			"ifb0=[0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]\n" +
			"ifb1=[0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0]\n" +
			"eth0=[99881250 3426 0 0 0 0 0 0 263316 2777 0 0 0 0 0 0]\n" +
			"docker0=[0 0 0 0 0 0 0 0 1186 11 0 8 0 0 0 0]"},
		{"net-dev-malformed", "line 3: 2 counters, want 16\n" +
			"eth0=[1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0]\n" +
			"line 5: 7 counters, want 16\n" +
			`line 6: column 16: bad counter "zz"` + "\n" +
			"ens3=[3000 30 0 0 0 0 0 0 4000 40 0 0 0 0 0 0]"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckNetDevHeader(b); err != nil {
			t.Errorf("%s: %v", tc.file, err)
		}
		if got := netDevLines(b); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.file, got, tc.want)
		}
	}
	// Glued name and counters, and a short line between good ones.
	in := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		"  eth0:3242 40 1 2 0 0 0 0 20199 38 3 4 0 0 0 0\n" +
		"  bad: 1 2 3\n" +
		"  eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"
	want := "eth0=[3242 40 1 2 0 0 0 0 20199 38 3 4 0 0 0 0]\nline 4: 3 counters, want 16\neth1=[1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16]"
	if got := netDevLines([]byte(in)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Split and parse, line by line, allocate nothing.
func TestNetDevAllocs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "net-dev"))
	if err != nil {
		t.Fatal(err)
	}
	var v NetDevCounters
	n := testing.AllocsPerRun(20, func() {
		for rest, line := b, 0; ; {
			name, counters, r, ok := NextNetDevLine(rest, &line)
			if !ok {
				break
			}
			rest = r
			if ParseNetDevLine(name, counters, &v) != nil {
				t.Fatal("parse failed")
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocs per file", n)
	}
}

func FuzzParseNetDevCounters(f *testing.F) {
	f.Add([]byte(" 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"))
	f.Add([]byte("  eth0: 99394266    3369    0    0    0     0          0         0   257952    2716    0    0    0     0       0          0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, rest, ok := SplitNetDevLine(b)
		if ok && len(name)+len(rest) >= len(b)+1 {
			t.Fatalf("split longer than the line: %q %q", name, rest)
		}
		var v NetDevCounters
		if err := ParseNetDevLine([]byte("eth0"), b, &v); err == nil {
			// 16 numbers need at least 16 digits and 15 blanks.
			if len(b) < 31 {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}

func FuzzNextNetDev(f *testing.F) {
	f.Add([]byte("Inter-|\n face |bytes\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		for {
			name, counters, rest, ok := NextNetDevLine(b, &n)
			if !ok {
				break
			}
			if len(rest) >= len(b) {
				t.Fatalf("no progress on %q", b)
			}
			var v NetDevCounters
			if ParseNetDevLine(name, counters, &v) == nil && len(name) == 0 {
				t.Fatalf("a line without a name accepted in %q", b)
			}
			b = rest
		}
	})
}
