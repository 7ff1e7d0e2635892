// SPDX-License-Identifier: Apache-2.0

package containers

import (
	"path"
	"strings"
)

// Filter selects the containers published, by name, image and label
// globs (path.Match: '*' does not cross '/', so a Kubernetes name is
// matched as "shop/*/*"; labels as key=glob). A container is published
// when every non-empty include list has an entry it matches and no
// exclude entry matches it. Excluded containers are neither published,
// counted nor reported in events.
type Filter struct {
	IncludeNames, ExcludeNames   []string
	IncludeImages, ExcludeImages []string
	IncludeLabels, ExcludeLabels []string
}

// Allows tells whether a container with this name, image and labels is
// published.
func (f *Filter) Allows(name, image string, labels map[string]string) bool {
	if f == nil {
		return true
	}
	if anyGlob(f.ExcludeNames, name) || anyGlob(f.ExcludeImages, image) || anyLabel(f.ExcludeLabels, labels) {
		return false
	}
	return (len(f.IncludeNames) == 0 || anyGlob(f.IncludeNames, name)) &&
		(len(f.IncludeImages) == 0 || anyGlob(f.IncludeImages, image)) &&
		(len(f.IncludeLabels) == 0 || anyLabel(f.IncludeLabels, labels))
}

func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

// anyLabel: an entry "key" matches when the label is set, "key=glob" when
// its value matches.
func anyLabel(entries []string, labels map[string]string) bool {
	for _, e := range entries {
		k, g, hasGlob := strings.Cut(e, "=")
		v, ok := labels[k]
		if !ok {
			continue
		}
		if !hasGlob {
			return true
		}
		if m, _ := path.Match(g, v); m {
			return true
		}
	}
	return false
}
