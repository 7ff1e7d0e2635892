// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseLoadavg(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    loadavgValues
		wantErr bool
	}{
		{in: "0.21 0.37 0.39 1/719 19737\n", want: loadavgValues{load: [3]float64{0.21, 0.37, 0.39}, running: 1, total: 719}},
		{in: "12.50 3.00 0.00 25/1024 1", want: loadavgValues{load: [3]float64{12.5, 3, 0}, running: 25, total: 1024}},
		{in: "", wantErr: true},
		{in: "0.1 0.2\n", wantErr: true},
		{in: "0.1 0.2 x 1/2 3\n", wantErr: true},
		{in: "0.1 0.2 0.3 12 3\n", wantErr: true},
		{in: "0.1 0.2 0.3 a/b 3\n", wantErr: true},
	} {
		got, err := parseLoadavg([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseLoadavg(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("parseLoadavg(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestLoadavgCollect(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/loadavg":                  "1.00 0.50 0.25 3/120 999\n",
		"sys/devices/system/cpu/online": "0-1,3\n",
	})
	got, _, err := collectOnce(t, newByName(t, "loadavg", h), 100, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"loadavg.01 1", "loadavg.05 0.5", "loadavg.15 0.25",
		"loadavg.01_normalized 0.3333333333333333", "loadavg.05_normalized 0.16666666666666666",
		"loadavg.15_normalized 0.08333333333333333",
		"loadavg.processes_running 3", "loadavg.processes_total 120")
}

// Without sysfs the CPU count comes from the cpuN lines of /proc/stat, as
// glibc does.
func TestLoadavgCPUCountFromStat(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/loadavg": "2.00 2.00 2.00 1/10 5\n",
		"proc/stat":    "cpu  1 2 3 4\ncpu0 1 1 1 1\ncpu1 0 1 2 3\nintr 5\n",
	})
	got, _, err := collectOnce(t, newByName(t, "loadavg", h), 100, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"loadavg.01 2", "loadavg.05 2", "loadavg.15 2",
		"loadavg.01_normalized 1", "loadavg.05_normalized 1", "loadavg.15_normalized 1",
		"loadavg.processes_running 1", "loadavg.processes_total 10")
}

func TestLoadavgMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/loadavg": "garbage\n"})
	got, _, err := collectOnce(t, newByName(t, "loadavg", h), 100, false, collect.State{})
	if err == nil || len(got) != 0 {
		t.Fatalf("malformed loadavg: got %v, err %v; want no metrics and an error", got, err)
	}
}

func FuzzParseLoadavg(f *testing.F) {
	f.Add([]byte("0.21 0.37 0.39 1/719 19737\n"))
	f.Add([]byte("0 0 0 0/0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseLoadavg(b)
		if err == nil && (v.load[0] < 0 || v.load[1] < 0 || v.load[2] < 0) {
			t.Fatalf("negative load accepted: %+v", v)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	f.Add([]byte("0-3,8,10-11\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseCPUList(b)
		if err == nil && n <= 0 {
			t.Fatalf("parseCPUList(%q) = %d with no error", b, n)
		}
	})
}

func BenchmarkCollectLoadavg(b *testing.B) { benchCollectSteady(b, "loadavg", fixtureHost("e2e/t1")) }
func BenchmarkReadLoadavg(b *testing.B) {
	h := fixtureHost("e2e/t1")
	benchReadSteady(b, h.ProcPath("loadavg"), h.SysPath("devices/system/cpu/online"))
}
