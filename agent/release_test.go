// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"runtime/metrics"
	"testing"
)

var sink [][]byte

// heapFree is the heap's free pages not yet returned to the system.
func heapFree() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// A cycle that allocated a lot (start-up) is followed by a release of
// the free pages; a quiet one is not.
func TestReleaseAfterABurst(t *testing.T) {
	r := newReleaser()
	r.after() // counts everything allocated so far
	for range 64 {
		sink = append(sink, make([]byte, 64<<10)) // 4 MB, over minRelease and a quarter of this test's heap
	}
	sink = nil
	if !r.after() {
		t.Fatal("no release after a cycle that allocated 4 MB")
	}
	if f := heapFree(); f > 1<<20 {
		t.Errorf("%d bytes of free heap pages kept after the release", f)
	}
	if r.after() {
		t.Error("released again after a cycle that allocated nothing")
	}
}
