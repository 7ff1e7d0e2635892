// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"strings"
	"testing"
)

const netDevHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

func netDev(lines ...string) string { return netDevHeader + strings.Join(lines, "\n") + "\n" }

func TestParseNetDevLine(t *testing.T) {
	var v [len(netColumns)]uint64
	name, ok, err := parseNetDevLine([]byte("  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"), &v)
	if err != nil || !ok || string(name) != "eth0" || v[0] != 1 || v[15] != 16 {
		t.Fatalf("got %q %v %v %v", name, ok, err, v)
	}
	if _, ok, err := parseNetDevLine([]byte(" face |bytes    packets"), &v); ok || err != nil {
		t.Fatalf("header: ok %v err %v", ok, err)
	}
	for _, bad := range []string{"eth0: 1 2 3", "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x", ": 1 2"} {
		if _, _, err := parseNetDevLine([]byte(bad), &v); err == nil {
			t.Errorf("parseNetDevLine(%q) accepted", bad)
		}
	}
}

// Only Diamond's default interfaces; a VLAN's dot becomes '_'; rates over
// elapsed time, bits = bytes*8.
func TestNetworkRates(t *testing.T) {
	t0 := netDev(
		"    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0",
		"  eth0: 1000 10 0 0 0 0 0 1 2000 20 0 0 0 0 0 0",
		"eth0.100: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
		" bond0: 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5 5",
		"veth1234: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
		"docker0: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
		"br-abc: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
		"  ens3: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
		"enp0s3: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0")
	t1 := strings.NewReplacer("eth0: 1000 10 0 0 0 0 0 1 2000 20", "eth0: 7000 70 6 0 0 0 0 1 2600 80",
		"eth0.100: 0 0", "eth0.100: 600 0").Replace(t0)
	_, st, err := collect(t, newByName(t, "network", tempHost(t, map[string]string{"proc/net/dev": t0})), 1000, false, State{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := collect(t, newByName(t, "network", tempHost(t, map[string]string{"proc/net/dev": t1})), 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(got, "\n") + "\n"
	for _, want := range []string{"network.eth0.rx_byte 100\n", "network.eth0.rx_bit 800\n", "network.eth0.rx_packets 1\n",
		"network.eth0.rx_errors 0.1\n", "network.eth0.tx_byte 10\n", "network.eth0.tx_bit 80\n", "network.eth0.tx_packets 1\n",
		"network.eth0_100.rx_byte 10\n", "network.bond0.tx_carrier 0\n", "network.ens3.rx_byte 0\n", "network.enp0s3.tx_byte 0\n"} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, bad := range []string{"network.lo.", "veth", "docker0", "br-abc"} {
		if strings.Contains(joined, bad) {
			t.Errorf("%s must be filtered out", bad)
		}
	}
	if len(got) != 5*18 {
		t.Errorf("%d lines, want %d (5 interfaces x 18)", len(got), 5*18)
	}
}

func TestNetworkReadsHostNamespaceAndMalformed(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/dev":   netDev("  eth0: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"),
		"proc/1/net/dev": netDev("  eth9: 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2", "  eth1: 1 2 3"),
	})
	got, _, err := collect(t, newByName(t, "network", h), 1, true, State{})
	if err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("want an error naming line 4, got %v", err)
	}
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "network.eth9.rx_byte 2") || strings.Contains(joined, "eth0") {
		t.Errorf("want the host's (pid 1) interfaces only:\n%s", joined)
	}
}

func FuzzParseNetDevLine(f *testing.F) {
	f.Add([]byte("  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v [len(netColumns)]uint64
		name, ok, err := parseNetDevLine(b, &v)
		if ok && (err != nil || len(name) == 0) {
			t.Fatalf("ok with err %v name %q", err, name)
		}
	})
}

func BenchmarkCollectNetwork(b *testing.B) { benchCollectSteady(b, "network", fixtureHost("e2e/t1")) }
func BenchmarkReadNetwork(b *testing.B) {
	benchReadSteady(b, fixtureHost("e2e/t1").ProcPath("net/dev"))
}
