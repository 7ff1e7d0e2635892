// SPDX-License-Identifier: Apache-2.0

package runtimes

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/containers"
)

func id(c byte) string { return strings.Repeat(string(c), 64) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func fixture() *Reader {
	return New(collect.Host{Proc: "testdata/proc", Sys: "testdata/sys", Root: "testdata/root"}, quiet())
}

// TestFixtures resolves one container of each runtime from its state files
// (testdata/README.md says where each shape comes from).
func TestFixtures(t *testing.T) {
	r := fixture()
	for _, tc := range []struct {
		ref  containers.Ref
		want containers.Info
	}{
		{containers.Ref{Runtime: "containerd", ID: id('5')}, containers.Info{
			Name: "shop/web-7d9/web", Image: "registry.local/shop/web:1.4", Runtime: "containerd", Pod: "web-7d9", Namespace: "shop"}},
		// The cgroupfs kubepods shape does not say the runtime: found in containerd's tree.
		{containers.Ref{Runtime: "kubernetes", ID: id('5')}, containers.Info{
			Name: "shop/web-7d9/web", Image: "registry.local/shop/web:1.4", Runtime: "containerd", Pod: "web-7d9", Namespace: "shop"}},
		{containers.Ref{Runtime: "cri-o", ID: id('2')}, containers.Info{
			Name: "shop/api-5c7/api", Image: "registry.local/shop/api:3.1", Runtime: "cri-o", Pod: "api-5c7", Namespace: "shop"}},
		{containers.Ref{Runtime: "kubernetes", ID: id('1')}, containers.Info{
			Runtime: "cri-o", Pod: "api-5c7", Namespace: "shop", Sandbox: true}},
		{containers.Ref{Runtime: "podman", ID: id('3')}, containers.Info{
			Name: "cache", Image: "docker.io/library/redis:7", Runtime: "podman"}},
		{containers.Ref{Runtime: "docker", ID: id('4')}, containers.Info{
			Name: "front", Image: "registry.local/shop/web:1.4", Runtime: "docker", Pid: 4242}},
		// machined's record (the leader pid 4300 has no /proc here).
		{containers.Ref{Runtime: "nspawn", ID: "web", Pid: 4300}, containers.Info{Name: "web", Image: "fedora", Runtime: "nspawn"}},
	} {
		got, ok := r.Resolve(tc.ref)
		if !ok {
			t.Errorf("%v: not resolved", tc.ref)
			continue
		}
		labels := got.Labels
		got.Labels = nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v:\n got %+v\nwant %+v", tc.ref, got, tc.want)
		}
		if tc.ref.Runtime != "nspawn" && len(labels) == 0 {
			t.Errorf("%v: no labels", tc.ref)
		}
	}
	// Labels: CRI-O's label JSON and annotations, podman's annotations, Docker's labels.
	for ref, want := range map[containers.Ref][2]string{
		{Runtime: "cri-o", ID: id('1')}:  {"app", "api"},
		{Runtime: "cri-o", ID: id('2')}:  {"tier", "backend"},
		{Runtime: "podman", ID: id('3')}: {"tier", "cache"},
		{Runtime: "docker", ID: id('4')}: {"tier", "web"},
	} {
		if got, _ := r.Resolve(ref); got.Labels[want[0]] != want[1] {
			t.Errorf("%v: label %s = %q, want %q", ref, want[0], got.Labels[want[0]], want[1])
		}
	}
	// Unknown ids, and a podman bundle is not taken for CRI-O's.
	for _, ref := range []containers.Ref{
		{Runtime: "docker", ID: id('9')}, {Runtime: "containerd", ID: id('9')}, {Runtime: "kubernetes", ID: id('9')},
		{Runtime: "cri-o", ID: id('3')}, {Runtime: "podman", ID: id('9')}, {Runtime: "what", ID: id('1')},
	} {
		if got, ok := r.Resolve(ref); ok {
			t.Errorf("%v: resolved to %+v, want unknown", ref, got)
		}
	}
}

// TestHostileStateFiles: broken, huge or odd state files give no name,
// never a panic or a hang.
func TestHostileStateFiles(t *testing.T) {
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/docker/containers/"+id('a')+"/config.v2.json", `{"Name": "/x", "Config": `)
	write("run/containerd/io.containerd.runtime.v2.task/k8s.io/"+id('b')+"/config.json", `{"annotations": 5}`)
	write("var/lib/containers/storage/overlay-containers/containers.json", `[{"id":"`+id('c')+`","names":["n"],"metadata":"not json"}]`)
	os.MkdirAll(filepath.Join(root, "run/containers/storage/overlay-containers", id('d'), "userdata"), 0o755)
	f, _ := os.Create(filepath.Join(root, "run/containers/storage/overlay-containers", id('d'), "userdata/state.json"))
	f.Truncate(maxStateFile + 1)
	f.Close()
	write("etc/docker/daemon.json", `{"data-root": "relative/not/taken"}`)
	r := New(collect.Host{Proc: root, Sys: root, Root: root}, quiet())
	if _, ok := r.Resolve(containers.Ref{Runtime: "docker", ID: id('a')}); ok {
		t.Error("truncated config.v2.json resolved")
	}
	if _, ok := r.Resolve(containers.Ref{Runtime: "containerd", ID: id('b')}); ok {
		t.Error("config.json with annotations of the wrong type resolved")
	}
	if got, ok := r.Resolve(containers.Ref{Runtime: "podman", ID: id('c')}); !ok || got.Name != "n" || got.Image != "" {
		t.Errorf("podman entry with foreign metadata: %+v %v, want the store's name", got, ok)
	}
	if _, ok := r.Resolve(containers.Ref{Runtime: "cri-o", ID: id('d')}); ok {
		t.Error("oversized state.json resolved")
	}
	write("etc/docker/daemon.json", `{"data-root": "/srv/docker"}`)
	write("srv/docker/containers/"+id('e')+"/config.v2.json", `{"Name": "/moved", "Config": {"Image": "i"}}`)
	if got, _ := r.Resolve(containers.Ref{Runtime: "docker", ID: id('e')}); got.Name != "moved" {
		t.Errorf("daemon.json data-root not followed: %+v", got)
	}
}

// TestMachineThroughLeaderRoot: a machine's image is the os-release ID of
// its leader's root, read through the host's /proc (here this test's own
// process, whose root is this machine's).
func TestMachineThroughLeaderRoot(t *testing.T) {
	want := osReleaseID("/")
	if want == "" {
		t.Fatal("this machine has no os-release ID")
	}
	r := New(collect.DefaultHost(), quiet())
	got, ok := r.Resolve(containers.Ref{Runtime: "nspawn", ID: "nmtest-box", Pid: os.Getpid()})
	if !ok || got.Name != "nmtest-box" || got.Image != want {
		t.Errorf("got %+v %v, want name nmtest-box, image %q", got, ok, want)
	}
}
