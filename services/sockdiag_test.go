// SPDX-License-Identifier: Apache-2.0

package services

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sock_diag and the <procfs>/<pid>/net files give the same listening
// sockets of a namespace: TCP on IPv4 and IPv6, unix sockets on a path
// (an abstract one, a connected pair and an established TCP connection are
// not listeners).
func TestSockDiagMatchesFiles(t *testing.T) {
	name, nsPath := testNetns(t)
	listen := func(network, addr string) net.Listener {
		t.Helper()
		c, err := inNetns(nsPath, "listen", func() (io.Closer, error) { return net.Listen(network, addr) })
		if err != nil {
			t.Fatalf("listen %s %s: %v", network, addr, err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(net.Listener)
	}
	l4 := listen("tcp", "127.0.0.1:0")
	listen("tcp4", "0.0.0.0:6390")
	l6 := listen("tcp6", "[::1]:0")
	sock := filepath.Join(t.TempDir(), "svc.sock")
	listen("unix", sock)
	listen("unix", "@nmsvc-abstract")
	// An established connection in the namespace.
	go func() {
		if c, err := l4.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	conn, err := DialNetns(t.Context(), nsPath, "tcp", l4.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// A process in the namespace, for the files.
	sleeper := exec.Command("ip", "netns", "exec", name, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	dir := fmt.Sprintf("/proc/%d", sleeper.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for !sameFile(dir+"/ns/net", nsPath) {
		if time.Now().After(deadline) {
			t.Fatal("the sleeper never entered the namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}

	files, err := readSockTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	diag, err := newSockTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	diag.diag, diag.nsPath = true, nsPath
	if err := diag.resolve([]uint64{0}); err != nil {
		t.Fatal(err)
	}
	if diag.sock == nil || !diag.diag {
		t.Fatal("sock_diag was not used")
	}
	diag.sock.Close()

	show := func(tab *sockTable) string {
		var b []string
		for ino, l := range tab.tcp {
			b = append(b, fmt.Sprintf("tcp %d %s", ino, dialAddr(l)))
		}
		for ino, p := range tab.unix {
			b = append(b, fmt.Sprintf("unix %d %s", ino, p))
		}
		slices.Sort(b)
		return strings.Join(b, "\n")
	}
	got, want := show(diag), show(files)
	if got != want {
		t.Errorf("sock_diag:\n%s\nfiles:\n%s", got, want)
	}
	for _, w := range []string{dialAddr(tcpListener{ip: net.IPv4(127, 0, 0, 1), port: l4.Addr().(*net.TCPAddr).Port}),
		"127.0.0.1:6390", fmt.Sprintf("[::1]:%d", l6.Addr().(*net.TCPAddr).Port), sock} {
		if !strings.Contains(got, " "+w+"\n") && !strings.HasSuffix(got, " "+w) {
			t.Errorf("%s missing from\n%s", w, got)
		}
	}
	if n := len(diag.tcp) + len(diag.unix); n != 4 {
		t.Errorf("%d listeners, want 4:\n%s", n, got)
	}
}
