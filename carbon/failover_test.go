// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"fmt"
	"testing"
	"time"
)

// Failover (Fallbacks): everything goes to the first destination while it
// accepts; when it dies, the next one takes the traffic and also gets the
// window the dead one never acknowledged (nothing lost); once the first is
// back and its backoff has passed, traffic returns to it.
func TestFailoverAndBack(t *testing.T) {
	a, b := listen(t, "127.0.0.1:0"), listen(t, "127.0.0.1:0")
	addrA := a.ln.Addr().String()
	s := start(t, Config{Addr: addrA, Fallbacks: []string{b.ln.Addr().String()}})
	next := 0
	send := func(n int) {
		for i := 0; i < n; i++ {
			s.Enqueue(lines(next, 10), 10)
			next += 10
			time.Sleep(2 * time.Millisecond)
		}
	}
	send(10)
	waitLines(t, a, 100)
	if n := len(b.got()); n != 0 {
		t.Fatalf("the fallback got %d lines while the first destination was up", n)
	}

	a.close() // the first destination dies
	send(20)
	// Every line not seen by the first is at the second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := map[string]bool{}
		for _, l := range append(a.got(), b.got()...) {
			seen[l] = true
		}
		missing := 0
		for i := 0; i < next; i++ {
			if !seen[fmt.Sprintf("test.m %d 100", i)] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines at neither destination after the first died", missing, next)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(b.got()) == 0 {
		t.Fatal("nothing failed over to the second destination")
	}

	a2 := listen(t, addrA) // back
	fromB := len(b.got())
	before := next
	deadline = time.Now().Add(10 * time.Second)
	for len(a2.got()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("traffic never returned to the first destination")
		}
		send(1)
	}
	// From now on, the first destination takes everything new.
	send(10)
	waitFor(t, func() bool {
		for _, l := range a2.got() {
			if l == fmt.Sprintf("test.m %d 100", next-1) {
				return true
			}
		}
		return false
	})
	t.Logf("%d lines before the return, %d at the fallback in all", before, len(b.got()))
	for _, l := range b.got()[fromB:] {
		var i int
		fmt.Sscanf(l, "test.m %d 100", &i)
		if i >= next-100 {
			t.Fatalf("line %d went to the fallback after the return", i)
		}
	}
	if st := s.Stats(); st.Dropped != 0 || st.Reconnects < 2 {
		t.Errorf("stats %+v", st)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
