// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/nodemetrics/nodemetrics/collect"
)

// Filters are Diamond's selection options of the network, diskspace and
// iostat collectors, with Diamond's names and meaning (README, Migrating
// from Diamond). A zero field keeps Diamond's default.
type Filters struct {
	// Interfaces is NetworkCollector's interfaces: each entry a regular
	// expression matched at the start of the interface name (Diamond
	// joins them into ^((?:eth|bond|...)[^:]*):).
	Interfaces []string
	// Filesystems is DiskSpaceCollector's filesystems: the file system
	// types published.
	Filesystems []string
	// ExcludeFilters is DiskSpaceCollector's exclude_filters: regular
	// expressions searched in the mount point (anywhere, as re.search).
	ExcludeFilters []string
	// Devices is DiskUsageCollector's devices: one regular expression
	// matched at the start of the device name (re.match).
	Devices string
}

// compiled are the Filters' regular expressions, nil where the default
// applies.
type compiled struct {
	interfaces, exclude, devices *regexp.Regexp
}

func (f Filters) compile() (compiled, error) {
	var c compiled
	var err error
	if len(f.Interfaces) > 0 {
		if c.interfaces, err = regexp.Compile("^(?:" + strings.Join(f.Interfaces, "|") + ")"); err != nil {
			return c, fmt.Errorf("network interfaces: %w", err)
		}
	}
	if len(f.ExcludeFilters) > 0 {
		if c.exclude, err = regexp.Compile(strings.Join(f.ExcludeFilters, "|")); err != nil {
			return c, fmt.Errorf("diskspace exclude_filters: %w", err)
		}
	}
	if f.Devices != "" {
		if c.devices, err = regexp.Compile("^(?:" + f.Devices + ")"); err != nil {
			return c, fmt.Errorf("iostat devices: %w", err)
		}
	}
	return c, nil
}

// Configure returns reg with the network, diskspace and iostat rows
// built with f (the other rows as they are).
func Configure(reg []collect.Factory, f Filters) ([]collect.Factory, error) {
	c, err := f.compile()
	if err != nil {
		return nil, err
	}
	out := append([]collect.Factory(nil), reg...)
	for i := range out {
		newDefault := out[i].New
		switch out[i].Name {
		case "network":
			if c.interfaces != nil {
				out[i].New = func(h collect.Host, log *slog.Logger) (collect.Collector, error) {
					col, err := newDefault(h, log)
					if n, ok := col.(*network); ok {
						n.wanted = c.interfaces.Match
					}
					return col, err
				}
			}
		case "diskspace":
			out[i].New = func(h collect.Host, log *slog.Logger) (collect.Collector, error) {
				col, err := newDefault(h, log)
				if d, ok := col.(*diskspace); ok {
					if len(f.Filesystems) > 0 {
						d.filesystems = f.Filesystems
					}
					if c.exclude != nil {
						d.exclude = c.exclude
					}
				}
				return col, err
			}
		case "iostat":
			if c.devices != nil {
				out[i].New = func(h collect.Host, log *slog.Logger) (collect.Collector, error) {
					col, err := newDefault(h, log)
					if d, ok := col.(*iostat); ok {
						d.wanted = c.devices.Match
					}
					return col, err
				}
			}
		}
	}
	return out, nil
}
