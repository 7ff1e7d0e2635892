// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseMeminfo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    map[string]uint64 // key -> bytes
		wantErr bool
	}{
		{name: "basic", in: "MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable: 500 kB\n",
			want: map[string]uint64{"MemTotal": 1024000, "MemFree": 10240, "MemAvailable": 512000}},
		{name: "no trailing newline", in: "Committed_AS: 3 kB", want: map[string]uint64{"Committed_AS": 3072}},
		{name: "unwanted and unitless lines skipped",
			in:   "Active(anon): 5 kB\nHugePages_Total:       0\nSlab: 9 kB\nShmem: 1 kB\n",
			want: map[string]uint64{"Shmem": 1024}},
		{name: "empty", in: "", want: map[string]uint64{}},
		{name: "bad number", in: "MemTotal: x kB\nMemFree: 1 kB\n", want: map[string]uint64{"MemFree": 1024}, wantErr: true},
		{name: "missing unit", in: "MemTotal: 12\n", want: map[string]uint64{}, wantErr: true},
		{name: "wrong unit", in: "MemTotal: 12 MB\n", want: map[string]uint64{}, wantErr: true},
		{name: "extra field", in: "MemTotal: 12 kB x\n", want: map[string]uint64{}, wantErr: true},
		{name: "overflow", in: "MemTotal: 18014398509481984 kB\n", want: map[string]uint64{}, wantErr: true},
		{name: "negative", in: "MemTotal: -1 kB\n", want: map[string]uint64{}, wantErr: true},
		{name: "name without colon ignored", in: "MemTotal 12 kB\n", want: map[string]uint64{}},
	} {
		v, err := parseMeminfo([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error = %v, want error %v", tc.name, err, tc.wantErr)
		}
		got := map[string]uint64{}
		for i, k := range memKeys {
			if v.have[i] {
				got[k] = v.bytes[i]
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

func TestParseMeminfoErrorNamesLine(t *testing.T) {
	_, err := parseMeminfo([]byte("MemTotal: 1 kB\nMemFree: bad kB\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "MemFree") {
		t.Fatalf("error %v does not name line 2 and MemFree", err)
	}
}

// A real /proc/meminfo of kernel 6.18, captured on the build machine.
func TestMemoryCollectReal(t *testing.T) {
	for _, raw := range []bool{false, true} { // all gauges: raw mode is identical
		got, _, err := collectOnce(t, newByName(t, "memory", fixtureHost("memory/real")), 1000, raw, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		wantLines(t, got,
			"memory.MemTotal 25276026880", "memory.MemFree 24700899328", "memory.MemAvailable 24876285952",
			"memory.Buffers 7245824", "memory.Cached 342249472", "memory.Active 212217856",
			"memory.Dirty 3223552", "memory.Inactive 181350400", "memory.Shmem 9097216",
			"memory.SwapTotal 0", "memory.SwapFree 0", "memory.SwapCached 0",
			"memory.VmallocTotal 35184372087808", "memory.VmallocUsed 14954496", "memory.VmallocChunk 0",
			"memory.Committed_AS 361373696",
			// 100*(25276026880-24876285952)/25276026880 unrounded (docs/metrics.md, differences)
			"memory.MemUsedPercentage 1.5815022269829142")
	}
}

// A 2.6.18-era meminfo: no MemAvailable (so no MemUsedPercentage) and no
// Shmem; only the keys present are published.
func TestMemoryCollectOldKernel(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "memory", fixtureHost("memory/oldkernel")), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"memory.MemTotal 4142108672", "memory.MemFree 324526080", "memory.Buffers 251551744",
		"memory.Cached 2727030784", "memory.SwapCached 0", "memory.Active 2035548160",
		"memory.Inactive 1365233664", "memory.SwapTotal 2146787328", "memory.SwapFree 2146787328",
		"memory.Dirty 1036288", "memory.Committed_AS 972308480",
		"memory.VmallocTotal 35184372087808", "memory.VmallocUsed 4317184", "memory.VmallocChunk 35184367352832")
}

func TestMemoryCollectPercentage(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/meminfo": "MemTotal: 3 kB\nMemAvailable: 2 kB\n"})
	got, _, err := collectOnce(t, newByName(t, "memory", h), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "memory.MemTotal 3072", "memory.MemAvailable 2048",
		"memory.MemUsedPercentage 33.333333333333336")

	// MemTotal 0: no division by zero, no percentage.
	h = tempHost(t, map[string]string{"proc/meminfo": "MemTotal: 0 kB\nMemAvailable: 0 kB\n"})
	got, _, err = collectOnce(t, newByName(t, "memory", h), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "memory.MemTotal 0", "memory.MemAvailable 0")
}

func TestMemoryMissing(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "memory", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

// A malformed line is an error naming the file; the good lines are still
// published.
func TestMemoryMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/meminfo": "MemTotal: 4 kB\nMemFree: ??? kB\n"})
	got, _, err := collectOnce(t, newByName(t, "memory", h), 1000, false, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "meminfo") {
		t.Fatalf("err = %v, want a parse error naming meminfo", err)
	}
	wantLines(t, got, "memory.MemTotal 4096")
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add([]byte("MemTotal:       24683620 kB\nMemAvailable:   24240016 kB\nHugePages_Total:       0\n"))
	f.Add([]byte("MemTotal: 18014398509481983 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, _ := parseMeminfo(b)
		for i := range memKeys {
			if v.have[i] && v.bytes[i]%1024 != 0 {
				t.Fatalf("%s = %d is not a whole number of kB", memKeys[i], v.bytes[i])
			}
			if !v.have[i] && v.bytes[i] != 0 {
				t.Fatalf("%s has a value but is not marked present", memKeys[i])
			}
		}
	})
}

func BenchmarkCollectMemory(b *testing.B) {
	benchCollectSteady(b, "memory", fixtureHost("memory/real"))
}

func BenchmarkReadMemory(b *testing.B) {
	benchReadSteady(b, fixtureHost("memory/real").ProcPath("meminfo"))
}
