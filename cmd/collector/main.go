// SPDX-License-Identifier: Apache-2.0

// Command collector is the node metrics agent: it reads the host's /proc,
// /sys and mounts every interval and sends Diamond-compatible Graphite
// plaintext to Carbon. This file only wires the packages together.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/nodemetrics/nodemetrics/agent"
	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/collectors"
	"github.com/nodemetrics/nodemetrics/config"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/docker"
	"github.com/nodemetrics/nodemetrics/events"
	"github.com/nodemetrics/nodemetrics/runtimes"
	"github.com/nodemetrics/nodemetrics/services"
)

// version is stamped by the build (-ldflags "-X main.version=...").
var version = "dev"

// flushTimeout bounds how long a stopping agent waits for Carbon.
const flushTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	registry := append(collectors.Registry(), containers.Factory(containers.Options{}))
	registry = append(registry, collectors.CgroupCompat()...)
	registry = append(registry, docker.DiamondFactory(nil), services.Factory(services.Options{}))
	names := make([]string, len(registry))
	for i, f := range registry {
		names[i] = f.Name
	}
	cfg, err := config.Load(args, names, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	if cfg.Help {
		return 0
	}
	if cfg.Version {
		fmt.Fprintf(stdout, "collector %s\n", version)
		return 0
	}
	// Checked whatever collectors are on: a mistake must not wait for the
	// day someone switches the docker collector on.
	socket, err := docker.SocketPath(cfg.DockerHost, cfg.Procfs)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	if cfg.List {
		for _, f := range registry {
			for _, p := range f.Paths {
				fmt.Fprintf(stdout, "%-11s %s\n", f.Name, p)
			}
		}
		return 0
	}
	level, _ := config.ParseLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	hostname := cfg.Hostname
	if hostname == "" {
		if hostname, err = agent.SmartHostname(); err != nil {
			fmt.Fprintf(stderr, "collector: cannot learn the hostname, pass --hostname: %v\n", err)
			return 2
		}
	}
	registry, err = collectors.Configure(registry, collectors.Filters{
		Interfaces: cfg.Network.Interfaces, Filesystems: cfg.Diskspace.Filesystems,
		ExcludeFilters: cfg.Diskspace.ExcludeFilters, Devices: cfg.Iostat.Devices,
	})
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	var factories []collect.Factory
	for _, f := range registry {
		if (len(cfg.Collectors) == 0 && f.Default) || contains(cfg.Collectors, f.Name) || compatOn(cfg, f.Name) {
			factories = append(factories, f)
		}
	}
	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	known := containers.NewKnown()
	dock, err := wireContainers(bg, &cfg, socket, hostname, factories, known, log)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	defer dock.stop()
	wireServices(cfg, factories, known)
	opts := agent.Options{
		Host:      collect.Host{Proc: cfg.Procfs, Sys: cfg.Sysfs, Root: cfg.Rootfs},
		Factories: factories,
		Prefix:    cfg.Prefix,
		Hostname:  hostname,
		Interval:  time.Duration(cfg.Interval),
		Raw:       cfg.Counters,
		StateFile: cfg.StateFile,
		Logger:    log,
	}

	var out agent.Output
	var snd *sending
	if cfg.Output == "-" {
		out = &agent.WriterOutput{W: stdout}
	} else {
		if snd, err = startSenders(&cfg, log); err != nil {
			fmt.Fprintf(stderr, "collector: %v\n", err)
			return 2
		}
		defer snd.stop(0)
		opts.SenderStats = snd.senders.Stats
		out = snd.senders
	}
	a, err := agent.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	defer a.Close()
	log.Info("starting", "version", version, "host", hostname, "interval", opts.Interval,
		"collectors", len(factories), "once", cfg.Once)
	if cfg.Once {
		t := time.Now()
		if cfg.Timestamp > 0 {
			t = time.Unix(cfg.Timestamp, 0)
		}
		a.Cycle(ctx, t, t.Unix(), opts.Interval, out)
	} else {
		// The first finished cycle tells systemd (through nspawn's
		// --notify-ready=yes) that we are up; later ones refresh STATUS.
		// A loop stalled for 5 intervals exits 3 so the unit restarts.
		wd := agent.NewWatchdog(5 * opts.Interval)
		go wd.Run(ctx, stallExit(snd, log, os.Exit))
		cycles := 0
		a.Run(ctx, out, func() {
			wd.Beat()
			cycles++
			if cycles == 1 {
				daemon.SdNotify(false, daemon.SdNotifyReady)
			}
			daemon.SdNotify(false, fmt.Sprintf("STATUS=%d cycles", cycles))
		})
	}
	if err := snd.stop(flushTimeout); err != nil {
		if cfg.Once {
			// One line a cron mail shows: how much was lost and why.
			fmt.Fprintf(stderr, "collector: %v (no spool: --spool-dir keeps them for the next run)\n", err)
			return 1
		}
		log.Error("stopping with unsent metrics", "err", err)
	}
	if w, ok := out.(*agent.WriterOutput); ok && w.Err != nil {
		fmt.Fprintf(stderr, "collector: write output: %v\n", w.Err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// compatOn: Diamond's cgroup and docker collectors are off by default and
// switched on by their config keys (docs/metrics.md, Diamond's container collectors).
func compatOn(cfg config.Config, name string) bool {
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

// dockerWiring is what wireContainers started.
type dockerWiring struct {
	events *events.Dispatcher
	stop   func()
}

// wireContainers connects the containers and docker rows of factories (in
// place) to one Docker API cache and one event dispatcher, and starts their
// background loops on ctx. Nothing here waits for the daemon longer than
// the bounded warm-up before the first cycle.
func wireContainers(ctx context.Context, cfg *config.Config, socket, hostname string, factories []collect.Factory, known *containers.Known, log *slog.Logger) (*dockerWiring, error) {
	ci, di := -1, -1
	for i, f := range factories {
		switch f.Name {
		case "containers":
			ci = i
		case "docker":
			di = i
		}
	}
	w := &dockerWiring{stop: func() {}}
	if ci < 0 && di < 0 {
		return w, nil
	}
	client := docker.NewClient(socket)
	var cache *docker.Cache
	disp, err := events.New(events.Options{
		Host: hostname, URL: cfg.EventsURL, AuditFile: cfg.AuditFile, Logger: log,
		// The Docker stream reports Docker's containers (with exit codes):
		// their cgroup events would be doubles.
		Suppress: func(ev events.Event) bool {
			return ev.Source == events.SourceCgroup && ev.Runtime == "docker" && cache.Live()
		},
	})
	if err != nil {
		return nil, err
	}
	w.events = disp
	copts := docker.Options{Interval: time.Duration(cfg.Interval), Images: di >= 0, Logger: log}
	if !cfg.Once {
		copts.Events = disp
	}
	cache = docker.NewCache(client, copts)
	if ci >= 0 {
		host := collect.Host{Proc: cfg.Procfs, Sys: cfg.Sysfs, Root: cfg.Rootfs}
		factories[ci] = containers.Factory(containers.Options{
			MaxContainers: cfg.MaxContainers, Namer: cache, Events: disp, Resolver: runtimes.New(host, log),
			Tags: cfg.Tags, TagLabels: cfg.TagLabels, Hostname: hostname, Known: known,
			Filter: containerFilter(cfg.Containers),
		})
	}
	if di >= 0 {
		factories[di] = docker.DiamondFactory(cache)
	}
	// Warm-up: names for the first cycle, bounded.
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if err := cache.Refresh(wctx); err != nil {
		log.Debug("docker API not available at start", "socket", socket, "err", err)
	}
	cancel()
	if cfg.Once {
		w.stop = func() { disp.Close() }
		return w, nil
	}
	ctx, cancelBG := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { cache.Run(ctx); done <- struct{}{} }()
	go func() { disp.Run(ctx); done <- struct{}{} }()
	w.stop = func() {
		// Give queued events a moment to reach graphite-web.
		deadline := time.Now().Add(3 * time.Second)
		for disp.Pending() > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cancelBG()
		<-done
		<-done
		disp.Close()
	}
	return w, nil
}

// wireServices gives the services row (in place) the [[service]] rules
// and, when the containers collector runs, its list of containers.
func wireServices(cfg config.Config, factories []collect.Factory, known *containers.Known) {
	si, withContainers := -1, false
	for i, f := range factories {
		switch f.Name {
		case "services":
			si = i
		case "containers":
			withContainers = true
		}
	}
	if si < 0 {
		return
	}
	opts := services.Options{Tags: cfg.Tags}
	if withContainers {
		opts.Containers = known
	}
	for _, s := range cfg.Services {
		opts.Rules = append(opts.Rules, services.Rule{
			Kind: services.Kind(s.Kind), Host: s.Host, Container: s.Container, Image: s.Image, Label: s.Label,
			Port: s.Port, Socket: s.Socket, User: s.User, Password: s.Password, Database: s.Database,
			Path: s.Path, Timeout: time.Duration(s.Timeout),
		})
	}
	factories[si] = services.Factory(opts)
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
