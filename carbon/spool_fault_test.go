// SPDX-License-Identifier: Apache-2.0

package carbon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func mustOpen(t *testing.T, dir string, maxBytes int64, log *slog.Logger) *Spool {
	t.Helper()
	sp, err := OpenSpool(dir, maxBytes, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	return sp
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*"))
	return segs
}

// A restart after a drained spool sends nothing again, and the drained
// segments are gone; a restart mid-way resumes where the reader was.
func TestSpoolKeepsReadPosition(t *testing.T) {
	dir := t.TempDir()
	sp := mustOpen(t, dir, 1<<20, quiet())
	for i := 0; i < 10; i++ {
		sp.Append(lines(i*10, 10), 10)
	}
	for i := 0; i < 4; i++ {
		sp.Next()
	}
	sp.Consume()
	sp.Close()
	sp2 := mustOpen(t, dir, 1<<20, quiet())
	got := drainSpool(t, sp2)
	if len(got) != 60 || got[0] != "test.m 40 100" {
		t.Fatalf("after a restart at line 40: %d lines from %q, want 60 from line 40", len(got), got[0])
	}
	sp2.Close()
	sp3 := mustOpen(t, dir, 1<<20, quiet())
	if b, n, ok := sp3.Next(); ok || sp3.Lines() != 0 {
		t.Fatalf("a drained spool replayed %d lines (%q), Lines %d", n, b, sp3.Lines())
	}
	if segs := segFiles(t, dir); len(segs) != 0 {
		t.Fatalf("drained segments left: %v", segs)
	}
}

// Rewind sends again exactly what was not acknowledged, in order.
func TestSpoolRewindResendsUnacknowledged(t *testing.T) {
	sp := mustOpen(t, t.TempDir(), 1<<20, quiet())
	for i := 0; i < 5; i++ {
		sp.Append(lines(i*10, 10), 10)
	}
	sp.Next()
	_, _, end, _ := sp.next()
	sp.ackTo(end) // two batches acknowledged
	sp.Next()
	sp.Next() // two in flight
	if sp.Lines() != 30 || sp.Unsent() != 10 {
		t.Fatalf("Lines %d Unsent %d, want 30 and 10", sp.Lines(), sp.Unsent())
	}
	sp.Rewind()
	got := drainSpool(t, sp)
	if len(got) != 30 || got[0] != "test.m 20 100" {
		t.Fatalf("after rewind: %d lines from %q, want 30 from line 20", len(got), got[0])
	}
}

// One flipped byte anywhere loses only the record it is in, counted; the
// records after it in the same segment are read.
func TestSpoolFlippedByteLosesOneRecord(t *testing.T) {
	for _, at := range []struct {
		name string
		off  int // offset inside the second record
	}{{"payload", recHeader + 5}, {"length", 5}, {"magic", 0}, {"header checksum", 17}} {
		t.Run(at.name, func(t *testing.T) {
			dir := t.TempDir()
			sp := mustOpen(t, dir, 1<<20, quiet())
			for i := 0; i < 3; i++ {
				sp.Append(lines(i*4, 4), 4)
			}
			sp.Close()
			seg := segFiles(t, dir)[0]
			b, _ := os.ReadFile(seg)
			second := len(b) / 3 // three records of equal size
			b[second+at.off] ^= 0x5a
			os.WriteFile(seg, b, 0o600)
			sp2 := mustOpen(t, dir, 1<<20, quiet())
			got := drainSpool(t, sp2)
			want := "test.m 0 100,test.m 1 100,test.m 2 100,test.m 3 100,test.m 8 100,test.m 9 100,test.m 10 100,test.m 11 100"
			if strings.Join(got, ",") != want {
				t.Fatalf("got %q", got)
			}
			if sp2.Dropped() != 4 {
				t.Fatalf("Dropped = %d, want the 4 lines of the bad record", sp2.Dropped())
			}
		})
	}
}

// A torn tail (a kill mid-write) loses that record, counted, and the next
// run writes a segment of its own, so nothing lands behind it.
func TestSpoolTornTailCounted(t *testing.T) {
	dir := t.TempDir()
	sp := mustOpen(t, dir, 1<<20, quiet())
	sp.Append(lines(0, 3), 3)
	sp.Append(lines(3, 3), 3)
	sp.Close()
	seg := segFiles(t, dir)[0]
	st, _ := os.Stat(seg)
	os.Truncate(seg, st.Size()-7)
	sp2 := mustOpen(t, dir, 1<<20, quiet())
	if sp2.Dropped() != 3 || sp2.Lines() != 3 {
		t.Fatalf("Dropped %d Lines %d, want 3 and 3", sp2.Dropped(), sp2.Lines())
	}
	sp2.Append(lines(6, 3), 3)
	if got := drainSpool(t, sp2); strings.Join(got, ",") != "test.m 0 100,test.m 1 100,test.m 2 100,test.m 6 100,test.m 7 100,test.m 8 100" {
		t.Fatalf("got %q", got)
	}
}

// A FIFO (or any non-regular file) named like a segment does not block
// start-up: it is skipped and logged once.
func TestSpoolFIFOSegmentSkipped(t *testing.T) {
	dir := t.TempDir()
	sp := mustOpen(t, dir, 1<<20, quiet())
	sp.Append(lines(0, 2), 2)
	sp.Close()
	if err := syscall.Mkfifo(filepath.Join(dir, "seg-00000000000000000050.spool"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "seg-00000000000000000100.spool"), 0o700)
	var logs bytes.Buffer
	done := make(chan *Spool, 1)
	go func() {
		sp, err := OpenSpool(dir, 1<<20, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Error(err)
		}
		done <- sp
	}()
	select {
	case sp2 := <-done:
		defer sp2.Close()
		if got := drainSpool(t, sp2); len(got) != 2 {
			t.Fatalf("got %q", got)
		}
		// New segments are numbered after the names taken.
		if err := sp2.Append(lines(2, 2), 2); err != nil {
			t.Fatalf("append beside a FIFO segment: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a FIFO segment blocked OpenSpool")
	}
	if n := strings.Count(logs.String(), "not a regular file"); n != 2 {
		t.Fatalf("%d log lines for 2 non-regular files:\n%s", n, logs.String())
	}
}

// One agent per spool directory: a second one is refused at start.
func TestSpoolLocked(t *testing.T) {
	dir := t.TempDir()
	mustOpen(t, dir, 1<<20, quiet())
	if _, err := OpenSpool(dir, 1<<20, quiet()); !errors.Is(err, ErrSpoolLocked) {
		t.Fatalf("second open: %v, want ErrSpoolLocked", err)
	}
}

// tmpfs mounts a tmpfs of size bytes in a temp dir, unmounted at the end.
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (the tests run as root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A full disk (a 256 KiB tmpfs, a spool bound far above it): drained
// segments are freed first (nothing counted), then the OLDEST data goes,
// every line of it counted; what is kept is the newest, contiguous, with
// no torn record inside (a short write is cut back); a restart on the
// full disk works.
func TestSpoolFullDiskDropsOldest(t *testing.T) {
	dir := filepath.Join(tmpfs(t, "256k"), "spool")
	sp := mustOpen(t, dir, 256<<20, quiet())
	batch := func(i int) []byte { return lines(i*50, 50) } // about 1 KB
	i := 0
	// Fill about half of the disk, then deliver it all.
	for ; i < 100; i++ {
		if err := sp.Append(batch(i), 50); err != nil {
			t.Fatal(err)
		}
	}
	drainSpool(t, sp)
	// The disk fills up: the delivered data is freed first.
	for ; i < 250; i++ {
		sp.Append(batch(i), 50)
	}
	if sp.Dropped() != 0 {
		t.Fatalf("dropped %d lines while delivered segments could be freed", sp.Dropped())
	}
	// Far beyond the disk: the oldest go.
	for ; i < 1000; i++ {
		sp.Append(batch(i), 50)
	}
	total := (1000 - 100) * 50
	kept, dropped := sp.Lines(), int(sp.Dropped())
	if dropped == 0 || kept+dropped != total {
		t.Fatalf("kept %d + dropped %d, want %d in all, some dropped", kept, dropped, total)
	}
	// A restart on the full disk works, and finds the same lines.
	sp.Close()
	sp = mustOpen(t, dir, 256<<20, quiet())
	if sp.Lines() != kept {
		t.Fatalf("reopened on a full disk: %d lines, want %d", sp.Lines(), kept)
	}
	got := drainSpool(t, sp)
	if len(got) != kept {
		t.Fatalf("read %d lines, Lines said %d", len(got), kept)
	}
	first := 100*50 + dropped
	for k, l := range got {
		if want := fmt.Sprintf("test.m %d 100", first+k); l != want {
			t.Fatalf("line %d is %q, want %q: not the newest contiguous data", k, l, want)
		}
	}
	if sp.Dropped() != 0 {
		t.Fatalf("reading found %d lost lines (a torn record inside)", sp.Dropped())
	}
	t.Logf("256 KiB disk: %d lines kept, %d oldest dropped", kept, dropped)
}

// A read-only spool whose directory exists is refused at start, not found
// out when the data is already lost.
func TestSpoolReadOnlyRefused(t *testing.T) {
	mnt := tmpfs(t, "1m")
	os.Mkdir(filepath.Join(mnt, "spool"), 0o700)
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	if _, err := OpenSpool(filepath.Join(mnt, "spool"), 1<<20, quiet()); err == nil || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("read-only spool opened: %v", err)
	}
}

// With a spool every enqueued line is on disk at once, before any send;
// once delivered, what is left unacknowledged is the resend window only;
// an orderly Close acknowledges even that, so a restart sends nothing
// again and leaves no segment behind.
func TestSenderSpoolWriteAheadAndAck(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	sp := mustOpen(t, dir, 64<<20, quiet())
	cfg := Config{Addr: addr, Spool: sp, Logger: quiet(), BackoffMin: 20 * time.Millisecond, BackoffMax: 50 * time.Millisecond}
	s := NewSender(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	const batches, per = 1000, 100 // about 1.6 MB: more than the window
	for i := 0; i < batches; i++ {
		s.Enqueue(lines(i*per, per), per)
	}
	if st := s.Stats(); st.Spooled != batches*per || st.Dropped != 0 {
		t.Fatalf("Carbon down: %+v, want every line spooled at once", st)
	}
	srv := listen(t, addr)
	waitLines(t, srv, batches*per)
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := s.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	lineBytes := len(lines(0, per)) / per
	if left := sp.Lines(); left*lineBytes > 4*(128<<10)+len(lines(0, per)) {
		t.Fatalf("%d lines (%d bytes) unacknowledged after delivery: more than the window", left, left*lineBytes)
	}
	t.Logf("unacknowledged after delivery: %d lines", sp.Lines())
	s.Close(fctx)
	if left := sp.Lines(); left != 0 {
		t.Fatalf("%d lines unacknowledged after an orderly close", left)
	}
	cancel()
	<-done
	sp.Close()
	sp2 := mustOpen(t, dir, 64<<20, quiet())
	if n := sp2.Lines(); n != 0 {
		t.Fatalf("restart would send %d lines again", n)
	}
	if segs := segFiles(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after delivery: %v", segs)
	}
}

// BenchmarkEnqueueSpool is BenchmarkEnqueue with the write-ahead spool:
// the cost a cycle pays to have its lines on disk (page cache) at once.
func BenchmarkEnqueueSpool(b *testing.B) {
	sp, err := OpenSpool(b.TempDir(), 64<<20, quiet())
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	s := NewSender(Config{Addr: "127.0.0.1:1", Spool: sp, Logger: quiet()})
	batch := lines(0, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for i := 0; i < b.N; i++ {
		s.Enqueue(batch, 100)
	}
}

// BenchmarkDeliver: batches of 1000 lines enqueued and delivered to a
// local listener that discards them, from memory and through the spool.
func BenchmarkDeliver(b *testing.B) {
	for _, spooled := range []bool{false, true} {
		name := "memory"
		if spooled {
			name = "spool"
		}
		b.Run(name, func(b *testing.B) {
			ln := serveTCP(b, func(c net.Conn) {
				go func() { io.Copy(io.Discard, c); c.Close() }()
			})
			cfg := Config{Addr: ln.Addr().String(), QueueLines: 1 << 30, Logger: quiet()}
			if spooled {
				sp, err := OpenSpool(b.TempDir(), 1<<30, quiet())
				if err != nil {
					b.Fatal(err)
				}
				defer sp.Close()
				cfg.Spool = sp
			}
			s := NewSender(cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go s.Run(ctx)
			batch := lines(0, 1000)
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Enqueue(batch, 1000)
			}
			if err := s.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
