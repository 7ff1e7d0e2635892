// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseUptime(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: "350735.47 234388.90", want: 350735.47},
		{in: "60.00", want: 60},
		{in: "60.00\n", want: 60},
		{in: "  7 1", want: 7},
		{in: "", wantErr: true},
		{in: "abc 1.0", wantErr: true},
		{in: "-5 1", wantErr: true},
		{in: "NaN 1", wantErr: true},
		{in: "Inf 1", wantErr: true},
	} {
		got, err := parseUptime([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseUptime(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestUptimeCollect(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "uptime", tempHost(t, map[string]string{"proc/uptime": "3600.00 7000.00\n"})), 1, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "uptime.minutes 60")
	// Real file, full precision (Diamond rounds to whole minutes, docs/metrics.md, differences).
	got, _, err = collectOnce(t, newByName(t, "uptime", fixtureHost("e2e/t0")), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "uptime.minutes 145.44833333333332")
}

func TestUptimeMalformedAndMissing(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "uptime", fixtureHost("uptime/malformed")), 1, false, collect.State{})
	if err == nil || len(got) != 0 {
		t.Errorf("unparsable uptime: %v, %v; want nothing and an error", got, err)
	}
	_, _, err = collectOnce(t, newByName(t, "uptime", tempHost(t, nil)), 1, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func FuzzParseUptime(f *testing.F) {
	f.Add([]byte("350735.47 234388.90"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseUptime(b); err == nil && !(v >= 0) {
			t.Fatalf("parseUptime(%q) = %v with no error", b, v)
		}
	})
}

func BenchmarkCollectUptime(b *testing.B) { benchCollectSteady(b, "uptime", fixtureHost("e2e/t1")) }
func BenchmarkReadUptime(b *testing.B)    { benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("uptime")) }
