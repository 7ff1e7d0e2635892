// SPDX-License-Identifier: Apache-2.0

package collectors

import "testing"

func TestParseUptime(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr bool
	}{
		{in: "350735.47 234388.90", want: 350735.47},
		{in: "60.00", want: 60},
		{in: "", wantErr: true},
		{in: "abc 1.0", wantErr: true},
		{in: "-5 1", wantErr: true},
	} {
		got, err := parseUptime([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseUptime(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestUptimeCollect(t *testing.T) {
	got, _, err := collect(t, newByName(t, "uptime", tempHost(t, map[string]string{"proc/uptime": "3600.00 7000.00\n"})), 1, false, State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "uptime.minutes 60")
	got, _, err = collect(t, newByName(t, "uptime", tempHost(t, map[string]string{"proc/uptime": "garbage\n"})), 1, false, State{})
	if err == nil || len(got) != 0 {
		t.Fatalf("unparsable uptime: %v, %v; want nothing and an error", got, err)
	}
}

func FuzzParseUptime(f *testing.F) {
	f.Add([]byte("350735.47 234388.90"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseUptime(b); err == nil && v < 0 {
			t.Fatalf("negative uptime %v", v)
		}
	})
}

func BenchmarkCollectUptime(b *testing.B) { benchCollectSteady(b, "uptime", fixtureHost("e2e/t1")) }
func BenchmarkReadUptime(b *testing.B)    { benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("uptime")) }
