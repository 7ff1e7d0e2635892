// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The daemon tells its supervisor READY=1 after its first cycle, through
// $NOTIFY_SOCKET (Type=notify units; nspawn --notify-ready=yes forwards it).
func TestDaemonNotifiesReady(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--output", "-", "--interval", "1s", "--hostname", "n", "--collectors", "loadavg"}, io.Discard, io.Discard)
	}()
	defer func() { cancel(); <-done }()
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 4096)
	var got []string
	for {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no READY=1 (got %q): %v", got, err)
		}
		got = append(got, string(buf[:n]))
		if strings.Contains(string(buf[:n]), "READY=1") {
			return
		}
	}
}
