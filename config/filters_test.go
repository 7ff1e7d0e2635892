// SPDX-License-Identifier: Apache-2.0

package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestFilterSections: Diamond's comma-separated strings and TOML arrays.
func TestFilterSections(t *testing.T) {
	cfg, err := loadFile(t, `
[network]
interfaces = "eth, bond ,em"
[diskspace]
filesystems = ["ext4", "xfs"]
exclude_filters = "^/export/home, ^/var/lib/docker"
[iostat]
devices = "sd[a-z]+$|nvme[0-9]+n[0-9]+$"
[containers]
include_images = ["registry.local/*/*"]
exclude_labels = "io.kubernetes.pod.namespace=kube-system"
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want []string }{
		{cfg.Network.Interfaces, []string{"eth", "bond", "em"}},
		{cfg.Diskspace.Filesystems, []string{"ext4", "xfs"}},
		{cfg.Diskspace.ExcludeFilters, []string{"^/export/home", "^/var/lib/docker"}},
		{cfg.Containers.IncludeImages, []string{"registry.local/*/*"}},
		{cfg.Containers.ExcludeLabels, []string{"io.kubernetes.pod.namespace=kube-system"}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if cfg.Iostat.Devices != "sd[a-z]+$|nvme[0-9]+n[0-9]+$" {
		t.Errorf("devices %q", cfg.Iostat.Devices)
	}
}

// TestFilterSectionsBad: one line naming the section and key.
func TestFilterSectionsBad(t *testing.T) {
	for body, want := range map[string]string{
		"[network]\ninterfaces = \"eth(\"":               "[network] interfaces: bad regular expression",
		"[diskspace]\nexclude_filters = [\"[a\"]":        "[diskspace] exclude_filters",
		"[iostat]\ndevices = \"sd[\"":                    "[iostat] devices",
		"[containers]\ninclude_names = [\"[x\"]":         "[containers] include_names: bad glob",
		"[containers]\nexclude_labels = [\"=web\"]":      "[containers] exclude_labels wants key or key=glob",
		"[network]\ninterfaces = 5":                      "want a string or an array",
		"[network]\ninterfaces = [1]":                    "want strings",
		"[diskspace]\nfilesystem = [\"ext4\"]":           "unknown key \"diskspace.filesystem\"",
		"[containers]\ninclude_names = \"a\"\nbogus = 1": "unknown key",
	} {
		_, err := loadFile(t, body)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err %v, want a one-line usage error with %q", body, err, want)
		}
	}
}
