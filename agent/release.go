// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"runtime/debug"
	"runtime/metrics"
)

// releaser gives the heap's free pages back to the system after a cycle
// that allocated more than a quarter of the live heap (what GOGC lets it
// grow by before a collection) and at least minRelease: the start-up (the first
// discovery reads every process and walks every cgroup: ~17 MB allocated
// at 1000 containers, for a live heap of 3.6 MB), a full services pass, a
// burst of new containers. A cycle of a steady host allocates next to
// nothing (its lines go into buffers the sender gives back), so after such
// a burst no garbage collection may come for minutes, and the runtime's
// scavenger does not return free pages in chunks it sees as densely used:
// measured at 1000 containers, 1.3 MB of free heap pages stayed resident
// for good. debug.FreeOSMemory costs one forced collection, only after
// those cycles.
type releaser struct {
	s    [2]metrics.Sample // read without allocating: set up once
	last uint64            // bytes allocated up to the previous check
}

// minRelease: a smaller burst is not worth a forced collection.
const minRelease = 1 << 20

func newReleaser() *releaser {
	r := &releaser{}
	r.s[0].Name = "/gc/heap/allocs:bytes"
	r.s[1].Name = "/gc/heap/live:bytes"
	return r
}

// after is called after each cycle; it reports whether it released.
func (r *releaser) after() bool {
	metrics.Read(r.s[:])
	allocs, live := r.s[0].Value.Uint64(), r.s[1].Value.Uint64()
	n := allocs - r.last
	r.last = allocs
	if n < max(live/4, minRelease) {
		return false
	}
	debug.FreeOSMemory()
	return true
}
