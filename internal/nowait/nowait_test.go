// SPDX-License-Identifier: Apache-2.0

package nowait

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The raw calls answer as package syscall's: the same values, errors that
// errors.Is recognises.
func TestStatStatfs(t *testing.T) {
	dir := t.TempDir()
	var got, want syscall.Stat_t
	if err := Stat(dir, &got); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(dir, &want); err != nil {
		t.Fatal(err)
	}
	if got.Ino != want.Ino || got.Dev != want.Dev || got.Mode != want.Mode {
		t.Errorf("Stat = ino %d dev %d mode %o, syscall.Stat = ino %d dev %d mode %o",
			got.Ino, got.Dev, got.Mode, want.Ino, want.Dev, want.Mode)
	}
	if err := Stat(filepath.Join(dir, "missing"), &got); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing path: %v, want not exist", err)
	}
	var fsGot, fsWant syscall.Statfs_t
	if err := Statfs(dir, &fsGot); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Statfs(dir, &fsWant); err != nil {
		t.Fatal(err)
	}
	if fsGot.Type != fsWant.Type || fsGot.Blocks != fsWant.Blocks || fsGot.Files != fsWant.Files {
		t.Errorf("Statfs = %+v, syscall.Statfs = %+v", fsGot, fsWant)
	}
}

func TestPreadRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 4)
	if n, err := Pread(int(f.Fd()), b, 3); err != nil || string(b[:n]) != "3456" {
		t.Errorf("Pread at 3 = %q, %v", b[:n], err)
	}
	if n, err := Read(int(f.Fd()), b); err != nil || string(b[:n]) != "0123" {
		t.Errorf("Read = %q, %v", b[:n], err)
	}
	if _, err := Pread(-1, b, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Pread of a bad descriptor: %v, want EBADF", err)
	}
}

// Peek and Write on a real loopback connection: nothing waiting, data
// waiting (not consumed), the peer's end of stream.
func TestPeekWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	fd := func(c net.Conn) int {
		rc, err := c.(syscall.Conn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		rc.Control(func(f uintptr) { n = int(f) })
		return n
	}
	if _, err := Peek(fd(c)); err != syscall.EAGAIN {
		t.Errorf("Peek with nothing sent: %v, want EAGAIN", err)
	}
	if n, err := Write(fd(s), []byte("ab")); n != 2 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	buf := make([]byte, 2)
	for {
		n, err := Peek(fd(c))
		if err == syscall.EAGAIN {
			continue // not arrived yet
		}
		if n != 1 || err != nil {
			t.Fatalf("Peek with data waiting = %d, %v", n, err)
		}
		break
	}
	if n, err := c.Read(buf); n != 2 || string(buf) != "ab" || err != nil {
		t.Errorf("the peeked data was consumed: read %q, %v", buf[:n], err)
	}
	s.Close()
	for {
		n, err := Peek(fd(c))
		if err == syscall.EAGAIN {
			continue
		}
		if n != 0 || err != nil {
			t.Errorf("Peek after the peer closed = %d, %v, want 0 (end of stream)", n, err)
		}
		break
	}
}
