// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseVMStat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    map[string]uint64
		wantErr bool
	}{
		{name: "basic", in: "nr_free_pages 5\npgpgin 10\npgpgout 20\npswpin 0\npswpout 1\npgfault 30\npgmajfault 4\n",
			want: map[string]uint64{"pgpgin": 10, "pgpgout": 20, "pswpin": 0, "pswpout": 1, "pgfault": 30, "pgmajfault": 4}},
		{name: "prefix names are not matches", in: "pgfault_x 3\npgpgin_foo 2\npgmajfault 18446744073709551615",
			want: map[string]uint64{"pgmajfault": 18446744073709551615}},
		{name: "empty", in: "", want: map[string]uint64{}},
		{name: "bad value", in: "pgfault x\npgpgin 2\n", want: map[string]uint64{"pgpgin": 2}, wantErr: true},
		{name: "missing value", in: "pgfault\n", want: map[string]uint64{}, wantErr: true},
		{name: "negative", in: "pgfault -1\n", want: map[string]uint64{}, wantErr: true},
		{name: "overflow", in: "pgfault 18446744073709551616\n", want: map[string]uint64{}, wantErr: true},
		{name: "extra field", in: "pgfault 1 2\n", want: map[string]uint64{}, wantErr: true},
	} {
		v, err := parseVMStat([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error = %v, want error %v", tc.name, err, tc.wantErr)
		}
		got := map[string]uint64{}
		for i, k := range vmstatKeys {
			if v.have[i] {
				got[k] = v.n[i]
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for k, w := range tc.want {
			if got[k] != w {
				t.Errorf("%s: %s = %d, want %d", tc.name, k, got[k], w)
			}
		}
	}
}

// Two real captures ~5 s apart, collected as if 60 s apart.
func TestVMStatRatesReal(t *testing.T) {
	got, st, err := collectOnce(t, newByName(t, "vmstat", fixtureHost("vmstat/t0")), 1000, false, collect.State{})
	if err != nil || len(got) != 0 {
		t.Fatalf("first sample: got %v, err %v; want nothing", got, err)
	}
	got, _, err = collectOnce(t, newByName(t, "vmstat", fixtureHost("vmstat/t1")), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"vmstat.pgfault 813.5833333333334", "vmstat.pgmajfault 0.45", "vmstat.pgpgin 95.6",
		"vmstat.pgpgout 30.466666666666665", "vmstat.pswpin 0", "vmstat.pswpout 0")
}

func TestVMStatRawReal(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "vmstat", fixtureHost("vmstat/t0")), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "vmstat.pgfault 6342474", "vmstat.pgmajfault 2324", "vmstat.pgpgin 1441281",
		"vmstat.pgpgout 683812", "vmstat.pswpin 0", "vmstat.pswpout 0")
}

// A decreasing counter is a reset: nothing for it in that cycle; a key
// missing from the file is not published.
func TestVMStatResetAndMissingKey(t *testing.T) {
	h0 := tempHost(t, map[string]string{"proc/vmstat": "pgfault 100\npgmajfault 10\npgpgin 5\n"})
	h1 := tempHost(t, map[string]string{"proc/vmstat": "pgfault 40\npgmajfault 70\npgpgin 5\n"})
	_, st, err := collectOnce(t, newByName(t, "vmstat", h0), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, newByName(t, "vmstat", h1), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "vmstat.pgmajfault 1", "vmstat.pgpgin 0")
}

func TestVMStatMissing(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "vmstat", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestVMStatMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/vmstat": "pgfault 12\npgpgin twelve\n"})
	got, _, err := collectOnce(t, newByName(t, "vmstat", h), 1000, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "vmstat: line 2") {
		t.Fatalf("err = %v, want a parse error naming vmstat line 2", err)
	}
	wantLines(t, got, "vmstat.pgfault 12")
}

func FuzzParseVMStat(f *testing.F) {
	f.Add([]byte("pgpgin 1383585\npgpgout 671784\npswpin 0\npswpout 0\npgfault 5912214\npgmajfault 1986\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, _ := parseVMStat(b)
		for i, k := range vmstatKeys {
			if v.have[i] && !strings.Contains(string(b), k) {
				t.Fatalf("%s reported but not in the input", k)
			}
		}
	})
}

func BenchmarkCollectVMStat(b *testing.B) {
	benchCollectSteady(b, "vmstat", fixtureHost("vmstat/t0"))
}

func BenchmarkReadVMStat(b *testing.B) {
	benchReadSteady(b, fixtureHost("vmstat/t0").ProcPath("vmstat"))
}
