// SPDX-License-Identifier: Apache-2.0

package runtimes

import (
	"encoding/json"
	"errors"

	"github.com/nodemetrics/nodemetrics/containers"
)

// podmanStore is containers/storage's list of containers (rootful podman's
// graph root): id, names, and libpod's metadata with the image name.
const podmanStore = "var/lib/containers/storage/overlay-containers/containers.json"

type storageContainer struct {
	ID       string   `json:"id"`
	Names    []string `json:"names"`
	Metadata string   `json:"metadata"`
}

type libpodMetadata struct {
	ImageName string `json:"image-name"`
	Name      string `json:"name"`
}

// podman reads the container's entry in the store; the annotations of its
// bundle's config.json (podman run --annotation) are its labels.
func (r *Reader) podman(id string) (containers.Info, error) {
	var list []storageContainer
	if err := readJSON(r.h.RootPath(podmanStore), &list); err != nil {
		return containers.Info{}, err
	}
	for _, c := range list {
		if c.ID != id {
			continue
		}
		info := containers.Info{Runtime: "podman"}
		var md libpodMetadata
		if c.Metadata != "" {
			json.Unmarshal([]byte(c.Metadata), &md) // not libpod's: no image name
		}
		info.Name, info.Image = md.Name, md.ImageName
		if info.Name == "" && len(c.Names) > 0 {
			info.Name = c.Names[0]
		}
		var spec ociSpec
		err := readJSON(r.h.RootPath("var/lib/containers/storage/overlay-containers", id, "userdata", "config.json"), &spec)
		if err != nil && !errors.Is(err, errNotFound) {
			return info, err
		}
		info.Labels = spec.Annotations
		return info, nil
	}
	return containers.Info{}, errNotFound
}
