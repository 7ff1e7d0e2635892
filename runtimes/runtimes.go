// SPDX-License-Identifier: Apache-2.0

// Package runtimes names containers from the container runtimes' own state
// files, read through the host's root (--rootfs), never through a runtime's
// API: it works whether or not a socket is reachable, and costs one small
// file read per container when it appears (the containers collector asks
// once per container, off its cycle).
//
//	containerd (CRI, k3s, Docker's embedded one)  run/.../io.containerd.runtime.v2.task/<ns>/<id>/config.json
//	CRI-O                                         run/containers/storage/overlay-containers/<id>/userdata/{state,config}.json
//	podman                                        var/lib/containers/storage/overlay-containers/containers.json
//	Docker                                        <data-root>/containers/<id>/config.v2.json
//	systemd-nspawn                                the machine's os-release (its leader's root, or its image directory)
//
// Kubernetes containers are named namespace/pod/container on every runtime;
// a pod's sandbox (pause) container is marked so that it is not published.
package runtimes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/containers"
)

// Reader resolves containers from the state files below the host root.
type Reader struct {
	h   collect.Host
	log *slog.Logger
}

// New reads state files below h.Root, and a machine's leader's root
// through h.Proc.
func New(h collect.Host, log *slog.Logger) *Reader {
	if log == nil {
		log = slog.Default()
	}
	return &Reader{h: h, log: log}
}

// maxStateFile bounds a state file read (an OCI spec is a few KB; podman's
// containers.json grows with the containers of the host).
const maxStateFile = 16 << 20

// Resolve implements containers.Resolver.
func (r *Reader) Resolve(ref containers.Ref) (containers.Info, bool) {
	var (
		info containers.Info
		err  error
	)
	switch ref.Runtime {
	case "docker":
		info, err = r.docker(ref.ID)
	case "containerd", "nerdctl":
		info, err = r.containerd(ref.ID)
	case "cri-o":
		info, err = r.crio(ref.ID)
	case "podman":
		info, err = r.podman(ref.ID)
	case "nspawn":
		info, err = r.machine(ref)
	case "kubernetes":
		// The cgroupfs kubepods shape does not say which runtime made it.
		for _, f := range []func(string) (containers.Info, error){r.containerd, r.crio, r.docker} {
			if info, err = f(ref.ID); !errors.Is(err, errNotFound) {
				break
			}
		}
	default:
		return info, false
	}
	if err != nil {
		if !errors.Is(err, errNotFound) {
			r.log.Warn("container state file unreadable", "runtime", ref.Runtime, "id", ref.ID, "err", err)
		}
		return info, false
	}
	return info, true
}

var errNotFound = errors.New("no state file")

// readJSON decodes a state file; a missing one is errNotFound.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errNotFound
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > maxStateFile {
		return fmt.Errorf("%s: %d bytes, more than a state file has", path, fi.Size())
	}
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ociSpec is the part of an OCI runtime config.json (or CRI-O's
// state.json) we read.
type ociSpec struct {
	Annotations map[string]string `json:"annotations"`
}

// itoa keeps strconv out of the callers.
func itoa(n int) string { return strconv.Itoa(n) }

func join(elem ...string) string { return filepath.Join(elem...) }
