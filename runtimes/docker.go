// SPDX-License-Identifier: Apache-2.0

package runtimes

import (
	"errors"
	"path/filepath"
	"strings"

	"github.com/nodemetrics/nodemetrics/containers"
)

// dockerConfig is the part of Docker's <data-root>/containers/<id>/config.v2.json we read.
type dockerConfig struct {
	Name   string `json:"Name"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	State struct {
		Pid int `json:"Pid"`
	} `json:"State"`
}

// dockerRoot is Docker's data root: daemon.json's data-root (or the old
// "graph"), else /var/lib/docker.
func (r *Reader) dockerRoot() string {
	var d struct {
		DataRoot string `json:"data-root"`
		Graph    string `json:"graph"`
	}
	if readJSON(r.h.RootPath("etc/docker/daemon.json"), &d) == nil {
		for _, p := range []string{d.DataRoot, d.Graph} {
			if filepath.IsAbs(p) {
				return p
			}
		}
	}
	return "/var/lib/docker"
}

// docker reads config.v2.json: what the Engine API would say, when its
// socket is absent or refused.
func (r *Reader) docker(id string) (containers.Info, error) {
	var c dockerConfig
	err := readJSON(r.h.RootPath(r.dockerRoot(), "containers", id, "config.v2.json"), &c)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return containers.Info{}, errNotFound
		}
		return containers.Info{}, err
	}
	info := containers.Info{Runtime: "docker", Name: strings.TrimPrefix(c.Name, "/"),
		Image: c.Config.Image, Labels: c.Config.Labels, Pid: c.State.Pid}
	containers.KubeletLabels(&info)
	return info, nil
}
