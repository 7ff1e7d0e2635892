// SPDX-License-Identifier: Apache-2.0

package runtimes

import (
	"bufio"
	"os"
	"strings"

	"github.com/nodemetrics/nodemetrics/containers"
)

// machine names an nspawn machine by its name, with its image's os-release
// ID as image: read through its leader's root when a pid is known (any
// directory nspawn -D ran), else from machined's record (ROOT=) or
// /var/lib/machines/<name>.
func (r *Reader) machine(ref containers.Ref) (containers.Info, error) {
	info := containers.Info{Runtime: "nspawn", Name: ref.ID}
	var roots []string
	if ref.Pid > 0 {
		roots = append(roots, r.h.ProcPath(itoa(ref.Pid), "root"))
	}
	if root := machinedRoot(r.h.RootPath("run/systemd/machines", ref.ID)); root != "" {
		roots = append(roots, r.h.RootPath(root))
	}
	roots = append(roots, r.h.RootPath("var/lib/machines", ref.ID))
	for _, root := range roots {
		if id := osReleaseID(root); id != "" {
			info.Image = id
			break
		}
	}
	return info, nil
}

// machinedRoot is ROOT= of systemd-machined's record of a machine.
func machinedRoot(path string) string {
	return keyOf(path, "ROOT")
}

// osReleaseID is ID= of the tree's os-release.
func osReleaseID(root string) string {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		if id := keyOf(root+"/"+p, "ID"); id != "" {
			return id
		}
	}
	return ""
}

// keyOf reads KEY=value (value maybe quoted) from an env-style file.
func keyOf(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+"="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}
