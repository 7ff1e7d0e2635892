// SPDX-License-Identifier: Apache-2.0

package services

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func FuzzStubStatus(f *testing.F) {
	f.Add(readFixture(f, "stub_status.txt"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := parseStubStatus(b); err == nil {
			s.points()
		}
	})
}

func FuzzRedisInfo(f *testing.F) {
	f.Add(readFixture(f, "redis_info.txt"))
	f.Add([]byte("# Keyspace\r\ndb0:keys=1,expires=0\r\ndb1:keys\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if info, err := parseRedisInfo(b); err == nil {
			info.points(time.Unix(0, 0))
		}
	})
}

func FuzzMemcachedStats(f *testing.F) {
	f.Add(readFixture(f, "memcached_stats.txt"))
	f.Fuzz(func(t *testing.T, b []byte) { parseMemcachedStats(b) })
}

func FuzzNginxConf(f *testing.F) {
	f.Add([]byte(`http { server { listen 8080; location = /st { stub_status; } } }`))
	f.Fuzz(func(t *testing.T, b []byte) { findStubStatus(tokenizeNginx(b)) })
}

// FuzzSockTables: /proc/<pid>/net/tcp, tcp6 and unix of a hostile or
// truncated /proc: an error or a table, never a panic.
func FuzzSockTables(f *testing.F) {
	f.Add(readFixture(f, "proc/net/tcp"), readFixture(f, "proc/net/unix"))
	f.Fuzz(func(t *testing.T, tcp, unix []byte) {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "net"), 0o755)
		os.WriteFile(filepath.Join(dir, "net", "tcp"), tcp, 0o644)
		os.WriteFile(filepath.Join(dir, "net", "unix"), unix, 0o644)
		if tab, err := readSockTable(dir); err == nil {
			for _, l := range tab.tcp {
				dialAddr(l)
			}
		}
	})
}
