// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A container root: its own /etc/shadow, and links that would leave it
// if they were resolved from the host's root.
func TestRootStaysInside(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc/nginx/conf.d"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "etc/shadow"), []byte("container shadow\n"), 0o600))
	must(os.Symlink("/etc/shadow", filepath.Join(dir, "etc/nginx/abs")))
	must(os.Symlink("../../../../../../../../etc/shadow", filepath.Join(dir, "etc/nginx/rel")))
	must(os.WriteFile(filepath.Join(dir, "etc/nginx/conf.d/b.conf"), []byte("b"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "etc/nginx/conf.d/a.conf"), []byte("a"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("x"), MaxFileBytes+1), 0o644))
	must(os.WriteFile(filepath.Join(dir, "max"), bytes.Repeat([]byte("x"), MaxFileBytes), 0o644))
	must(syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))

	r := NewRoot(dir)
	for _, name := range []string{"/etc/nginx/abs", "etc/nginx/rel", "/../../etc/shadow", "/etc/shadow"} {
		b, err := r.ReadFile(name)
		if err != nil || string(b) != "container shadow\n" {
			t.Errorf("%s: %q %v, want the container's shadow", name, b, err)
		}
	}
	if b, err := r.ReadFile("/max"); err != nil || len(b) != MaxFileBytes {
		t.Errorf("200 KB file: %d bytes, %v", len(b), err)
	}
	if _, err := r.ReadFile("/big"); err == nil || !strings.Contains(err.Error(), "larger than 200 KB") {
		t.Errorf("big file: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := r.ReadFile("/fifo"); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("fifo: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reading a FIFO hangs")
	}
	if _, err := r.ReadFile("/etc/missing"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	got, err := r.Glob("/etc/nginx/conf.d/*.conf")
	if err != nil || strings.Join(got, ",") != "/etc/nginx/conf.d/a.conf,/etc/nginx/conf.d/b.conf" {
		t.Errorf("glob: %v %v", got, err)
	}
}

// Magic links (/proc/<pid>/root and friends) are refused inside a root.
func TestRootRefusesMagicLinks(t *testing.T) {
	r := NewRoot("/proc/self")
	if _, err := r.ReadFile("root/etc/hostname"); err == nil {
		t.Fatal("a magic link was followed")
	}
}
