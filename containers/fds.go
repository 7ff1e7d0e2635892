// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"sync"
	"sync/atomic"
	"syscall"
)

// fdBudget is how many descriptors the containers' kept-open files may
// hold. The open-file limit is the process's, so the budget is too: every
// collector of the process (tests run several) takes from the same one.
type fdBudget struct {
	once sync.Once
	left atomic.Int64
}

// processFDs is the budget of this process.
var processFDs fdBudget

// take reserves n descriptors; false when the budget has not that many.
func (b *fdBudget) take(n int) bool {
	b.once.Do(func() { b.left.Store(int64(keepLimit())) })
	if b.left.Add(-int64(n)) >= 0 {
		return true
	}
	b.left.Add(int64(n))
	return false
}

// give returns n descriptors taken before.
func (b *fdBudget) give(n int) { b.left.Add(int64(n)) }

// keepLimit is what the containers' kept-open files may use of the
// open-file limit (Go raises the soft limit to the hard one at start-up):
// all but an eighth of it, at least 2048, which stays for the agent's
// other descriptors (sockets, host files, the services collector's
// probes). 1000 containers keep about 15000 open on a hybrid cgroup v1
// host (14 cgroup files and the /proc directory of a process; its net/dev
// when the container has a network namespace of its own): the units set
// LimitNOFILE=65536.
func keepLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<30 {
		return 1 << 20
	}
	n := int(rl.Cur)
	return max(0, n-max(2048, n/8))
}
