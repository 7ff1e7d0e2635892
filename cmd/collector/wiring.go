// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/collectors"
	"github.com/nodemetrics/nodemetrics/config"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/docker"
	"github.com/nodemetrics/nodemetrics/events"
	"github.com/nodemetrics/nodemetrics/runtimes"
	"github.com/nodemetrics/nodemetrics/services"
)

// collectorTable is every collector, once, in publishing order. The table
// exists before the configuration is read (--list, the names --collectors
// accepts); a row's dependencies come from w when agent.New builds the
// collector, which it does only for the selected ones.
func collectorTable(w *wiring) []collect.Factory {
	table := collectors.Registry(w.hostFilters)
	table = append(table, containers.Factory(w.containerOptions))
	table = append(table, collectors.CgroupCompat()...)
	return append(table, docker.DiamondFactory(w.dockerCache), services.Factory(w.serviceOptions))
}

// wiring makes what the collectors need from the configuration, and what
// several of them share (the Docker API cache, the event dispatcher, the
// containers' list for services) once, when the first selected collector
// that needs it is built: a host-only agent never opens the audit file
// nor talks to Docker.
type wiring struct {
	cfg      *config.Config
	hostname string
	socket   string          // the Docker API socket
	selected map[string]bool // the collectors built
	log      *slog.Logger

	cache  *docker.Cache      // containers, docker
	events *events.Dispatcher // containers, and the cache's Docker events
	known  *containers.Known  // containers -> services

	stopLoops func() // set by start
}

func (w *wiring) hostFilters() collectors.Filters {
	return collectors.Filters{
		Interfaces: w.cfg.Network.Interfaces, Filesystems: w.cfg.Diskspace.Filesystems,
		ExcludeFilters: w.cfg.Diskspace.ExcludeFilters, Devices: w.cfg.Iostat.Devices,
	}
}

// dockerCache is the one Docker API cache, made with the one event
// dispatcher.
func (w *wiring) dockerCache() (*docker.Cache, error) {
	if w.cache != nil {
		return w.cache, nil
	}
	var cache *docker.Cache
	disp, err := events.New(events.Options{
		Host: w.hostname, URL: w.cfg.EventsURL, AuditFile: w.cfg.AuditFile, Logger: w.log,
		// The Docker stream reports Docker's containers (with exit codes):
		// their cgroup events would be doubles.
		Suppress: func(ev events.Event) bool {
			return ev.Source == events.SourceCgroup && ev.Runtime == "docker" && cache.Live()
		},
	})
	if err != nil {
		return nil, err
	}
	opts := docker.Options{Interval: time.Duration(w.cfg.Interval), Images: w.selected["docker"], Logger: w.log}
	if !w.cfg.Once {
		opts.Events = disp
	}
	cache = docker.NewCache(docker.NewClient(w.socket), opts)
	w.cache, w.events = cache, disp
	return cache, nil
}

func (w *wiring) containerOptions() (containers.Options, error) {
	cache, err := w.dockerCache()
	if err != nil {
		return containers.Options{}, err
	}
	host := collect.Host{Proc: w.cfg.Procfs, Sys: w.cfg.Sysfs, Root: w.cfg.Rootfs}
	return containers.Options{
		MaxContainers: w.cfg.MaxContainers, Namer: cache, Events: w.events, Resolver: runtimes.New(host, w.log),
		Tags: w.cfg.Tags, TagLabels: w.cfg.TagLabels, Hostname: w.hostname, Known: w.containerList(),
		Filter: containerFilter(w.cfg.Containers),
	}, nil
}

// containerList is what the containers collector published, for the
// services collector; nil unless both run.
func (w *wiring) containerList() *containers.Known {
	if !w.selected["containers"] || !w.selected["services"] {
		return nil
	}
	if w.known == nil {
		w.known = containers.NewKnown()
	}
	return w.known
}

// serviceOptions are the [[service]] rules and, when the containers
// collector runs, its list of containers.
func (w *wiring) serviceOptions() services.Options {
	opts := services.Options{Tags: w.cfg.Tags}
	if known := w.containerList(); known != nil {
		opts.Containers = known
	}
	for _, s := range w.cfg.Services {
		opts.Rules = append(opts.Rules, services.Rule{
			Kind: services.Kind(s.Kind), Host: s.Host, Container: s.Container, Image: s.Image, Label: s.Label,
			Port: s.Port, Socket: s.Socket, User: s.User, Password: s.Password, Database: s.Database,
			Path: s.Path, Timeout: time.Duration(s.Timeout),
		})
	}
	return opts
}

// start runs the background loops of what was made: a warm-up refresh of
// the Docker cache (names for the first cycle; bounded, so nothing waits
// long for the daemon), then, unless --once, the cache's refresh and event
// loop and the dispatcher.
func (w *wiring) start(ctx context.Context) {
	if w.cache == nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := w.cache.Refresh(wctx); err != nil {
		w.log.Debug("docker API not available at start", "socket", w.socket, "err", err)
	}
	cancel()
	if w.cfg.Once {
		return
	}
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { w.cache.Run(ctx); done <- struct{}{} }()
	go func() { w.events.Run(ctx); done <- struct{}{} }()
	w.stopLoops = func() {
		cancel()
		<-done
		<-done
	}
}

// stop gives the queued events a moment to reach graphite-web, stops the
// loops and closes the dispatcher (its audit file).
func (w *wiring) stop() {
	if w.events == nil {
		return
	}
	if w.stopLoops != nil {
		deadline := time.Now().Add(3 * time.Second)
		for w.events.Pending() > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		w.stopLoops()
	}
	w.events.Close()
}

// selectCollectors is the rows --collectors names, else the default ones,
// plus Diamond's container collectors switched on by their config keys.
func selectCollectors(table []collect.Factory, cfg *config.Config) []collect.Factory {
	var out []collect.Factory
	for _, f := range table {
		if (len(cfg.Collectors) == 0 && f.Default) || contains(cfg.Collectors, f.Name) || compatOn(cfg, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

// compatOn: Diamond's cgroup and docker collectors are off by default and
// switched on by their config keys (docs/metrics.md, Diamond's container collectors).
func compatOn(cfg *config.Config, name string) bool {
	switch name {
	case "cpuacct_cgroup":
		return cfg.CpuacctCgroup
	case "memory_cgroup":
		return cfg.MemoryCgroup
	case "docker":
		return cfg.Docker
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// containerFilter is the [containers] section as the collector's Filter,
// nil when it selects nothing.
func containerFilter(c config.ContainersSection) *containers.Filter {
	f := &containers.Filter{
		IncludeNames: c.IncludeNames, ExcludeNames: c.ExcludeNames,
		IncludeImages: c.IncludeImages, ExcludeImages: c.ExcludeImages,
		IncludeLabels: c.IncludeLabels, ExcludeLabels: c.ExcludeLabels,
	}
	if len(f.IncludeNames)+len(f.ExcludeNames)+len(f.IncludeImages)+len(f.ExcludeImages)+len(f.IncludeLabels)+len(f.ExcludeLabels) == 0 {
		return nil
	}
	return f
}
