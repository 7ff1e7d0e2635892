// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"syscall"
	"testing"
)

// A file printed a record at a time (a seq_file iterator) comes a page at
// a time whatever the buffer: the floor reads it to its end, where a short
// read would have stopped after the first page.
func TestReadsRecordFilesToTheEnd(t *testing.T) {
	const path = "/proc/self/net/unix" // one record per unix socket
	for len(mustRead(t, path)) < 3*4096 {
		// Enough listening sockets that the file spans several pages.
		fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(fd) })
	}
	want := len(mustRead(t, path)) // other processes' sockets come and go: compare in pages
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	f := &floor{}
	for _, pieces := range []bool{false, true} {
		x := file{fd: fd, size: 4 * want, pieces: pieces}
		got := f.read(&x)
		if pieces && got < 2*4096 {
			t.Errorf("read %d bytes of a file of %d", got, want)
		}
		if !pieces && got > 4096 {
			t.Errorf("one read got %d bytes, more than a page: the test proves nothing", got)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
