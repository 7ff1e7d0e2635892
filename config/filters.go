// SPDX-License-Identifier: Apache-2.0

package config

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// Per-collector sections of the config file, with Diamond's option names
// and meaning (README, "Coming from Diamond"):
//
//	[network]     interfaces        NetworkCollector: regexes matched at the interface name's start
//	[diskspace]   filesystems       DiskSpaceCollector: file system types
//	              exclude_filters   DiskSpaceCollector: regexes searched in the mount point
//	[iostat]      devices           DiskUsageCollector: a regex matched at the device name's start
//	[containers]  include_names, exclude_names, include_images, exclude_images,
//	              include_labels, exclude_labels: globs (labels: key or key=glob)
//
// A list is a TOML array or, as in diamond.conf, one comma-separated string.

// NetworkSection is [network].
type NetworkSection struct {
	Interfaces List `toml:"interfaces"`
}

// DiskspaceSection is [diskspace].
type DiskspaceSection struct {
	Filesystems    List `toml:"filesystems"`
	ExcludeFilters List `toml:"exclude_filters"`
}

// IostatSection is [iostat].
type IostatSection struct {
	Devices string `toml:"devices"`
}

// ContainersSection is [containers].
type ContainersSection struct {
	IncludeNames  List `toml:"include_names"`
	ExcludeNames  List `toml:"exclude_names"`
	IncludeImages List `toml:"include_images"`
	ExcludeImages List `toml:"exclude_images"`
	IncludeLabels List `toml:"include_labels"`
	ExcludeLabels List `toml:"exclude_labels"`
}

// List is a TOML array of strings or one comma-separated string.
type List []string

// UnmarshalTOML accepts "a, b" and ["a", "b"].
func (l *List) UnmarshalTOML(v any) error {
	*l = (*l)[:0]
	switch x := v.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*l = append(*l, s)
			}
		}
		return nil
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want strings, got %v", e)
			}
			*l = append(*l, s)
		}
		return nil
	}
	return fmt.Errorf("want a string or an array of strings, got %v", v)
}

func validateFilters(c *Config) error {
	for _, r := range []struct {
		key string
		res []string
	}{
		{"[network] interfaces", c.Network.Interfaces},
		{"[diskspace] exclude_filters", c.Diskspace.ExcludeFilters},
		{"[iostat] devices", []string{c.Iostat.Devices}},
	} {
		for _, re := range r.res {
			if _, err := regexp.Compile(re); err != nil {
				return usagef("%s: bad regular expression %q: %v", r.key, re, err)
			}
		}
	}
	cs := &c.Containers
	for _, g := range []struct {
		key   string
		globs []string
	}{
		{"include_names", cs.IncludeNames}, {"exclude_names", cs.ExcludeNames},
		{"include_images", cs.IncludeImages}, {"exclude_images", cs.ExcludeImages},
	} {
		for _, x := range g.globs {
			if _, err := path.Match(x, ""); err != nil {
				return usagef("[containers] %s: bad glob %q", g.key, x)
			}
		}
	}
	for _, g := range []struct {
		key     string
		entries []string
	}{{"include_labels", cs.IncludeLabels}, {"exclude_labels", cs.ExcludeLabels}} {
		for _, e := range g.entries {
			k, x, _ := strings.Cut(e, "=")
			if _, err := path.Match(x, ""); k == "" || err != nil {
				return usagef("[containers] %s wants key or key=glob, got %q", g.key, e)
			}
		}
	}
	return nil
}
