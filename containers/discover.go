// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"bytes"
	"os"
	"strings"
	"syscall"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// kind is what a cgroup directory is to discovery.
type kind uint8

const (
	kindDescend   kind = iota // an ordinary cgroup: look inside
	kindContainer             // a container: record it, do not descend
	kindSkip                  // neither (mount units, conmon scopes)
)

// match is a recognised container directory.
type match struct {
	runtime string
	id      []byte // container id (hex) or escaped machine name
	machine bool   // nspawn or machined scope: id is a machine name
}

// walkCtx is what discovery knows about the directory being listed.
type walkCtx struct {
	name   string // the directory's own name
	kube   bool   // below kubepods or kubepods.slice
	pod    string // pod uid when the directory is a pod's cgroup
	podDir bool   // the directory itself is the pod's cgroup
}

// classify recognises the runtimes' cgroup names (docs/metrics.md, Containers):
//
//	docker/<64hex>                                  Docker, cgroupfs driver
//	system.slice/docker-<64hex>.scope               Docker, systemd driver (also in pod slices)
//	.../cri-containerd-<64hex>.scope                containerd CRI, systemd driver
//	.../crio-<64hex>.scope                          CRI-O (crio-conmon-<id>.scope skipped)
//	kubepods[/<qos>]/pod<uid>/<64hex>               Kubernetes, cgroupfs driver
//	machine.slice/libpod-<64hex>.scope              podman
//	system.slice/nerdctl-<64hex>.scope              nerdctl
//	machine.slice/systemd-nspawn@NAME.service       nspawn unit
//	machine.slice/machine-<escaped>.scope           machined registration
func classify(name []byte, ctx *walkCtx) (kind, match) {
	if bytes.HasSuffix(name, []byte(".mount")) {
		return kindSkip, match{}
	}
	if s, ok := bytes.CutSuffix(name, []byte(".scope")); ok {
		for _, p := range scopePrefixes {
			if id, ok := bytes.CutPrefix(s, []byte(p.prefix)); ok && isHexID(id) {
				return kindContainer, match{runtime: p.runtime, id: id}
			}
		}
		if bytes.HasPrefix(s, []byte("crio-conmon-")) || bytes.HasPrefix(s, []byte("libpod-conmon-")) {
			return kindSkip, match{}
		}
		if ctx.name == "machine.slice" {
			if m, ok := bytes.CutPrefix(s, []byte("machine-")); ok && len(m) > 0 {
				return kindContainer, match{runtime: "nspawn", id: m, machine: true}
			}
		}
		return kindDescend, match{}
	}
	if ctx.name == "machine.slice" {
		if s, ok := bytes.CutSuffix(name, []byte(".service")); ok {
			if m, ok := bytes.CutPrefix(s, []byte("systemd-nspawn@")); ok && len(m) > 0 {
				return kindContainer, match{runtime: "nspawn", id: m, machine: true}
			}
		}
	}
	if isHexID(name) {
		if ctx.podDir {
			return kindContainer, match{runtime: "kubernetes", id: name}
		}
		if ctx.name == "docker" {
			return kindContainer, match{runtime: "docker", id: name}
		}
	}
	return kindDescend, match{}
}

var scopePrefixes = []struct{ prefix, runtime string }{
	{"docker-", "docker"},
	{"cri-containerd-", "containerd"},
	{"crio-", "cri-o"},
	{"libpod-", "podman"},
	{"nerdctl-", "nerdctl"},
}

// child is the context of a subdirectory name of the directory ctx.
func (ctx walkCtx) child(name string) walkCtx {
	c := walkCtx{name: name, kube: ctx.kube || name == "kubepods" || name == "kubepods.slice"}
	if !ctx.kube {
		return c
	}
	if s, ok := strings.CutSuffix(name, ".slice"); ok {
		// kubepods-burstable-pod1b2c_33.slice: the uid with '_' for '-'.
		if i := strings.LastIndex(s, "-pod"); i >= 0 && i+4 < len(s) {
			c.pod = strings.ReplaceAll(s[i+4:], "_", "-")
			c.podDir = true
		}
		return c
	}
	if u, ok := strings.CutPrefix(name, "pod"); ok && u != "" {
		c.pod, c.podDir = u, true
	}
	return c
}

// isHexID accepts a full 64-hex container id (what Docker, containerd,
// CRI-O, podman and nerdctl use); shorter hex names are too likely to be
// something else.
func isHexID(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// unescapeUnit undoes systemd's unit name escaping (\x2d for '-', any
// \xHH) of machine names.
func unescapeUnit(s string) string {
	if !strings.Contains(s, `\x`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if hi, lo := unhex(s[i+2]), unhex(s[i+3]); hi >= 0 && lo >= 0 {
				b.WriteByte(byte(hi<<4 | lo))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

const maxDepth = 8

// walker lists cgroup directories with getdents into a reused buffer, so a
// steady-state walk allocates only for the non-container directories it
// descends into, not per container.
type walker struct {
	dbuf    []byte
	pending [maxDepth + 1][]string
}

// finder receives the directories a walk lists (listing, before it
// lists them) and the container directories it finds: name is the
// container's directory in abs, only valid during the call.
type finder interface {
	listing(abs string, depth int, ctx walkCtx)
	found(name []byte, m match, ctx *walkCtx, abs string)
}

// walk lists abs (at depth below the root) and calls found for every
// container directory; ordinary directories are walked in turn.
func (w *walker) walk(abs string, ctx walkCtx, depth int, f finder) error {
	f.listing(abs, depth, ctx)
	fd, err := syscall.Open(abs, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: abs, Err: err}
	}
	if w.dbuf == nil {
		w.dbuf = make([]byte, 32<<10)
	}
	pend := w.pending[depth][:0]
	// A listing that fails midway keeps what it listed.
	_ = kernfile.Dirents(fd, w.dbuf, func(name []byte, typ uint8) {
		if typ != syscall.DT_DIR && typ != syscall.DT_UNKNOWN {
			return
		}
		switch k, m := classify(name, &ctx); k {
		case kindContainer:
			f.found(name, m, &ctx, abs)
		case kindDescend:
			if depth < maxDepth && (typ == syscall.DT_DIR || kernfile.IsDir(abs, name)) {
				pend = append(pend, string(name))
			}
		}
	})
	syscall.Close(fd)
	w.pending[depth] = pend
	for i := 0; i < len(pend); i++ {
		name := w.pending[depth][i]
		// A directory that vanished between listing and opening is fine.
		_ = w.walk(abs+"/"+name, ctx.child(name), depth+1, f)
	}
	clear(w.pending[depth])
	return nil
}
