// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseSockstat(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string // sockstat, then optionally sockstat6
		want    map[string]uint64
		wantErr bool
	}{
		{name: "full", in: []string{
			"sockets: used 33\nTCP: inuse 1 orphan 2 tw 24 alloc 3 mem 101\nUDP: inuse 4 mem 5\nUDPLITE: inuse 9\nRAW: inuse 9\nFRAG: inuse 9 memory 9\n",
			"TCP6: inuse 10\nUDP6: inuse 20\nUDPLITE6: inuse 9\nRAW6: inuse 9\nFRAG6: inuse 9 memory 9\n"},
			want: map[string]uint64{"sockets.used": 33, "sockets.tcp_inuse": 11, "sockets.tcp_orphan": 2,
				"sockets.tcp_tw": 24, "sockets.tcp_alloc": 3, "sockets.tcp_mem": 101,
				"sockets.udp_inuse": 24, "sockets.udp_mem": 5}},
		{name: "only IPv6 lines seen", in: []string{"", "TCP6: inuse 7"},
			want: map[string]uint64{"sockets.tcp_inuse": 7}},
		{name: "unknown keys and labels ignored", in: []string{"TCP: inuse 1 future 8\nUDPLITE: inuse 3\nsockets: total 4\n"},
			want: map[string]uint64{"sockets.tcp_inuse": 1}},
		{name: "bad value", in: []string{"TCP: inuse x orphan 2\n"},
			want: map[string]uint64{"sockets.tcp_orphan": 2}, wantErr: true},
		{name: "key without value", in: []string{"UDP: inuse 1 mem\n"},
			want: map[string]uint64{"sockets.udp_inuse": 1}, wantErr: true},
		{name: "sum overflows", in: []string{"TCP: inuse 18446744073709551615\n", "TCP6: inuse 1\n"},
			want: map[string]uint64{"sockets.tcp_inuse": 18446744073709551615}, wantErr: true},
	} {
		var v sockValues
		var err error
		for _, in := range tc.in {
			if e := parseSockstat([]byte(in), &v); e != nil {
				err = e
			}
		}
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error = %v, want error %v", tc.name, err, tc.wantErr)
		}
		got := map[string]uint64{}
		for i, p := range sockPaths {
			if v.have[i] {
				got[p] = v.n[i]
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			continue
		}
		for k, w := range tc.want {
			if got[k] != w {
				t.Errorf("%s: %s = %d, want %d", tc.name, k, got[k], w)
			}
		}
	}
}

func TestSocketsCollectReal(t *testing.T) {
	for _, raw := range []bool{false, true} { // gauges only: same in both modes
		got, _, err := collectOnce(t, newByName(t, "sockets", fixtureHost("sockets/real")), 1000, raw, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		wantLines(t, got, "sockets.used 33", "sockets.tcp_inuse 2", "sockets.tcp_orphan 0", "sockets.tcp_tw 40",
			"sockets.tcp_alloc 2", "sockets.tcp_mem 101", "sockets.udp_inuse 0", "sockets.udp_mem 0")
	}
}

// IPv6 disabled: no sockstat6, no error, IPv4 counts only.
func TestSocketsNoIPv6(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "sockets", fixtureHost("sockets/noipv6")), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "sockets.used 112", "sockets.tcp_inuse 9", "sockets.tcp_orphan 1", "sockets.tcp_tw 30",
		"sockets.tcp_alloc 12", "sockets.tcp_mem 4", "sockets.udp_inuse 3", "sockets.udp_mem 2")
}

// The host's namespace (<procfs>/1/net) wins over <procfs>/net, and
// sockstat6 comes from the same directory even when only <procfs>/net has
// one (that would be the reader's own namespace).
func TestSocketsHostNamespace(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/1/net/sockstat": "sockets: used 5\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 1\n",
		"proc/net/sockstat":   "sockets: used 99\nTCP: inuse 99 orphan 0 tw 0 alloc 1 mem 1\n",
		"proc/net/sockstat6":  "TCP6: inuse 50\n",
	})
	got, _, err := collectOnce(t, newByName(t, "sockets", h), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "sockets.used 5", "sockets.tcp_inuse 1", "sockets.tcp_orphan 0", "sockets.tcp_tw 0",
		"sockets.tcp_alloc 1", "sockets.tcp_mem 1")
}

func TestSocketsMissing(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/net/sockstat6": "TCP6: inuse 1\n"})
	got, _, err := collectOnce(t, newByName(t, "sockets", h), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) || len(got) != 0 {
		t.Fatalf("got %v, err %v; want nothing and fs.ErrNotExist", got, err)
	}
}

func TestSocketsMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/sockstat":  "sockets: used 4\nTCP: inuse -3 orphan 0\n",
		"proc/net/sockstat6": "TCP6: inuse zz\n",
	})
	got, _, err := collectOnce(t, newByName(t, "sockets", h), 1000, false, collect.State{})
	if err == nil || !strings.Contains(err.Error(), "sockstat: line 2") || !strings.Contains(err.Error(), "sockstat6: line 1") {
		t.Fatalf("err = %v, want errors naming sockstat line 2 and sockstat6 line 1", err)
	}
	wantLines(t, got, "sockets.used 4", "sockets.tcp_orphan 0")
}

func FuzzParseSockstat(f *testing.F) {
	f.Add([]byte("sockets: used 33\nTCP: inuse 1 orphan 0 tw 24 alloc 1 mem 101\nUDP: inuse 0 mem 0\n"))
	f.Add([]byte("TCP6: inuse 0\nUDP6: inuse 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v sockValues
		parseSockstat(b, &v)
		for i := range sockPaths {
			if !v.have[i] && v.n[i] != 0 {
				t.Fatalf("%s has a value but is not marked present", sockPaths[i])
			}
		}
		// Parsing the same file twice doubles the counts (sockstat + sockstat6 sum).
		var w sockValues
		parseSockstat(b, &w)
		parseSockstat(b, &w)
		for i := range sockPaths {
			if v.n[i] <= 1<<62 && w.n[i] != 2*v.n[i] {
				t.Fatalf("%s: twice = %d, once = %d", sockPaths[i], w.n[i], v.n[i])
			}
		}
	})
}

func BenchmarkCollectSockets(b *testing.B) {
	benchCollectSteady(b, "sockets", fixtureHost("sockets/real"))
}

func BenchmarkReadSockets(b *testing.B) {
	h := fixtureHost("sockets/real")
	benchReadSteady(b, h.NetPath("sockstat"), h.NetPath("sockstat6"))
}
