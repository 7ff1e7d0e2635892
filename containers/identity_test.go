// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

// TestOneIdentityAcrossHierarchies: the v1 fixture with its memory
// hierarchy nested below another cgroup (as on hosts where the runtime
// itself sits in a nested memory cgroup: process_api/<hash>/kubepods/...)
// publishes each container once, with its memory read from the nested
// path; a container that goes is forgotten.
func TestOneIdentityAcrossHierarchies(t *testing.T) {
	h, root := copyHost(t, "v1")
	mem := filepath.Join(root, "sys/fs/cgroup/memory")
	nest := filepath.Join(mem, "process_api", "6077fe297df6e4c3")
	if err := os.MkdirAll(nest, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"kubepods", "docker"} {
		if err := os.Rename(filepath.Join(mem, d), filepath.Join(nest, d)); err != nil {
			t.Fatal(err)
		}
	}
	flat, _, err := collectOnce(t, newTest(t, fixtureHost("v1"), Options{}), 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	c := newTest(t, h, Options{})
	got, _, err := collectOnce(t, c, 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	// The same lines as the flat tree: same names, same memory values.
	wantLines(t, got, flat...)
	if len(got) != len(flat) {
		t.Errorf("%d lines, the flat tree gives %d", len(got), len(flat))
	}
	b := "containers." + pod1 + idB[:12] + ".memory.usage_byte"
	if len(filter(got, b)) != 1 {
		t.Errorf("no memory of B from the nested hierarchy: %v", filter(got, "containers."+pod1+idB[:12]))
	}
	// B goes from every hierarchy: its state goes.
	for _, r := range []string{"cpu", "cpuacct", "blkio", "pids", "unified", "memory/process_api/6077fe297df6e4c3"} {
		os.RemoveAll(filepath.Join(root, "sys/fs/cgroup", r, "kubepods/burstable/pod11112222-3333-4444-5555-666677778888", idB))
	}
	collectOnce(t, c, 1060, true, collect.State{})
	for k := range c.(*collector).byKey {
		if strings.Contains(k, idB) {
			t.Errorf("%s kept after it went", k)
		}
	}
}

// fakeResolver answers from a map, optionally after a delay, and counts
// the questions.
type fakeResolver struct {
	mu    sync.Mutex
	infos map[string]Info
	asked map[string]int
	hold  chan struct{} // when set, Resolve waits for it to close
}

func (f *fakeResolver) Resolve(ref Ref) (Info, bool) {
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[ref.ID]++
	i, ok := f.infos[ref.ID]
	return i, ok
}

// TestResolverNamesSandboxes: the Resolver's names and tags are used, its
// sandboxes are not published (B's pod network then comes from C), each
// container is asked about once, and a Resolver that hangs holds up no
// cycle, its names arriving later.
func TestResolverNamesSandboxes(t *testing.T) {
	r := &fakeResolver{asked: map[string]int{}, infos: map[string]Info{
		idB: {Sandbox: true, Pod: "api-7f9", Namespace: "kube"},
		idC: {Name: "kube/api-7f9/api", Image: "registry.local/kube/api:1", Pod: "api-7f9", Namespace: "kube", Runtime: "containerd"},
	}}
	c := newTest(t, fixtureHost("v2"), Options{Resolver: r, Tags: true, Hostname: "h"})
	got, st, err := collectOnce(t, c, 1000, true, collect.State{})
	if err != nil {
		t.Fatal(err)
	}
	if l := filter(got, "containers."+pod1+idB[:12]); len(l) != 0 {
		t.Errorf("sandbox published: %v", l)
	}
	if len(filter(got, "containers.kube_api-7f9_api.network.eth0.rx_byte")) != 1 {
		t.Errorf("the pod's network not published by its workload: %v", filter(got, "network"))
	}
	tagged := "container.cpu.total;container=kube_api-7f9_api;host=h;image=registry.local/kube/api:1;namespace=kube;pod=api-7f9;runtime=containerd "
	if len(filter(got, tagged)) != 1 {
		t.Errorf("missing %q in %v", tagged, filter(got, "container.cpu.total"))
	}
	wantLines(t, filter(got, "containers.running"), "containers.running_count 6")
	collectOnce(t, c, 1060, true, st)
	for id, n := range r.asked {
		if n != 1 {
			t.Errorf("%s asked %d times", id[:12], n)
		}
	}

	// A Resolver that hangs (a state file on a dead disk) holds up no
	// cycle: they publish by short id until it answers.
	hung := &fakeResolver{asked: map[string]int{}, infos: r.infos, hold: make(chan struct{})}
	c = newTest(t, fixtureHost("v2"), Options{Resolver: hung})
	for i := 0; i < 2; i++ {
		done := make(chan []string)
		go func() { got, _, _ := collectOnce(t, c, 1000, true, collect.State{}); done <- got }()
		select {
		case got = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("a cycle waits for a hung Resolver")
		}
		if len(filter(got, "containers."+pod1+idC[:12]+".cpu.total")) != 1 {
			t.Errorf("cycle %d with a hung Resolver: C not published by id: %v", i, filter(got, "cpu.total"))
		}
	}
	close(hung.hold)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _, _ = collectOnce(t, c, 1000, true, collect.State{})
		if len(filter(got, "containers.kube_api-7f9_api.cpu.total")) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(filter(got, "containers.kube_api-7f9_api.cpu.total")) != 1 {
		t.Error("names of a Resolver that hung for a while never arrived")
	}
}

// TestFilter: include and exclude by name, image and label globs; the
// excluded are neither published nor counted.
func TestFilter(t *testing.T) {
	namer := fakeNamer{
		idA: {Name: "shop/web-1/nginx", Image: "registry.local/shop/web:1.4", Labels: map[string]string{"tier": "web"}},
		idE: {Name: "shop/db-0/postgres", Image: "registry.local/shop/db:16", Labels: map[string]string{"tier": "db"}},
		idB: {Name: "kube-system/dns-1/coredns", Image: "registry.k8s.io/coredns:1.11"},
	}
	for _, tc := range []struct {
		f    *Filter
		want string
	}{
		{nil, "running_count 7"},
		{&Filter{IncludeNames: []string{"shop/*/*"}}, "shop_db-0_postgres shop_web-1_nginx"},
		// '*' stops at '/', as in [[service]] globs: one * per path level.
		{&Filter{IncludeImages: []string{"registry.local/*"}}, ""},
		{&Filter{IncludeImages: []string{"registry.local/*/*"}, ExcludeLabels: []string{"tier=db"}}, "shop_web-1_nginx"},
		{&Filter{IncludeLabels: []string{"tier"}}, "shop_db-0_postgres shop_web-1_nginx"},
		{&Filter{IncludeNames: []string{"shop/*/*"}, IncludeLabels: []string{"tier=w*"}}, "shop_web-1_nginx"},
		{&Filter{ExcludeNames: []string{"kube-system/*/*", "my-box", "web", "pod*/*"}, ExcludeImages: []string{"*/*/*:16"}}, "shop_web-1_nginx"},
	} {
		got, _, err := collectOnce(t, newTest(t, fixtureHost("v2"), Options{Namer: namer, Filter: tc.f}), 1000, true, collect.State{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, l := range got {
			if p := strings.Split(l, "."); len(p) > 2 && p[1] != "events" {
				seen[p[1]] = true
			}
		}
		var names []string
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		if tc.f == nil {
			if len(filter(got, "containers.running_count 7")) != 1 {
				t.Errorf("no filter: %v", filter(got, "containers.running"))
			}
			continue
		}
		if s := strings.Join(names, " "); s != tc.want {
			t.Errorf("%+v: published %s, want %s", *tc.f, s, tc.want)
		}
		if n := len(names); len(filter(got, "containers.running_count "+strconv.Itoa(n))) != 1 {
			t.Errorf("%+v: running_count %v, want %d", *tc.f, filter(got, "containers.running"), n)
		}
	}
}
