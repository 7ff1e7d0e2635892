// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

func TestNetInterfaceWanted(t *testing.T) {
	for name, want := range map[string]bool{
		"eth0": true, "eth0.100": true, "bond0": true, "em1": true, "p1p1": true, "eno1": true,
		"enp0s3": true, "ens3": true, "enx001122334455": true, "eth": true,
		"lo": false, "veth1234": false, "docker0": false, "br-abc": false, "wlan0": false,
		"ifb0": false, "en": false, "": false, "tun0": false, "virbr0": false, "Eth0": false,
	} {
		if got := netInterfaceWanted([]byte(name)); got != want {
			t.Errorf("netInterfaceWanted(%q) = %v, want %v", name, got, want)
		}
	}
}

// netZeros is every metric of one interface at rate 0.
func netZeros(node string, except ...string) []string {
	var out []string
	names := append(netColumns[:], "rx_bit", "tx_bit")
next:
	for _, col := range names {
		for _, e := range except {
			if e == col {
				continue next
			}
		}
		out = append(out, "network."+node+"."+col+" 0")
	}
	return out
}

// Hand-made host: only Diamond's default interfaces, a VLAN's dot becomes
// '_', rates over the elapsed 60 s, bits = bytes*8, and a reset (bond0
// after a reload) publishes nothing for the counters that went down.
func TestNetworkRatesFixture(t *testing.T) {
	c := newByName(t, "network", fixtureHost("network/t0"))
	first, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil || len(first) != 0 {
		t.Fatalf("first sample: %v, %v; want nothing published", first, err)
	}
	c.(*network).file.Path = fixtureHost("network/t1").ProcPath("net/dev")
	got, _, err := collectOnce(t, c, 1060, false, st)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"network.eth0.rx_byte 10000", "network.eth0.rx_bit 80000", "network.eth0.rx_packets 10",
		"network.eth0.rx_errors 0.05", "network.eth0.rx_drop 0.1", "network.eth0.rx_fifo 0",
		"network.eth0.rx_frame 0.016666666666666666", "network.eth0.rx_compressed 0", "network.eth0.rx_multicast 2",
		"network.eth0.tx_byte 2000", "network.eth0.tx_bit 16000", "network.eth0.tx_packets 5",
		"network.eth0.tx_errors 0", "network.eth0.tx_drop 1", "network.eth0.tx_fifo 0",
		"network.eth0.tx_colls 0.2", "network.eth0.tx_carrier 0.1", "network.eth0.tx_compressed 0",
		"network.eth0_100.rx_byte 10", "network.eth0_100.rx_bit 80", "network.eth0_100.rx_packets 0.1",
		"network.eth0_100.tx_byte 1", "network.eth0_100.tx_bit 8", "network.eth0_100.tx_packets 0.016666666666666666",
		// bond0: the counters that went down publish nothing.
		"network.bond0.rx_errors 0", "network.bond0.rx_drop 0", "network.bond0.rx_fifo 0",
		"network.bond0.rx_frame 0", "network.bond0.rx_compressed 0",
		"network.bond0.tx_errors 0", "network.bond0.tx_drop 0", "network.bond0.tx_fifo 0",
		"network.bond0.tx_colls 0", "network.bond0.tx_carrier 0", "network.bond0.tx_compressed 0",
		"network.enp0s3.rx_byte 1001", "network.enp0s3.rx_bit 8008", "network.enp0s3.rx_packets 1.1",
		"network.enp0s3.rx_multicast 0.05", "network.enp0s3.tx_byte 200.2", "network.enp0s3.tx_bit 1601.6",
		"network.enp0s3.tx_packets 0.3",
	}
	want = append(want, netZeros("eth0_100", "rx_byte", "rx_bit", "rx_packets", "tx_byte", "tx_bit", "tx_packets")...)
	want = append(want, netZeros("ens3")...)
	want = append(want, netZeros("enp0s3", "rx_byte", "rx_bit", "rx_packets", "rx_multicast", "tx_byte", "tx_bit", "tx_packets")...)
	wantLines(t, got, want...)
}

// --counters: raw values, bits = bytes*8, every wanted interface at once.
func TestNetworkRaw(t *testing.T) {
	got, st, err := collectOnce(t, newByName(t, "network", fixtureHost("network/t1")), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"network.eth0.rx_byte 99994266", "network.eth0.rx_bit 799954128", "network.eth0.rx_packets 3969",
		"network.eth0.rx_errors 5", "network.eth0.rx_drop 11", "network.eth0.rx_fifo 0", "network.eth0.rx_frame 8",
		"network.eth0.rx_compressed 0", "network.eth0.rx_multicast 600",
		"network.eth0.tx_byte 377952", "network.eth0.tx_bit 3023616", "network.eth0.tx_packets 3016",
		"network.eth0.tx_errors 0", "network.eth0.tx_drop 70", "network.eth0.tx_fifo 0", "network.eth0.tx_colls 15",
		"network.eth0.tx_carrier 7", "network.eth0.tx_compressed 0",
	}
	var others []string
	for _, l := range got {
		if !strings.HasPrefix(l, "network.eth0.") {
			others = append(others, l)
		}
	}
	var eth0 []string
	for _, l := range got {
		if strings.HasPrefix(l, "network.eth0.") {
			eth0 = append(eth0, l)
		}
	}
	wantLines(t, eth0, want...)
	if len(got) != 5*18 {
		t.Errorf("%d lines, want 90 (eth0, eth0_100, bond0, ens3, enp0s3 x 18)", len(got))
	}
	for _, l := range []string{"network.ens3.tx_compressed 12", "network.ens3.rx_bit 33939393936", "network.bond0.tx_bit 7200"} {
		if !strings.Contains(strings.Join(others, "\n")+"\n", l+"\n") {
			t.Errorf("missing %q", l)
		}
	}
	// The raw run's state serves a later rate run; bits are derived, not kept.
	if st.Counters["network.eth0.rx_byte"] != 99994266 || len(st.Counters) != 5*16 {
		t.Errorf("state: %d counters, eth0.rx_byte %d", len(st.Counters), st.Counters["network.eth0.rx_byte"])
	}
}

// bytes*8 beyond 2^64-1 is printed as a float instead of wrapping.
func TestNetworkRawBitsOverflow(t *testing.T) {
	h := tempHost(t, map[string]string{"proc/net/dev": netDevHeader +
		"  eth0: 18446744073709551615 0 0 0 0 0 0 0 2305843009213693951 0 0 0 0 0 0 0\n"})
	got, _, err := collectOnce(t, newByName(t, "network", h), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	j := strings.Join(got, "\n") + "\n"
	for _, l := range []string{"network.eth0.rx_byte 18446744073709551615\n", "network.eth0.tx_bit 18446744073709551608\n",
		"network.eth0.rx_bit 147573952589676410000\n"} {
		if !strings.Contains(j, l) {
			t.Errorf("missing %q in\n%s", l, j)
		}
	}
}

const netDevHeader = "Inter-|   Receive                                                |  Transmit\n" +
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"

// A wanted interface with a short or broken line is an error naming the
// file and line; the good interfaces are still published, a broken line of
// an excluded interface (lo) is ignored, and extra columns are ignored.
func TestNetworkMalformed(t *testing.T) {
	h := fixtureHost("network/malformed")
	got, _, err := collectOnce(t, newByName(t, "network", h), 1, true, collect.State{})
	if err == nil || !strings.Contains(err.Error(), h.ProcPath("net/dev")+": line 5") || !strings.Contains(err.Error(), "eth1") {
		t.Errorf("want an error naming line 5 (eth1), got %v", err)
	}
	if len(got) != 2*18 || !strings.Contains(strings.Join(got, "\n"), "network.ens3.tx_bit 32000") ||
		!strings.Contains(strings.Join(got, "\n"), "network.eth0.rx_byte 1000") {
		t.Errorf("want eth0 and ens3 only:\n%s", strings.Join(got, "\n"))
	}
	for _, in := range []string{"", "garbage\n", netDevHeader, "\x00:\n:::\n eth0:\n"} {
		_, _, err := collectOnce(t, newByName(t, "network", tempHost(t, map[string]string{"proc/net/dev": in})), 1, true, collect.State{})
		// Only the bare header is a valid file (a host without interfaces).
		if (in == netDevHeader) != (err == nil) {
			t.Errorf("%q: err %v", in, err)
		}
	}
}

func TestNetworkMissingFile(t *testing.T) {
	_, _, err := collectOnce(t, newByName(t, "network", tempHost(t, nil)), 1, false, collect.State{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

// <procfs>/1/net/dev (the host's namespace) wins over <procfs>/net/dev.
func TestNetworkReadsHostNamespace(t *testing.T) {
	h := tempHost(t, map[string]string{
		"proc/net/dev":   netDevHeader + "  eth0: 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n",
		"proc/1/net/dev": netDevHeader + "  eth9: 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2 2\n",
	})
	got, _, err := collectOnce(t, newByName(t, "network", h), 1, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	j := strings.Join(got, "\n")
	if !strings.Contains(j, "network.eth9.rx_byte 2") || strings.Contains(j, "eth0") {
		t.Errorf("want the host's (pid 1) interfaces only:\n%s", j)
	}
}

// The live capture of this machine (e2e trees, ~5 s apart with traffic):
// eth0 only (lo, ifb*, docker0 are filtered), positive byte rates.
func TestNetworkLiveCapture(t *testing.T) {
	c := newByName(t, "network", fixtureHost("e2e/t0"))
	_, st, err := collectOnce(t, c, 1000, false, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	c.(*network).file.Path = fixtureHost("e2e/t1").NetPath("dev")
	got, _, err := collectOnce(t, c, 1005, false, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 18 {
		t.Fatalf("%d lines, want 18 (eth0):\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, l := range got {
		if !strings.HasPrefix(l, "network.eth0.") {
			t.Errorf("unexpected %q", l)
		}
		if strings.Contains(l, "_byte ") && strings.HasSuffix(l, " 0") {
			t.Errorf("no traffic in the capture: %q", l)
		}
	}
}

func BenchmarkCollectNetwork(b *testing.B) {
	benchCollectSteady(b, "network", fixtureHost("network/t1"))
}
func BenchmarkReadNetwork(b *testing.B) {
	benchReadSteady(b, fixtureHost("network/t1").NetPath("dev"))
}
