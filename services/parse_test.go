// SPDX-License-Identifier: Apache-2.0

package services

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func byPath(pts []point) map[string]point {
	m := map[string]point{}
	for _, p := range pts {
		m[p.path] = p
	}
	return m
}

func TestStubStatus(t *testing.T) {
	s, err := parseStubStatus(readFixture(t, "stub_status.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := stubStatus{active: 2, accepts: 16630948, handled: 16630948, requests: 31070465, reading: 0, writing: 6, waiting: 179}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	m := byPath(s.points())
	if m["req_handled"].kind != counter || m["req_handled"].iv != 31070465 || m["active_connections"].iv != 2 {
		t.Fatalf("points: %+v", m)
	}
	if v := m["req_per_conn"].v; v < 1.86 || v > 1.87 {
		t.Fatalf("req_per_conn %v", v)
	}
	for _, bad := range []string{"", "Active connections: x\n", "Active connections: 1\nserver accepts handled requests\n 1 2\nReading: 0 Writing: 0 Waiting: 0\n",
		"<html>404</html>"} {
		if _, err := parseStubStatus([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestRedisInfo(t *testing.T) {
	info, err := parseRedisInfo(readFixture(t, "redis_info.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(info.points(time.Now()))
	for path, want := range map[string]float64{"db0.keys": 2, "db0.expires": 0, "replication.master": 1, "memory.used_percent": 0} {
		if p, ok := m[path]; !ok || p.v != want || p.kind != gauge {
			t.Errorf("%s = %+v (present %v), want %v", path, p, ok, want)
		}
	}
	for _, path := range []string{"clients.connected", "memory.internal_view", "process.commands_processed", "keyspace.hits", "last_save.time_since", "cpu.parent.user"} {
		if _, ok := m[path]; !ok {
			t.Errorf("%s missing", path)
		}
	}
	if _, err := parseRedisInfo([]byte("-NOAUTH Authentication required.\r\n")); err == nil {
		t.Error("an error line parsed as INFO")
	}
}

func TestMemcachedStats(t *testing.T) {
	pts, err := parseMemcachedStats(readFixture(t, "memcached_stats.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := byPath(pts)
	if p := m["curr_items"]; p.kind != gauge {
		t.Errorf("curr_items %+v", p)
	}
	if p := m["cmd_set"]; p.kind != counter {
		t.Errorf("cmd_set %+v", p)
	}
	if p := m["rusage_user"]; p.kind != usecs {
		t.Errorf("rusage_user %+v", p)
	}
	for _, ignored := range []string{"pid", "version", "time", "libevent"} {
		if _, ok := m[ignored]; ok {
			t.Errorf("%s published", ignored)
		}
	}
	if _, err := parseMemcachedStats([]byte("STAT pid 1\r\n")); err == nil {
		t.Error("stats without END parsed")
	}
	if _, err := parseMemcachedStats([]byte("ERROR\r\nEND\r\n")); err == nil {
		t.Error("ERROR parsed")
	}
}

func TestNginxConf(t *testing.T) {
	for _, tc := range []struct{ conf, addr, path string }{
		{`http { server { listen 8080; location /nginx_status { stub_status on; } } }`, "127.0.0.1:8080", "/nginx_status"},
		{`http { server { listen 127.0.0.2:81 default_server; location = /st { stub_status; allow 127.0.0.1; } } }`, "127.0.0.2:81", "/st"},
		{"# comment { \nhttp {\n server { location / { root x; } }\n server { listen [::]:82; location \"/s;x\" { stub_status; } } }", "[::1]:82", "/s;x"},
		{`http { server { location /a { location /a/b { stub_status; } } } }`, "127.0.0.1:80", "/a/b"},
		{`http { server { listen *:90; location ~ ^/st$ { stub_status; } location /ok { stub_status; } } }`, "127.0.0.1:90", "/ok"},
	} {
		loc, ok := findStubStatus(tokenizeNginx([]byte(tc.conf)))
		if !ok || loc.addr != tc.addr || loc.path != tc.path {
			t.Errorf("%s: got %+v %v, want %s %s", tc.conf, loc, ok, tc.addr, tc.path)
		}
	}
	for _, conf := range []string{"", "}}}", `server { listen 80; location / { root x; } }`, `location /x { stub_status; }`} {
		if loc, ok := findStubStatus(tokenizeNginx([]byte(conf))); ok {
			t.Errorf("%q: found %+v", conf, loc)
		}
	}
}

func TestSockTable(t *testing.T) {
	tab, err := readSockTable(filepath.Join("testdata", "proc"))
	if err != nil {
		t.Fatal(err)
	}
	if l := tab.tcp[1001]; l.port != 6379 || dialAddr(l) != "127.0.0.1:6379" {
		t.Errorf("1001: %+v", l)
	}
	if l := tab.tcp[1002]; l.port != 80 || !l.ip.IsLoopback() {
		t.Errorf("1002: %+v", l)
	}
	if _, ok := tab.tcp[1003]; ok {
		t.Error("an established connection counted as listening")
	}
	if l := tab.tcp[1004]; l.port != 11211 || dialAddr(l) != "[::1]:11211" {
		t.Errorf("1004: %+v %s", l, dialAddr(l))
	}
	if tab.unix[2001] != "/var/run/postgresql/.s.PGSQL.5432" || len(tab.unix) != 1 {
		t.Errorf("unix: %v", tab.unix)
	}
}

func TestWithTag(t *testing.T) {
	got := withTag(";container=web;host=h;image=nginx", "service", "nginx")
	if got != ";container=web;host=h;image=nginx;service=nginx" {
		t.Fatal(got)
	}
	if got := withTag(";container=a;zone=z", "service", "redis"); !strings.HasSuffix(got, ";service=redis;zone=z") {
		t.Fatal(got)
	}
}

// The containers are the same in any order; another id, node or tags, or
// one more, is a change (a discovery pass).
func TestSameContainers(t *testing.T) {
	a := []Container{{ID: "1", Node: "web", Tags: ";t=a"}, {ID: "2", Node: "db"}}
	for _, c := range []struct {
		b    []Container
		same bool
	}{
		{[]Container{{ID: "1", Node: "web", Tags: ";t=a"}, {ID: "2", Node: "db"}}, true},
		{[]Container{{ID: "2", Node: "db"}, {ID: "1", Node: "web", Tags: ";t=a"}}, true},
		{[]Container{{ID: "1", Node: "web", Tags: ";t=b"}, {ID: "2", Node: "db"}}, false},
		{[]Container{{ID: "1", Node: "web2", Tags: ";t=a"}, {ID: "2", Node: "db"}}, false},
		{[]Container{{ID: "3", Node: "web", Tags: ";t=a"}, {ID: "2", Node: "db"}}, false},
		{[]Container{{ID: "1", Node: "web", Tags: ";t=a"}}, false},
		{nil, false},
	} {
		if got := sameContainers(a, c.b); got != c.same {
			t.Errorf("%v against %v: same %v, want %v", a, c.b, got, c.same)
		}
	}
	if !sameContainers(nil, []Container{}) {
		t.Errorf("no containers, twice: a change")
	}
}
