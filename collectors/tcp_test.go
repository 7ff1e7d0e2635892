// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestParseHeaderValues(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		prefix  string
		want    string // "name=value ..." in column order
		wantErr string // substring of the error, "" for none
	}{
		{name: "snmp Tcp", prefix: "Tcp:",
			in:   "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm MaxConn CurrEstab\nTcp: 1 -1 7\nUdp: InDatagrams\nUdp: 3\n",
			want: "RtoAlgorithm=1 MaxConn=-1 CurrEstab=7"},
		{name: "first pair only", prefix: "Tcp:",
			in: "Tcp: A B\nTcp: 1 2\nTcp: A B\nTcp: 3 4\n", want: "A=1 B=2"},
		{name: "prefix is exact: MPTcpExt and Tcp: are not TcpExt:", prefix: "TcpExt:",
			in: "MPTcpExt: X\nMPTcpExt: 9\nTcpExt: TW ListenDrops\nTcpExt: 82 3", want: "TW=82 ListenDrops=3"},
		{name: "tabs and repeated spaces", prefix: "Tcp:", in: "Tcp:\tA  B\nTcp: 1\t\t2\n", want: "A=1 B=2"},
		{name: "header only, empty columns", prefix: "Tcp:", in: "Tcp:\nTcp:\n", want: ""},
		{name: "no such line", prefix: "Tcp:", in: "Ip: A\nIp: 1\n", wantErr: `no "Tcp:" line`},
		{name: "empty input", prefix: "Tcp:", in: "", wantErr: `no "Tcp:" line`},
		{name: "header is last line", prefix: "Tcp:", in: "Ip: A\nIp: 1\nTcp: A B\n", wantErr: "line 3: \"Tcp:\" header without a value line"},
		{name: "header at EOF without newline", prefix: "Tcp:", in: "Tcp: A B", wantErr: "without a value line"},
		{name: "value line with another label", prefix: "Tcp:", in: "Tcp: A B\nUdp: 1 2\n", wantErr: "without a value line"},
		{name: "fewer values", prefix: "Tcp:", in: "Tcp: A B C\nTcp: 1 2\n", want: "A=1 B=2", wantErr: "line 2: \"Tcp:\": 3 names, 2 values"},
		{name: "more values", prefix: "Tcp:", in: "Tcp: A\nTcp: 1 2\n", want: "A=1", wantErr: "1 names, 2 values"},
		{name: "bad value skipped", prefix: "Tcp:", in: "Tcp: A B C\nTcp: 1 x 3\n", want: "A=1 C=3", wantErr: `line 2: B: bad value "x"`},
		{name: "int64 bounds", prefix: "Tcp:", in: "Tcp: A B C\nTcp: 9223372036854775807 -9223372036854775808 9223372036854775808\n",
			want: "A=9223372036854775807 B=-9223372036854775808", wantErr: "C: bad value"},
	} {
		var got []string
		err := parseHeaderValues([]byte(tc.in), tc.prefix, func(name []byte, v int64) {
			got = append(got, fmt.Sprintf("%s=%d", name, v))
		})
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, g, tc.want)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

// Two real captures of kernel 6.18 (~5 s apart, loopback HTTP traffic and
// refused connections in between), collected as if 60 s apart. TCPLoss and
// TCPForwardRetrans no longer exist on this kernel; TCPLossProbes,
// TCPLossUndo, TCPLossFailures, InCsumErrors and MaxConn are not published.
func TestTCPRatesReal(t *testing.T) {
	got, st, err := collectOnce(t, newByName(t, "tcp", fixtureHost("tcp/t0")), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "tcp.CurrEstab 0") // gauges need no previous sample
	got, _, err = collectOnce(t, newByName(t, "tcp", fixtureHost("tcp/t1")), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"tcp.ListenOverflows 0", "tcp.ListenDrops 0", "tcp.TCPLostRetransmit 0", "tcp.TCPFastRetrans 0",
		"tcp.TCPSlowStartRetrans 0", "tcp.TCPTimeouts 0", "tcp.TCPAbortOnMemory 0", "tcp.TCPBacklogDrop 0",
		"tcp.ActiveOpens 1", "tcp.PassiveOpens 0.6666666666666666", "tcp.AttemptFails 0.3333333333333333",
		"tcp.EstabResets 0", "tcp.CurrEstab 0", "tcp.InErrs 0")
}

func TestTCPRawReal(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "tcp", fixtureHost("tcp/t0")), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"tcp.ListenOverflows 0", "tcp.ListenDrops 0", "tcp.TCPLostRetransmit 0", "tcp.TCPFastRetrans 0",
		"tcp.TCPSlowStartRetrans 0", "tcp.TCPTimeouts 2", "tcp.TCPAbortOnMemory 0", "tcp.TCPBacklogDrop 0",
		"tcp.ActiveOpens 259", "tcp.PassiveOpens 76", "tcp.AttemptFails 169", "tcp.EstabResets 3",
		"tcp.CurrEstab 0", "tcp.InErrs 0")
}

// An old kernel still has TCPLoss and TCPForwardRetrans: all 16 names.
// Its TCPLossUndo (40) and TCPLossFailures (45) must not appear.
func TestTCPOldKernelRaw(t *testing.T) {
	got, _, err := collectOnce(t, newByName(t, "tcp", fixtureHost("tcp/oldkernel")), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got,
		"tcp.ListenOverflows 20", "tcp.ListenDrops 21", "tcp.TCPLoss 41", "tcp.TCPLostRetransmit 42",
		"tcp.TCPFastRetrans 46", "tcp.TCPForwardRetrans 47", "tcp.TCPSlowStartRetrans 48", "tcp.TCPTimeouts 49",
		"tcp.TCPAbortOnMemory 61", "tcp.TCPBacklogDrop 75",
		"tcp.ActiveOpens 101", "tcp.PassiveOpens 102", "tcp.AttemptFails 103", "tcp.EstabResets 104",
		"tcp.CurrEstab 105", "tcp.InErrs 109")
}

// Diamond's membership test is `name in allowed_names_string`: a column
// whose name occurs inside the string is published even if it is not one
// of the listed names (no real kernel has such a column); a column that
// merely starts with a listed name is not.
func TestTCPSubstringSelection(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/netstat": "TcpExt: TCPLoss TCPLossProbes TCPLossUndo Estab Drops TW\nTcpExt: 1 2 3 4 5 6\n",
		"proc/net/snmp":    "Tcp: MaxConn CurrEstab InErrs InCsumErrors\nTcp: -1 3 7 8\n",
	})
	got, _, err := collectOnce(t, newByName(t, "tcp", h), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "tcp.TCPLoss 1", "tcp.Estab 4", "tcp.Drops 5", "tcp.CurrEstab 3", "tcp.InErrs 7")
}

// A decreasing counter is a reset (no value); the gauge is published.
func TestTCPReset(t *testing.T) {
	h0 := tempHost(t, map[string]string{
		"proc/net/netstat": "TcpExt: ListenDrops TCPTimeouts\nTcpExt: 10 100\n",
		"proc/net/snmp":    "Tcp: ActiveOpens CurrEstab\nTcp: 50 4\n",
	})
	h1 := tempHost(t, map[string]string{
		"proc/net/netstat": "TcpExt: ListenDrops TCPTimeouts\nTcpExt: 4 160\n",
		"proc/net/snmp":    "Tcp: ActiveOpens CurrEstab\nTcp: 110 2\n",
	})
	_, st, err := collectOnce(t, newByName(t, "tcp", h0), 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, newByName(t, "tcp", h1), 1030, false, st)
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "tcp.TCPTimeouts 2", "tcp.ActiveOpens 2", "tcp.CurrEstab 2")
}

// One collector over cycles: a column that disappears is not published
// from a stale value.
func TestTCPColumnDisappears(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/netstat": "TcpExt: ListenDrops\nTcpExt: 10\n",
		"proc/net/snmp":    "Tcp: CurrEstab\nTcp: 1\n",
	})
	c := newByName(t, "tcp", h)
	if _, _, err := collectOnce(t, c, 1000, true, collect.State{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.ProcPath("net", "netstat"), []byte("TcpExt: TW\nTcpExt: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _, err := collectOnce(t, c, 1010, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "tcp.CurrEstab 1")
}

func TestTCPMissing(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "tcp", tempHost(t, nil)), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	// One file missing: the other one is still published.
	h := tempHost(t, map[string]string{"proc/net/snmp": "Tcp: CurrEstab\nTcp: 6\n"})
	got, _, err := collectOnce(t, newByName(t, "tcp", h), 1000, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	wantLines(t, got, "tcp.CurrEstab 6")
}

func TestTCPMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/netstat": "TcpExt: ListenDrops TCPTimeouts\nTcpExt: 3\n",
		"proc/net/snmp":    "Ip: 1\nIp: 1\nTcp: ActiveOpens PassiveOpens CurrEstab\nTcp: -5 x 2\n",
	})
	got, _, err := collectOnce(t, newByName(t, "tcp", h), 1000, true, collect.State{})
	if err == nil {
		t.Fatal("no error for malformed files")
	}
	for _, want := range []string{"netstat: line 2", "2 names, 1 values", `snmp: line 4: PassiveOpens: bad value "x"`,
		"tcp.ActiveOpens: negative counter -5"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	wantLines(t, got, "tcp.ListenDrops 3", "tcp.CurrEstab 2")

	h = tempHost(t, map[string]string{"proc/net/netstat": "garbage\n", "proc/net/snmp": "Tcp: CurrEstab\n"})
	got, _, err = collectOnce(t, newByName(t, "tcp", h), 1000, true, collect.State{})
	if err == nil || len(got) != 0 {
		t.Fatalf("got %v, err %v; want nothing and an error", got, err)
	}
}

func FuzzParseHeaderValues(f *testing.F) {
	f.Add([]byte("Tcp: RtoAlgorithm RtoMin RtoMax MaxConn\nTcp: 1 200 120000 -1\n"), "Tcp:")
	f.Add([]byte("TcpExt: A B\nTcpExt: 1\n"), "TcpExt:")
	f.Add([]byte("Tcp: A\n"), "Tcp:")
	f.Fuzz(func(t *testing.T, b []byte, prefix string) {
		calls := 0
		err := parseHeaderValues(b, prefix, func(name []byte, v int64) {
			calls++
			if len(name) == 0 || strings.ContainsAny(string(name), " \t\n") {
				t.Fatalf("bad column name %q", name)
			}
		})
		if calls > 0 && !strings.Contains(string(b), prefix) {
			t.Fatalf("%d columns from input without %q", calls, prefix)
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error message")
		}
	})
}

func BenchmarkCollectTCP(b *testing.B) {
	benchCollectSteady(b, "tcp", fixtureHost("tcp/t0"))
}

func BenchmarkReadTCP(b *testing.B) {
	h := fixtureHost("tcp/t0")
	benchReadSteady(b, h.NetPath("netstat"), h.NetPath("snmp"))
}

// The columns are matched by position while the kernel prints the same
// header; when it prints others there (columns moved, added, removed),
// each value still goes to its own name.
func TestTCPColumnsMove(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/netstat": "TcpExt: ListenDrops TCPTimeouts ListenOverflows\nTcpExt: 1 2 3\n",
		"proc/net/snmp":    "Tcp: ActiveOpens CurrEstab\nTcp: 4 5\n",
	})
	c := newByName(t, "tcp", h)
	got, _, err := collectOnce(t, c, 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "tcp.ListenDrops 1", "tcp.TCPTimeouts 2", "tcp.ListenOverflows 3",
		"tcp.ActiveOpens 4", "tcp.CurrEstab 5")
	for name, body := range map[string]string{
		"netstat": "TcpExt: TCPTimeouts Other ListenDrops\nTcpExt: 12 99 11\n",
		"snmp":    "Tcp: CurrEstab ActiveOpens InErrs\nTcp: 15 14 16\n",
	} {
		if err := os.WriteFile(h.NetPath(name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err = collectOnce(t, c, 1060, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "tcp.ListenDrops 11", "tcp.TCPTimeouts 12", "tcp.ActiveOpens 14", "tcp.CurrEstab 15",
		"tcp.InErrs 16")
	for _, l := range got {
		if strings.HasPrefix(l, "tcp.ListenOverflows") {
			t.Errorf("a column gone from the file is still published: %q", l)
		}
	}
}
