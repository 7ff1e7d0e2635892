// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"bytes"
	"testing"
)

func TestClassify(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		parent, name string
		ctx          walkCtx
		kind         kind
		runtime, id  string
	}{
		{parent: "system.slice", name: "docker-" + id + ".scope", kind: kindContainer, runtime: "docker", id: id},
		{parent: "docker", name: id, kind: kindContainer, runtime: "docker", id: id},
		{parent: "other", name: id, kind: kindDescend},
		{parent: "system.slice", name: "var-lib-docker-" + id + ".mount", kind: kindSkip},
		{parent: "x", name: "crio-conmon-" + id + ".scope", kind: kindSkip},
		{parent: "x", name: "crio-" + id + ".scope", kind: kindContainer, runtime: "cri-o", id: id},
		{parent: "x", name: "cri-containerd-" + id + ".scope", kind: kindContainer, runtime: "containerd", id: id},
		{parent: "machine.slice", name: "libpod-" + id + ".scope", kind: kindContainer, runtime: "podman", id: id},
		{parent: "machine.slice", name: "libpod-conmon-" + id + ".scope", kind: kindSkip},
		{parent: "system.slice", name: "nerdctl-" + id + ".scope", kind: kindContainer, runtime: "nerdctl", id: id},
		{parent: "machine.slice", name: "systemd-nspawn@web.service", kind: kindContainer, runtime: "nspawn", id: "web"},
		{parent: "system.slice", name: "systemd-nspawn@web.service", kind: kindDescend},
		{parent: "machine.slice", name: `machine-my\x2dbox.scope`, kind: kindContainer, runtime: "nspawn", id: `my\x2dbox`},
		{parent: "system.slice", name: "docker-" + id[:12] + ".scope", kind: kindDescend},
		{parent: "system.slice", name: "docker.service", kind: kindDescend},
	} {
		ctx := walkCtx{name: tc.parent}
		k, m := classify([]byte(tc.name), &ctx)
		if k != tc.kind || m.runtime != tc.runtime || string(m.id) != tc.id {
			t.Errorf("classify(%s/%s) = %v %q %q; want %v %q %q", tc.parent, tc.name, k, m.runtime, m.id, tc.kind, tc.runtime, tc.id)
		}
	}
	// Pod directories, both drivers.
	root := walkCtx{}
	kp := root.child("kubepods")
	bu := kp.child("burstable")
	pod := bu.child("pod1b2c-33")
	if !pod.podDir || pod.pod != "1b2c-33" {
		t.Errorf("cgroupfs pod ctx = %+v", pod)
	}
	if k, m := classify([]byte(id), &pod); k != kindContainer || m.runtime != "kubernetes" {
		t.Errorf("container in cgroupfs pod: %v %+v", k, m)
	}
	gpod := kp.child("pod9")
	if !gpod.podDir || gpod.pod != "9" {
		t.Errorf("guaranteed pod ctx = %+v", gpod)
	}
	sp := root.child("kubepods.slice").child("kubepods-besteffort.slice").child("kubepods-besteffort-pod1b2c_33.slice")
	if !sp.podDir || sp.pod != "1b2c-33" {
		t.Errorf("systemd pod ctx = %+v", sp)
	}
	if nk := root.child("pod123"); nk.podDir {
		t.Errorf("pod dir outside kubepods: %+v", nk)
	}
}

func TestUnescapeUnit(t *testing.T) {
	for in, want := range map[string]string{`my\x2dbox`: "my-box", `a\x2`: `a\x2`, "plain": "plain", `x\x41\xzz`: `xA\xzz`} {
		if got := unescapeUnit(in); got != want {
			t.Errorf("unescapeUnit(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte("docker-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.scope"), "machine.slice")
	f.Fuzz(func(t *testing.T, name []byte, parent string) {
		ctx := walkCtx{name: parent}
		k, m := classify(name, &ctx)
		if k == kindContainer && (len(m.id) == 0 || !bytes.Contains(name, m.id)) {
			t.Fatalf("container %q with id %q", name, m.id)
		}
		_ = unescapeUnit(string(name))
	})
}
