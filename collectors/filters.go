// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"fmt"
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

// filtered is the New of the network, diskspace or iostat row: newC, then
// the filters. filters is called when the collector is built (after the
// configuration is read); nil keeps Diamond's defaults.
func filtered(newC func(collect.Deps) (collect.Collector, error), filters func() Filters) func(collect.Deps) (collect.Collector, error) {
	return func(d collect.Deps) (collect.Collector, error) {
		col, err := newC(d)
		if err != nil || filters == nil {
			return col, err
		}
		f := filters()
		c, err := f.compile()
		if err != nil {
			return nil, err
		}
		switch col := col.(type) {
		case *network:
			if c.interfaces != nil {
				col.wanted = c.interfaces.Match
			}
		case *diskspace:
			if len(f.Filesystems) > 0 {
				col.filesystems = f.Filesystems
			}
			if c.exclude != nil {
				col.exclude = c.exclude
			}
		case *iostat:
			if c.devices != nil {
				col.wanted = c.devices.Match
			}
		}
		return col, nil
	}
}
