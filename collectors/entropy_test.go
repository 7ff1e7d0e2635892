// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestEntropyCollect(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"256\n", "entropy.available 256"},
		{"3754", "entropy.available 3754"},
		{" 0 \n", "entropy.available 0"},
	} {
		h := tempHost(t, map[string]string{"proc/sys/kernel/random/entropy_avail": tc.in})
		got, _, err := collectOnce(t, newByName(t, "entropy", h), 1, false, collect.State{})
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		wantLines(t, got, tc.want)
	}
	got, _, err := collectOnce(t, newByName(t, "entropy", fixtureHost("e2e/t1")), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "entropy.available 256")
}

func TestEntropyMalformedAndMissing(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "entropy", fixtureHost("entropy/malformed")), 1, false, collect.State{})
	if err == nil || len(got) != 0 {
		t.Errorf("empty entropy_avail: %v, %v; want nothing and an error", got, err)
	}
	for _, bad := range []string{"x\n", "-1\n", "12 13\n"} {
		h := tempHost(t, map[string]string{"proc/sys/kernel/random/entropy_avail": bad})
		if got, _, err := collectOnce(t, newByName(t, "entropy", h), 1, false, collect.State{}); err == nil || len(got) != 0 {
			t.Errorf("%q: %v, %v; want nothing and an error", bad, got, err)
		}
	}
	_, _, err = collectOnce(t, newByName(t, "entropy", tempHost(t, nil)), 1, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

func BenchmarkCollectEntropy(b *testing.B) { benchCollectSteady(b, "entropy", fixtureHost("e2e/t1")) }
func BenchmarkReadEntropy(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("sys/kernel/random/entropy_avail"))
}
