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
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/nodemetrics/nodemetrics/agent"
	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/config"
	"github.com/nodemetrics/nodemetrics/docker"
)

// version is stamped by the build (-ldflags "-X main.version=...").
var version = "dev"

// flushTimeout bounds how long a stopping agent waits for Carbon.
const flushTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	agent.SetProcs()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the agent's life: read the configuration, build, start, collect
// (once, or every interval until ctx ends), stop. It returns the exit
// status: 0; 1 when metrics were lost or stdout failed; 2 for a bad flag,
// config key or value, with one line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	w := &wiring{}
	table := collectorTable(w)
	cfg, done, code := configure(args, table, stdout, stderr)
	if done {
		return code
	}
	in, err := build(cfg, table, w, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return 2
	}
	in.start(ctx)
	in.collect(ctx)
	return in.stop()
}

// configure reads the flags and the config file. done is set when run
// ends here: --help, --version, --list, or a bad input (code 2, one line).
func configure(args []string, table []collect.Factory, stdout, stderr io.Writer) (cfg *config.Config, done bool, code int) {
	names := make([]string, len(table))
	for i, f := range table {
		names[i] = f.Name
	}
	c, err := config.Load(args, names, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return nil, true, 2
	}
	switch {
	case c.Help:
		return nil, true, 0
	case c.Version:
		fmt.Fprintf(stdout, "collector %s\n", version)
		return nil, true, 0
	}
	// Checked whatever collectors are on: a mistake must not wait for the
	// day someone switches the docker collector on.
	if _, err := docker.SocketPath(c.DockerHost, c.Procfs); err != nil {
		fmt.Fprintf(stderr, "collector: %v\n", err)
		return nil, true, 2
	}
	if c.List {
		for _, f := range table {
			for _, p := range f.Paths {
				fmt.Fprintf(stdout, "%-11s %s\n", f.Name, p)
			}
		}
		return nil, true, 0
	}
	return &c, false, 0
}

// instance is a built agent: its collectors, their shared dependencies
// (wiring) and where the lines go.
type instance struct {
	cfg    *config.Config
	log    *slog.Logger
	w      *wiring
	agent  *agent.Agent
	opts   agent.Options
	out    agent.Output
	snd    *sending // nil with --output -
	stderr io.Writer
}

// build makes everything from the configuration and starts nothing: the
// selected collectors (with what they share, see wiring) and the senders.
// On an error what was made is closed again.
func build(cfg *config.Config, table []collect.Factory, w *wiring, stdout, stderr io.Writer) (*instance, error) {
	level, _ := config.ParseLevel(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	hostname := cfg.Hostname
	if hostname == "" {
		h, err := agent.SmartHostname()
		if err != nil {
			return nil, fmt.Errorf("cannot learn the hostname, pass --hostname: %w", err)
		}
		hostname = h
	}
	socket, err := docker.SocketPath(cfg.DockerHost, cfg.Procfs)
	if err != nil {
		return nil, err
	}
	factories := selectCollectors(table, cfg)
	// The table's rows hold w: what they will read when built.
	*w = wiring{cfg: cfg, hostname: hostname, socket: socket, selected: map[string]bool{}, log: log}
	for _, f := range factories {
		w.selected[f.Name] = true
	}
	in := &instance{cfg: cfg, log: log, w: w, stderr: stderr, opts: agent.Options{
		Host:      collect.Host{Proc: cfg.Procfs, Sys: cfg.Sysfs, Root: cfg.Rootfs},
		Factories: factories,
		Prefix:    cfg.Prefix,
		Hostname:  hostname,
		Interval:  time.Duration(cfg.Interval),
		Raw:       cfg.Counters,
		StateFile: cfg.StateFile,
		Logger:    log,
	}}
	if cfg.Output == "-" {
		in.out = &agent.WriterOutput{W: stdout}
	} else {
		snd, err := openSenders(cfg, log)
		if err != nil {
			return nil, err
		}
		in.snd, in.out = snd, snd.senders
		in.opts.SenderStats = snd.senders.Stats
	}
	a, err := agent.New(in.opts)
	if err != nil {
		w.stop()
		in.snd.stop(0)
		return nil, err
	}
	in.agent = a
	return in, nil
}

// start runs the background loops: the Docker cache and event dispatcher
// (after a bounded warm-up), the senders.
func (in *instance) start(ctx context.Context) {
	in.w.start(ctx)
	if in.snd != nil {
		in.snd.start()
	}
	in.log.Info("starting", "version", version, "host", in.opts.Hostname, "interval", in.opts.Interval,
		"collectors", len(in.opts.Factories), "once", in.cfg.Once)
}

// collect runs one cycle with --once, else one every interval until ctx
// ends.
func (in *instance) collect(ctx context.Context) {
	if in.cfg.Once {
		t := time.Now()
		if in.cfg.Timestamp > 0 {
			t = time.Unix(in.cfg.Timestamp, 0)
		}
		in.agent.Cycle(ctx, t, t.Unix(), in.opts.Interval, in.out)
		return
	}
	// The first finished cycle tells systemd (through nspawn's
	// --notify-ready=yes) that we are up; later ones refresh STATUS.
	// A loop stalled for 5 intervals exits 3 so the unit restarts.
	wd := agent.NewWatchdog(5 * in.opts.Interval)
	go wd.Run(ctx, stallExit(in.snd, in.log, os.Exit))
	cycles := 0
	in.agent.Run(ctx, in.out, func() {
		wd.Beat()
		cycles++
		if cycles == 1 {
			daemon.SdNotify(false, daemon.SdNotifyReady)
		}
		daemon.SdNotify(false, fmt.Sprintf("STATUS=%d cycles", cycles))
	})
}

// stop ends the run in order: the collectors closed (their descriptors
// kept across cycles), the queued events drained and the Docker cache and
// dispatcher stopped, then the senders flushed (within flushTimeout) and
// stopped. It returns the exit status.
func (in *instance) stop() int {
	in.agent.Close()
	in.w.stop()
	if err := in.snd.stop(flushTimeout); err != nil {
		if in.cfg.Once {
			// One line a cron mail shows: how much was lost and why.
			fmt.Fprintf(in.stderr, "collector: %v (no spool: --spool-dir keeps them for the next run)\n", err)
			return 1
		}
		in.log.Error("stopping with unsent metrics", "err", err)
	}
	if w, ok := in.out.(*agent.WriterOutput); ok && w.Err != nil {
		fmt.Fprintf(in.stderr, "collector: write output: %v\n", w.Err)
		return 1
	}
	in.log.Info("stopped")
	return 0
}
