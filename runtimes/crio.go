// SPDX-License-Identifier: Apache-2.0

package runtimes

import (
	"encoding/json"
	"errors"

	"github.com/nodemetrics/nodemetrics/containers"
)

// crioDirs are where CRI-O keeps a container's bundle: the storage run
// root (state.json and config.json) and the graph root (config.json).
var crioDirs = []string{
	"run/containers/storage/overlay-containers",
	"var/lib/containers/storage/overlay-containers",
}

// crio reads the annotations of <dir>/<id>/userdata/{state,config}.json.
func (r *Reader) crio(id string) (containers.Info, error) {
	for _, d := range crioDirs {
		for _, f := range []string{"state.json", "config.json"} {
			var spec ociSpec
			err := readJSON(r.h.RootPath(d, id, "userdata", f), &spec)
			if errors.Is(err, errNotFound) {
				continue
			}
			if err != nil {
				return containers.Info{}, err
			}
			if _, ok := spec.Annotations["io.kubernetes.cri-o.ContainerType"]; !ok {
				// podman's bundle has the same shape: not CRI-O's.
				continue
			}
			return fromCRIO(spec.Annotations), nil
		}
	}
	return containers.Info{}, errNotFound
}

func fromCRIO(a map[string]string) containers.Info {
	info := containers.Info{Runtime: "cri-o", Labels: map[string]string{}}
	// The pod's and container's labels are one JSON object in an
	// annotation; the annotations themselves are labels too.
	var labels map[string]string
	if json.Unmarshal([]byte(a["io.kubernetes.cri-o.Labels"]), &labels) == nil {
		for k, v := range labels {
			info.Labels[k] = v
		}
	}
	for k, v := range a {
		if _, ok := info.Labels[k]; !ok {
			info.Labels[k] = v
		}
	}
	info.Sandbox = a["io.kubernetes.cri-o.ContainerType"] == "sandbox"
	info.Pod, info.Namespace = a["io.kubernetes.pod.name"], a["io.kubernetes.pod.namespace"]
	info.Image = a["io.kubernetes.cri-o.ImageName"]
	if info.Image == "" {
		info.Image = a["io.kubernetes.cri-o.Image"]
	}
	if c := a["io.kubernetes.container.name"]; c != "" && info.Pod != "" {
		info.Name = containers.KubernetesName(info.Namespace, info.Pod, c)
	}
	return info
}
