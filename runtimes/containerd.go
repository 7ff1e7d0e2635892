// SPDX-License-Identifier: Apache-2.0

package runtimes

import (
	"errors"
	"os"

	"github.com/nodemetrics/nodemetrics/containers"
)

// taskRoots are the containerd v2 shim state roots, below the host root:
// a standalone containerd, k3s's, and the one the Docker Engine runs.
// Each holds <namespace>/<id>/config.json, the OCI bundle's spec.
var taskRoots = []string{
	"run/containerd/io.containerd.runtime.v2.task",
	"run/k3s/containerd/io.containerd.runtime.v2.task",
	"run/docker/containerd/daemon/io.containerd.runtime.v2.task",
}

// CRI annotations containerd's CRI plugin writes into every spec.
const (
	criType      = "io.kubernetes.cri.container-type" // "sandbox" or "container"
	criPod       = "io.kubernetes.cri.sandbox-name"
	criNamespace = "io.kubernetes.cri.sandbox-namespace"
	criName      = "io.kubernetes.cri.container-name"
	criImage     = "io.kubernetes.cri.image-name"
)

// containerd finds id's bundle in any namespace of any task root.
func (r *Reader) containerd(id string) (containers.Info, error) {
	for _, tr := range taskRoots {
		root := r.h.RootPath(tr)
		nss, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, ns := range nss {
			var spec ociSpec
			err := readJSON(join(root, ns.Name(), id, "config.json"), &spec)
			if errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return containers.Info{}, err
			}
			return fromContainerd(spec.Annotations), nil
		}
	}
	return containers.Info{}, errNotFound
}

func fromContainerd(a map[string]string) containers.Info {
	info := containers.Info{Runtime: "containerd", Labels: a}
	if t, ok := a[criType]; ok {
		info.Sandbox = t == "sandbox"
		info.Pod, info.Namespace, info.Image = a[criPod], a[criNamespace], a[criImage]
		if c := a[criName]; c != "" && info.Pod != "" {
			info.Name = containers.KubernetesName(info.Namespace, info.Pod, c)
		}
		return info
	}
	// nerdctl keeps its container name in an annotation.
	info.Name = a["nerdctl/name"]
	return info
}
