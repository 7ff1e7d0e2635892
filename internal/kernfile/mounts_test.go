// SPDX-License-Identifier: Apache-2.0

package kernfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nodemetrics/nodemetrics/internal/mounttest"
	"golang.org/x/sys/unix"
)

// The kernel flags a change of the mount table to a poll of the kept-open
// file (a mount, a remount, an unmount), once per change; a fixture file
// (not procfs) always reads as changed.
func TestMountsChanged(t *testing.T) {
	dir := t.TempDir()
	mounttest.InPrivateNS(t, func() {
		var buf Buf
		k := File{Path: "/proc/thread-self/mountinfo"}
		if k.MountsChanged() != true {
			t.Error("a table never read: not changed, want changed")
		}
		if _, err := buf.ReadFile(&k); err != nil {
			t.Error(err)
			return
		}
		defer k.Close()
		step := func(what string, want bool, do func() error) {
			t.Helper()
			if do != nil {
				if err := do(); err != nil {
					t.Errorf("%s: %v", what, err)
					return
				}
			}
			if got := k.MountsChanged(); got != want {
				t.Errorf("%s: changed %v, want %v", what, got, want)
			}
		}
		step("after the first read", false, nil)
		step("a mount", true, func() error { return unix.Mount("nmtest", dir, "tmpfs", 0, "size=1m") })
		step("polled again", false, nil)
		step("a remount", true, func() error { return unix.Mount("", dir, "", unix.MS_REMOUNT, "size=2m") })
		step("an unmount", true, func() error { return unix.Unmount(dir, 0) })
		step("nothing", false, nil)
	})

	fixture := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(fixture, []byte("26 1 254:1 / / rw - ext4 /dev/vda1 rw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf Buf
	k := File{Path: fixture}
	if _, err := buf.ReadFile(&k); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if !k.MountsChanged() {
			t.Errorf("a fixture file, call %d: not changed, want changed at every call (it is read again)", i+1)
		}
	}
}
