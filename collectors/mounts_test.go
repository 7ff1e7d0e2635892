// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

func mountStrings(ms []mountEntry) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s|%s|%s\n", m.Device, m.MountPoint, m.FSType)
	}
	return b.String()
}

func TestParseMountInfo(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n",
			want: "/dev/root|/mnt2|ext3\n"},
		{in: "41 26 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 master:2 - ext4 /dev/vda rw\n" +
			"27 26 8:17 / /mnt/a\\040b rw - xfs /dev/sdb1 rw\n\n" +
			"30 26 0:51 / /srv/nfs rw - nfs4 fileserver:/export rw\n",
			want: "/dev/vda|/var/lib/docker|ext4\n/dev/sdb1|/mnt/a\\040b|xfs\nfileserver:/export|/srv/nfs|nfs4\n"},
		// no super options (old kernels may print none)
		{in: "1 0 8:1 / / rw - ext4 /dev/sda1", want: "/dev/sda1|/|ext4\n"},
		{in: "", want: ""},
		// nsfs: the root is not a path (Docker's network namespaces)
		{in: "612 29 0:4 net:[4026532290] /run/docker/netns/ab rw shared:300 - nsfs nsfs rw\n",
			want: "nsfs|/run/docker/netns/ab|nsfs\n"},
		{in: "garbage\n1 0 8:1 / / rw - ext4 /dev/sda1 rw\n", want: "/dev/sda1|/|ext4\n", wantErr: true},
		{in: "1 0 8:1 / / rw ext4 /dev/sda1 rw\n", wantErr: true},          // no separator
		{in: "1 0 8:1 / / rw -\n", wantErr: true},                          // nothing after it
		{in: "1 0 8:1 / / rw - ext4\n", wantErr: true},                     // no source
		{in: "x 0 8:1 / / rw - ext4 /dev/sda1 rw\n", wantErr: true},        // bad id
		{in: "1 y 8:1 / / rw - ext4 /dev/sda1 rw\n", wantErr: true},        // bad parent
		{in: "1 0 8-1 / / rw - ext4 /dev/sda1 rw\n", wantErr: true},        // bad major:minor
		{in: "1 0 8:x / / rw - ext4 /dev/sda1 rw\n", wantErr: true},        // bad minor
		{in: "1 0 8:1 / relative rw - ext4 /dev/sda1 rw\n", wantErr: true}, // relative mount point
		{in: "1 0 8:1 / /\n", wantErr: true},
	} {
		got, err := parseMountInfo([]byte(tc.in), nil)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseMountInfo(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
		if s := mountStrings(got); s != tc.want {
			t.Errorf("parseMountInfo(%q) =\n%s\nwant\n%s", tc.in, s, tc.want)
		}
	}
}

func TestParseMounts(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "rootfs / rootfs rw 0 0\n/dev/sda1 / ext4 rw,relatime 0 0\n",
			want: "rootfs|/|rootfs\n/dev/sda1|/|ext4\n"},
		{in: "/dev/sdb1 /mnt/a\\040b ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0", want: "/dev/sdb1|/mnt/a\\040b|ext4\ntmpfs|/tmp|tmpfs\n"},
		{in: "/dev/sda1 / ext4", want: "/dev/sda1|/|ext4\n"},
		{in: "\n   \n", want: ""},
		{in: "short\n/dev/sda1 / ext4 rw 0 0\n/dev/x /y\n", want: "/dev/sda1|/|ext4\n", wantErr: true},
	} {
		got, err := parseMounts([]byte(tc.in), nil)
		if (err != nil) != tc.wantErr {
			t.Errorf("parseMounts(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
		if s := mountStrings(got); s != tc.want {
			t.Errorf("parseMounts(%q) =\n%s\nwant\n%s", tc.in, s, tc.want)
		}
	}
}

func TestParseMountInfoReal(t *testing.T) {
	b, err := os.ReadFile("testdata/diskspace/real/proc/1/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseMountInfo(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); len(got) != n {
		t.Errorf("%d mounts, want %d", len(got), n)
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		"/mnt/a\\040b": "/mnt/a b", "/a\\134b": "/a\\b", "/t\\011x\\012": "/t\tx\n", "/plain": "/plain",
		"/bad\\04": "/bad\\04", "/bad\\999": "/bad\\999", "/big\\777": "/big\\777", "\\": "\\", "/x\\": "/x\\",
	} {
		if got := unescapeMount([]byte(in)); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseMountInfo(f *testing.F) {
	b, _ := os.ReadFile("testdata/diskspace/real/proc/1/mountinfo")
	f.Add(b)
	f.Add([]byte("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw\n"))
	f.Add([]byte("1 0 8:1 / / rw -\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _ := parseMountInfo(b, nil)
		if len(got) > bytes.Count(b, []byte("\n"))+1 {
			t.Fatalf("%d mounts from %d lines", len(got), bytes.Count(b, []byte("\n"))+1)
		}
		for _, m := range got {
			if len(m.Device) == 0 || len(m.FSType) == 0 || len(m.MountPoint) == 0 || m.MountPoint[0] != '/' {
				t.Fatalf("bad entry %q %q %q", m.Device, m.MountPoint, m.FSType)
			}
			unescapeMount(m.MountPoint)
		}
	})
}

func FuzzParseMounts(f *testing.F) {
	f.Add([]byte("/dev/sda1 / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n"))
	f.Add([]byte("short\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _ := parseMounts(b, nil)
		for _, m := range got {
			if len(m.Device) == 0 || len(m.FSType) == 0 || len(m.MountPoint) == 0 {
				t.Fatalf("bad entry %q %q %q", m.Device, m.MountPoint, m.FSType)
			}
			if u := unescapeMount(m.MountPoint); len(u) > len(m.MountPoint) {
				t.Fatalf("unescape grew %q to %q", m.MountPoint, u)
			}
		}
	})
}
