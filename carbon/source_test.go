// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/ratelog"
)

// A batch the Run goroutine took is waiting until it is written or
// released, every instant: Flush returns when nothing is waiting, and
// Close then expects Run idle. A moment where a taken batch was not
// counted (the spool's source had two: after next, and after release
// until the rewind) let a --once run's Flush return while its last batch
// was being written; Close found Run busy and skipped the orderly close,
// and the delivered lines stayed in the spool for the next run to send
// again (TestOnceSemantics: "56 lines still in the spool"). A poller
// reads waiting while one batch is taken and released over and over.
func TestWaitingCountsTakenBatch(t *testing.T) {
	sources := []struct {
		name string
		src  source
	}{
		{"memory", &memSource{limit: 1000}},
		{"spool", &spoolSource{sp: mustOpen(t, t.TempDir(), 64<<20, quiet()), fails: ratelog.New(quiet(), time.Minute, "")}},
	}
	for _, tc := range sources {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			src.push(lines(0, 10), 10)
			stop, seen, polling := make(chan struct{}), make(chan map[int]int), make(chan struct{})
			go func() {
				got := map[int]int{src.waiting(): 1}
				close(polling)
				for {
					select {
					case <-stop:
						seen <- got
						return
					default:
						got[src.waiting()]++
					}
				}
			}()
			// The loop can be over before a poller not yet running
			// reads anything (seen: map[]).
			<-polling
			for i := 0; i < 20000; i++ {
				b, ok := src.next()
				if !ok {
					t.Fatal("the batch released is not taken again")
				}
				src.release(b)
			}
			close(stop)
			if got := <-seen; len(got) != 1 || got[10] == 0 {
				t.Fatalf("waiting read (value: times) %v, want 10 every time", got)
			}
		})
	}
}
