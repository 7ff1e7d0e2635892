// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
)

// configured builds collector name of Registry with f.
func configured(t *testing.T, name string, h collect.Host, f Filters) collect.Collector {
	t.Helper()
	c, err := build(name, h, f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// build builds collector name of Registry with f.
func build(name string, h collect.Host, f Filters) (collect.Collector, error) {
	for _, r := range Registry(func() Filters { return f }) {
		if r.Name == name {
			return r.New(collect.Deps{Host: h, Log: discardLogger()})
		}
	}
	return nil, fmt.Errorf("no %s", name)
}

// nodes are the distinct third-level nodes (interface, device, mount) of lines.
func nodes(lines []string) string {
	seen := map[string]bool{}
	for _, l := range lines {
		if p := strings.Split(strings.Fields(l)[0], "."); len(p) > 2 {
			seen[p[1]] = true
		}
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestFiltersNetwork: Diamond's interfaces, regexes matched at the start
// of the name (eth0$ is eth0 alone, not eth0.100).
func TestFiltersNetwork(t *testing.T) {
	for _, tc := range []struct {
		f    Filters
		want string
	}{
		{Filters{}, "bond0 enp0s3 ens3 eth0 eth0_100"},
		{Filters{Interfaces: []string{"eth0$", "wlan", "veth[0-9]+"}}, "eth0 veth1234 wlan0"},
		{Filters{Interfaces: []string{"br-", "docker"}}, "br-abc docker0"},
	} {
		got, _, err := collectOnce(t, configured(t, "network", fixtureHost("network/t0"), tc.f), 1000, true, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		if n := nodes(got); n != tc.want {
			t.Errorf("interfaces %q: %s, want %s", tc.f.Interfaces, n, tc.want)
		}
	}
}

// TestFiltersDiskspace: filesystems replaces Diamond's type list;
// exclude_filters are regexes searched anywhere in the mount point (and
// replace the default ^/export/home).
func TestFiltersDiskspace(t *testing.T) {
	for _, tc := range []struct {
		f        Filters
		wantStat string
	}{
		{Filters{}, "/ /mnt/a b /var/lib/docker /data.d /gone /a\\b /srv/nfs"},
		{Filters{Filesystems: []string{"ext4", "iso9660"}, ExcludeFilters: []string{"^/var/lib", "cdrom$"}}, "/ /export/home /gone"},
		{Filters{ExcludeFilters: []string{"a"}}, "/ /export/home /gone /srv/nfs"},
	} {
		f := &fakeFS{devs: map[string]uint64{}, st: map[string]syscall.Statfs_t{}}
		c := configured(t, "diskspace", fixtureHost("diskspace/edge"), tc.f).(*diskspace)
		f.root = fixtureHost("diskspace/edge").Root
		c.local = fsCalls{stat: f.stat, statfs: f.statfs}
		c.remote = c.local
		collectOnce(t, c, 1000, true, collect.State{})
		if s := strings.Join(f.log, " "); s != tc.wantStat {
			t.Errorf("%+v: mounts looked at %q, want %q", tc.f, s, tc.wantStat)
		}
	}
}

// TestFiltersIostat: devices, one regex matched at the start of the name.
func TestFiltersIostat(t *testing.T) {
	h := fixtureHost("iostat/edge/t0")
	for _, tc := range []struct {
		f    Filters
		want string
	}{
		{Filters{Devices: "nvme[0-9]+n[0-9]+$|md"}, "md0 nvme0n1"},
		{Filters{Devices: "cciss/"}, "cciss_c0d0"},
	} {
		// (the fixture's garbage line is an error beside the output)
		got, _, _ := collectOnce(t, configured(t, "iostat", h, tc.f), 1000, true, collect.State{})
		if n := nodes(got); n != tc.want {
			t.Errorf("devices %q: %s, want %s", tc.f.Devices, n, tc.want)
		}
	}
	if _, err := build("iostat", h, Filters{Devices: "sd[a-z"}); err == nil {
		t.Error("a bad devices regex configured")
	}
}
