// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nodemetrics/nodemetrics/carbon"
	"github.com/nodemetrics/nodemetrics/config"
)

// defaultStateDir holds the default spool (DIR/spool) when it exists: the
// image has it, and nspawn-container and the DaemonSet mount a persistent
// host directory there. A variable so that tests can point it elsewhere.
var defaultStateDir = "/var/lib/nodemetrics"

// sending is the senders (one per destination) with their spools.
type sending struct {
	senders carbon.Fanout
	spools  []*carbon.Spool
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	err     error
}

// spoolDir resolves --spool-dir: "off" is none; empty is the default,
// used only when its parent exists (auto reports that).
func spoolDir(cfg *config.Config) (dir string, auto bool) {
	switch cfg.SpoolDir {
	case config.SpoolOff:
		return "", false
	case "":
		if st, err := os.Stat(defaultStateDir); err == nil && st.IsDir() {
			return filepath.Join(defaultStateDir, "spool"), true
		}
		return "", false
	}
	return cfg.SpoolDir, false
}

// openSenders opens one spool per destination (a directory named after
// the destination, so two never share one) and makes the senders; start
// runs them. An explicit spool that cannot be written is an error; the
// default one is skipped with a warning.
//
// With --graphite-mode failover there is one sender for all destinations,
// with one spool (DIR/failover): what one destination did not take goes to
// the next.
func openSenders(cfg *config.Config, log *slog.Logger) (*sending, error) {
	dir, auto := spoolDir(cfg)
	dests, fallbacks := cfg.Destinations(), [][]string(nil)
	spoolNames := dests
	if cfg.GraphiteMode == config.GraphiteFailover {
		dests, fallbacks = dests[:1], [][]string{dests[1:]}
		spoolNames = []string{"failover"}
	}
	var spools []*carbon.Spool
	if dir != "" {
		for _, name := range spoolNames {
			sp, err := carbon.OpenSpool(filepath.Join(dir, url.PathEscape(name)), cfg.SpoolMaxBytes, log)
			if err != nil {
				for _, o := range spools {
					o.Close()
				}
				if !auto {
					return nil, fmt.Errorf("--spool-dir: %w", err)
				}
				log.Warn("default spool unusable, running without one: a crash during a Carbon outage loses what is queued in memory", "err", err)
				spools = nil
				break
			}
			spools = append(spools, sp)
		}
		if len(spools) > 0 && auto {
			log.Info("spooling to the default spool directory", "dir", dir)
		}
	}
	st := &sending{spools: spools}
	for i, addr := range dests {
		c := carbon.Config{Addr: addr, Network: cfg.Protocol, QueueLines: cfg.QueueLines, Logger: log}
		if fallbacks != nil {
			c.Fallbacks = fallbacks[i]
		}
		if spools != nil {
			c.Spool = spools[i]
		}
		st.senders = append(st.senders, carbon.NewSender(c))
	}
	return st, nil
}

// start runs the senders until stop.
func (st *sending) start() {
	ctx, cancel := context.WithCancel(context.Background())
	st.cancel, st.done = cancel, make(chan struct{})
	go func() { st.senders.Run(ctx); close(st.done) }()
}

// stop flushes within timeout (with a spool it returns as soon as Carbon
// is known down: the lines are on disk), stops the senders and closes the
// spools, saving their read positions. The error, without a spool, says
// how many lines were lost. Safe to call more than once (nil: nothing);
// senders never started only close their spools.
func (st *sending) stop(timeout time.Duration) error {
	if st == nil {
		return nil
	}
	st.once.Do(func() {
		if st.cancel == nil {
			st.closeSpools()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		st.err = st.senders.Flush(ctx)
		cancel()
		if st.err == nil {
			// Everything written: an orderly close tells us Carbon read it.
			cctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			st.senders.Close(cctx)
			cancel()
		}
		st.cancel()
		<-st.done
		st.closeSpools()
	})
	return st.err
}

func (st *sending) closeSpools() {
	for _, sp := range st.spools {
		if err := sp.Close(); err != nil {
			st.err = errors.Join(st.err, fmt.Errorf("spool: %w", err))
		}
	}
}

// stallExit is the watchdog's action: flush (or spool) what it can, then
// exit 3 for the supervisor to restart us.
func stallExit(st *sending, log *slog.Logger, exit func(int)) func(time.Duration) {
	return func(since time.Duration) {
		log.Error("main loop stalled, exiting for the supervisor to restart us", "since", since)
		// Whatever stalled the loop must not stall the exit too.
		done := make(chan struct{})
		go func() {
			if err := st.stop(flushTimeout); err != nil {
				log.Error("exiting with unsent metrics", "err", err)
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(flushTimeout + 5*time.Second):
			log.Error("flush did not end: exiting anyway")
		}
		exit(3)
	}
}
