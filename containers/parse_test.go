// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"bytes"
	"testing"
)

func TestParseSingle(t *testing.T) {
	for _, tc := range []struct {
		in      string
		v       uint64
		max     bool
		wantErr bool
	}{
		{in: "52428800\n", v: 52428800},
		{in: "max\n", max: true},
		{in: "0", v: 0},
		{in: "", wantErr: true},
		{in: "-1\n", wantErr: true},
		{in: "12 13\n", wantErr: true},
		{in: "99999999999999999999999\n", wantErr: true},
	} {
		v, max, err := parseSingle([]byte(tc.in))
		if (err != nil) != tc.wantErr || (!tc.wantErr && (v != tc.v || max != tc.max)) {
			t.Errorf("parseSingle(%q) = %d, %v, %v; want %d, %v, error %v", tc.in, v, max, err, tc.v, tc.max, tc.wantErr)
		}
	}
}

func TestParseKV(t *testing.T) {
	keys := []string{"usage_usec", "user_usec", "nr_throttled"}
	for _, tc := range []struct {
		in      string
		found   uint32
		out     [3]uint64
		wantErr bool
	}{
		{in: "usage_usec 10\nuser_usec 7\nsystem_usec 3\nnr_throttled 1\n", found: 7, out: [3]uint64{10, 7, 1}},
		{in: "user_usec 7", found: 2, out: [3]uint64{0, 7, 0}},
		{in: "new_key\nusage_usec 5\n\n", found: 1, out: [3]uint64{5, 0, 0}},
		{in: "usage_usec x\nuser_usec 7\n", found: 2, out: [3]uint64{0, 7, 0}, wantErr: true},
		{in: "usage_usec 1 2\n", wantErr: true},
		{in: "usage_usec\n", wantErr: true},
		{in: ""},
	} {
		var out [3]uint64
		found, err := parseKV([]byte(tc.in), keys, out[:])
		if (err != nil) != tc.wantErr || found != tc.found || out != tc.out {
			t.Errorf("parseKV(%q) = %b %v %v; want %b %v error %v", tc.in, found, out, err, tc.found, tc.out, tc.wantErr)
		}
	}
}

func TestParseIOStat(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ioTotals
		wantErr bool
	}{
		{in: "8:0 rbytes=90112 wbytes=4096 rios=6 wios=1 dbytes=0 dios=0\n253:0 rbytes=10 wbytes=0 rios=2 wios=0 dbytes=0 dios=0\n",
			want: ioTotals{rbytes: 90122, wbytes: 4096, rios: 8, wios: 1}},
		{in: ""},
		{in: "8:0\n"},
		{in: "8:0 rbytes=1 cost.usage=5 wbytes=2\n", want: ioTotals{rbytes: 1, wbytes: 2}},
		{in: "8:0 rbytes=x wbytes=2\n", want: ioTotals{wbytes: 2}, wantErr: true},
		{in: "8:0 rbytes wbytes=2\n", want: ioTotals{wbytes: 2}, wantErr: true},
	} {
		got, err := parseIOStat([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseIOStat(%q) = %+v, %v; want %+v error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseBlkio(t *testing.T) {
	for _, tc := range []struct {
		in      string
		r, w    uint64
		wantErr bool
	}{
		{in: "8:0 Read 100\n8:0 Write 4\n8:0 Sync 4\n8:0 Async 100\n8:0 Discard 0\n8:0 Total 104\n8:16 Read 1\n8:16 Write 2\nTotal 107\n", r: 101, w: 6},
		{in: "Total 0\n"},
		{in: ""},
		{in: "8:0 Read x\n8:0 Write 3\n", w: 3, wantErr: true},
		{in: "8:0 Bogus 3\n", wantErr: true},
		{in: "8:0 Read\n", wantErr: true},
	} {
		r, w, err := parseBlkio([]byte(tc.in))
		if (err != nil) != tc.wantErr || r != tc.r || w != tc.w {
			t.Errorf("parseBlkio(%q) = %d %d %v; want %d %d error %v", tc.in, r, w, err, tc.r, tc.w, tc.wantErr)
		}
	}
}

func TestParseFirstPid(t *testing.T) {
	for in, want := range map[string]int{"123\n456\n": 123, "0\n0\n77\n": 77, "": 0, "x\n9\n": 9, "0\n": 0} {
		if got, ok := parseFirstPid([]byte(in)); got != want || ok != (want > 0) {
			t.Errorf("parseFirstPid(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
}

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

func FuzzParseSingle(f *testing.F) {
	f.Add([]byte("123\n"))
	f.Add([]byte("max"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, max, err := parseSingle(b)
		if err != nil && (v != 0 || max) {
			t.Fatalf("error with a value: %d %v", v, max)
		}
		if max && string(bytes.TrimSpace(b)) != "max" {
			t.Fatalf("max from %q", b)
		}
	})
}

func FuzzParseKV(f *testing.F) {
	f.Add([]byte("usage_usec 10\nuser_usec 7\nsystem_usec 3\n"))
	f.Add([]byte("total_rss 1\ntotal_cache x\n"))
	keys := []string{"usage_usec", "user_usec", "system_usec", "total_rss", "total_cache"}
	f.Fuzz(func(t *testing.T, b []byte) {
		out := make([]uint64, len(keys))
		found, _ := parseKV(b, keys, out)
		for i := range keys {
			if found&(1<<i) == 0 && out[i] != 0 {
				t.Fatalf("key %s set but not found", keys[i])
			}
		}
		if found>>len(keys) != 0 {
			t.Fatalf("found bits beyond keys: %b", found)
		}
	})
}

func FuzzParseIOStat(f *testing.F) {
	f.Add([]byte("8:0 rbytes=90112 wbytes=4096 rios=6 wios=1 dbytes=0 dios=0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _ := parseIOStat(b)
		if !bytes.Contains(b, []byte("=")) && got != (ioTotals{}) {
			t.Fatalf("values without key=value: %+v", got)
		}
	})
}

func FuzzParseBlkio(f *testing.F) {
	f.Add([]byte("8:0 Read 100\n8:0 Write 4\n8:0 Total 104\nTotal 104\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, w, _ := parseBlkio(b)
		if !bytes.Contains(b, []byte("Read")) && r != 0 || !bytes.Contains(b, []byte("Write")) && w != 0 {
			t.Fatalf("read %d write %d from %q", r, w, b)
		}
	})
}

func FuzzParseFirstPid(f *testing.F) {
	f.Add([]byte("0\n123\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if pid, ok := parseFirstPid(b); ok != (pid > 0) {
			t.Fatalf("pid %d ok %v", pid, ok)
		}
	})
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
