// SPDX-License-Identifier: Apache-2.0

package collectors

import "testing"

func TestEntropyCollect(t *testing.T) {
	got, _, err := collect(t, newByName(t, "entropy", tempHost(t, map[string]string{"proc/sys/kernel/random/entropy_avail": "256\n"})), 1, false, State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "entropy.available 256")
	if _, _, err := collect(t, newByName(t, "entropy", tempHost(t, map[string]string{"proc/sys/kernel/random/entropy_avail": "x\n"})), 1, false, State{}); err == nil {
		t.Fatal("malformed entropy_avail accepted")
	}
}

func BenchmarkCollectEntropy(b *testing.B) { benchCollectSteady(b, "entropy", fixtureHost("e2e/t1")) }
func BenchmarkReadEntropy(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("sys/kernel/random/entropy_avail"))
}
