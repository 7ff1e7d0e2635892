// SPDX-License-Identifier: Apache-2.0

package kernfile

import "github.com/nodemetrics/nodemetrics/internal/nowait"

// MountsChanged tells whether k, a procfs mount table (<pid>/mountinfo or
// <pid>/mounts) kept open by an earlier read, may have changed since the
// last call. The kernel flags every change to the table of the file's
// mount namespace (a mount, an unmount, a remount, a propagated mount) to
// poll(2) as POLLPRI, as `findmnt --poll` waits for; the poll that sees
// the flag clears it, and opening the file starts it clear. So a caller
// that reads the table when this is true, and keeps what it parsed
// otherwise, misses no change, and the table (hundreds of lines on a host
// running containers) costs a read and a parse per change, not per cycle.
//
// True when it cannot tell: the file is not open, it is not on procfs (a
// fixture tree, rewritten by a test between reads), or the poll failed.
func (k *File) MountsChanged() bool {
	if k.state != keptNoWait {
		return true
	}
	return nowait.PollPri(int(k.fd))
}
