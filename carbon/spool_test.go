// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func drainSpool(t *testing.T, sp *Spool) []string {
	t.Helper()
	var got []string
	for {
		b, n, ok := sp.Next()
		if !ok {
			return got
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		if len(lines) != n {
			t.Fatalf("record says %d lines, holds %d", n, len(lines))
		}
		got = append(got, lines...)
		sp.Consume()
	}
}

func TestSpoolAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	sp, err := OpenSpool(dir, 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := sp.Append(lines(i*10, 10), 10); err != nil {
			t.Fatal(err)
		}
	}
	if sp.Lines() != 100 {
		t.Fatalf("Lines = %d", sp.Lines())
	}
	// Read half, "crash", reopen: everything not consumed comes back (the
	// half already read may come again: duplicates are harmless).
	for i := 0; i < 5; i++ {
		sp.Next()
		sp.Consume()
	}
	sp.Close()
	sp2, err := OpenSpool(dir, 1<<20, quiet())
	if err != nil {
		t.Fatal(err)
	}
	got := drainSpool(t, sp2)
	if len(got) < 50 || got[len(got)-1] != "test.m 99 100" {
		t.Fatalf("after reopen: %d lines, last %q", len(got), got[len(got)-1])
	}
	if sp2.Lines() != 0 {
		t.Fatalf("Lines after drain = %d", sp2.Lines())
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "seg-*")); len(segs) != 0 {
		t.Fatalf("drained spool left %d segment files", len(segs))
	}
}

// A process killed mid-write leaves a torn record: it is skipped, never
// replayed as garbage, and the whole records before it are kept.
func TestSpoolTornTail(t *testing.T) {
	dir := t.TempDir()
	sp, _ := OpenSpool(dir, 1<<20, quiet())
	sp.Append(lines(0, 3), 3)
	sp.Append(lines(3, 3), 3)
	sp.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	st, _ := os.Stat(segs[0])
	os.Truncate(segs[0], st.Size()-7) // the second record loses its end
	sp2, _ := OpenSpool(dir, 1<<20, quiet())
	if got := drainSpool(t, sp2); len(got) != 3 || got[2] != "test.m 2 100" {
		t.Fatalf("got %q, want the 3 lines of the whole record", got)
	}
	sp2.Close()
	// A flipped byte inside a record: the checksum catches it.
	sp3, _ := OpenSpool(dir, 1<<20, quiet())
	sp3.Append(lines(0, 3), 3)
	sp3.Close()
	segs, _ = filepath.Glob(filepath.Join(dir, "seg-*"))
	b, _ := os.ReadFile(segs[len(segs)-1])
	b[recHeader+3] ^= 0xff
	os.WriteFile(segs[len(segs)-1], b, 0o600)
	sp4, _ := OpenSpool(dir, 1<<20, quiet())
	if got := drainSpool(t, sp4); len(got) != 0 {
		t.Fatalf("corrupt record replayed: %q", got)
	}
}

func TestSpoolFullDropsOldestCounted(t *testing.T) {
	sp, _ := OpenSpool(t.TempDir(), 100<<10, quiet()) // 64 KiB segments, 170 KB written
	for i := 0; i < 100; i++ {
		sp.Append(lines(i*100, 100), 100) // about 1.6 KB each
	}
	on := sp.Lines()
	if sp.Dropped() == 0 || uint64(on)+sp.Dropped() != 10000 {
		t.Fatalf("kept %d + dropped %d, want 10000 in all, some dropped", on, sp.Dropped())
	}
	got := drainSpool(t, sp)
	if len(got) != on || got[len(got)-1] != "test.m 9999 100" {
		t.Fatalf("drained %d (want %d), newest kept: %q", len(got), on, got[len(got)-1])
	}
}

// Carbon down longer than the memory queue holds: the overflow goes to the
// spool, and once Carbon is back every line arrives.
func TestSenderSpoolsOutageAndReplays(t *testing.T) {
	addr := freeAddr(t)
	sp, _ := OpenSpool(t.TempDir(), 64<<20, quiet())
	s := start(t, Config{Addr: addr, QueueLines: 500, Spool: sp})
	for i := 0; i < 50; i++ {
		s.Enqueue(lines(i*100, 100), 100)
	}
	if st := s.Stats(); st.Spooled < 4000 || st.Dropped != 0 {
		t.Fatalf("during the outage: %+v", st)
	}
	srv := listen(t, addr)
	got := waitLines(t, srv, 5000)
	seen := map[string]bool{}
	for _, l := range got {
		seen[l] = true
	}
	for i := 0; i < 5000; i++ {
		if !seen[fmt.Sprintf("test.m %d 100", i)] {
			t.Fatalf("line %d lost", i)
		}
	}
}

// SIGTERM with Carbon down: Flush spools the queue, and the next run
// delivers it, each line once. The first run stops as the agent stops it
// (Flush, end Run and wait for it, close the spool): a Run left going
// would still send what it had taken once the listener below is up.
func TestFlushSpoolsForNextRun(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	sp, _ := OpenSpool(dir, 64<<20, quiet())
	s := NewSender(Config{Addr: addr, Spool: sp, Logger: quiet(),
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(runCtx); close(done) }()
	s.Enqueue(lines(0, 300), 300)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush with a spool: %v", err)
	}
	stopRun()
	<-done
	sp.Close()
	srv := listen(t, addr)
	sp2, _ := OpenSpool(dir, 64<<20, quiet())
	start(t, Config{Addr: addr, Spool: sp2})
	got := waitLines(t, srv, 300)
	if got[299] != "test.m 299 100" {
		t.Fatalf("last line %q", got[299])
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would follow within a backoff
	if n := len(srv.got()); n != 300 {
		t.Fatalf("%d lines arrived, want each of 300 once", n)
	}
}

// FuzzSpoolSegment feeds arbitrary bytes as a segment file: the reader
// never panics and only ever returns checksummed whole-line records.
func FuzzSpoolSegment(f *testing.F) {
	dir := f.TempDir()
	sp, _ := OpenSpool(dir, 1<<20, quiet())
	sp.Append(lines(0, 2), 2)
	sp.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	good, _ := os.ReadFile(segs[0])
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Fuzz(func(t *testing.T, b []byte) {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, "seg-00000000000000000001.spool"), b, 0o600)
		sp, err := OpenSpool(d, 1<<20, quiet())
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		for {
			rec, n, ok := sp.Next()
			if !ok {
				break
			}
			if n <= 0 || len(rec) == 0 || rec[len(rec)-1] != '\n' {
				t.Fatalf("bad record %q (%d lines)", rec, n)
			}
			sp.Consume()
		}
	})
}
