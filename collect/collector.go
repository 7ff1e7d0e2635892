// SPDX-License-Identifier: Apache-2.0

// Package collect is the collector framework every collector builds on:
// the Host roots a collector reads below, the Collector and Factory
// interfaces, the Sample a collector emits into (gauges, counters turned
// into rates, tagged series), and the one set of naming rules for the
// Graphite nodes built from what the host calls things (names.go,
// unique.go). Collectors never touch the network and never set
// timestamps: the agent stamps one time per cycle and the carbon package
// formats the lines.
package collect

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// Host names the roots under which the host's files are read. Inside a
// container they are bind mounts such as /host/proc; on the host itself they
// are /proc, /sys and /.
type Host struct {
	Proc string // procfs root, e.g. /proc or /host/proc
	Sys  string // sysfs root, e.g. /sys or /host/sys
	Root string // the host's root filesystem, for statfs of mount points
}

// DefaultHost reads the machine the agent runs on.
func DefaultHost() Host { return Host{Proc: "/proc", Sys: "/sys", Root: "/"} }

// ProcPath joins elements below the procfs root.
func (h Host) ProcPath(elem ...string) string {
	return filepath.Join(append([]string{h.Proc}, elem...)...)
}

// SysPath joins elements below the sysfs root.
func (h Host) SysPath(elem ...string) string {
	return filepath.Join(append([]string{h.Sys}, elem...)...)
}

// RootPath joins elements below the host root filesystem.
func (h Host) RootPath(elem ...string) string {
	return filepath.Join(append([]string{h.Root}, elem...)...)
}

// NetPath is a file of the HOST's network namespace. <procfs>/net is a link
// through "self", so it follows the namespace of the reading process; the
// host's PID 1 is always in the host namespace, so <procfs>/1/net is
// preferred when it exists (a fixture tree may only have <procfs>/net).
func (h Host) NetPath(name string) string {
	p := h.ProcPath("1", "net", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return h.ProcPath("net", name)
}

// Collector reads one source per cycle and emits into s. It may emit a
// partial result and still return an error: the agent publishes what was
// emitted and marks the collector failed for that cycle.
//
// Every file a collector reads is required unless the collector itself
// says otherwise: a missing required file is returned as an error (a
// wrong --procfs must not look healthy). A collector skips the files it
// declares optional (sockstat6 on a host without IPv6, the sysfs CPU list
// with /proc/stat as fallback, the later of alternative mount tables), and
// returns ErrNoData when its whole source is optional on this host.
//
// A collector that keeps descriptors across cycles (open files, inotify,
// netlink sockets) also implements io.Closer: the agent closes it when it
// stops, so an agent run in-process (the tests, --once) leaves nothing open.
type Collector interface {
	Collect(ctx context.Context, s *Sample) error
}

// Settler is a collector whose samples carry amounts that exist only once,
// such as the lifecycle events counted since its last published sample.
// After every run the agent calls Settle: published is false when the
// run's sample was thrown away (the run missed the cycle's deadline), and
// the collector then carries those amounts into its next sample.
type Settler interface {
	Settle(published bool)
}

// ErrNoData means the collector's source does not exist on this host and
// need not (no cgroup v1 tree, no Docker daemon): nothing is emitted and the
// cycle does not count as a failure.
var ErrNoData = errors.New("no data")

// Factory is one row of the registry: how to build a collector and what it
// publishes (for --list and the README). New is called only for the
// collectors the user selected; what a collector needs beyond Deps (a
// Docker cache, filters from the configuration) its package's factory
// function takes as arguments.
type Factory struct {
	Name    string
	Paths   []string // metric path patterns relative to <prefix>.<host>
	Default bool     // enabled unless the user picks collectors
	New     func(d Deps) (Collector, error)
}

// Deps is what every collector is built with.
type Deps struct {
	Host Host
	Log  *slog.Logger
	// Stat reads <procfs>/stat for every collector that needs it (cpu,
	// proc, loadavg, docker), once per cycle (kernfile.StatReader). Nil
	// when the collector is built alone (a test): see StatFile.
	Stat *kernfile.StatReader

	files *fileSet // the files File handed to this collector
}

// fileSet is what one collector keeps open through Deps.File.
type fileSet struct {
	mu    sync.Mutex
	files []*kernfile.File
}

// NewDeps is the Deps of the collectors of one agent reading h: one
// StatReader for all of them. Each collector is built with its own copy
// (For).
func NewDeps(h Host) Deps {
	return Deps{Host: h, Stat: kernfile.NewStatReader(h.ProcPath("stat"))}
}

// For is the copy of d one collector is built with: its logger, and a set
// of its own for the files it keeps open (File), which CloseFiles closes.
func (d Deps) For(log *slog.Logger) Deps {
	d.Log, d.files = log, &fileSet{}
	return d
}

// File is a kernel file the collector keeps open across cycles (read with
// kernfile.Buf.ReadFile). The agent closes it with the collector
// (CloseFiles), so an agent run in-process leaves no descriptor behind.
func (d Deps) File(path string) *kernfile.File {
	f := &kernfile.File{Path: path}
	if d.files != nil {
		d.files.mu.Lock()
		d.files.files = append(d.files.files, f)
		d.files.mu.Unlock()
	}
	return f
}

// CloseFiles closes the files File handed out from this copy (For). The
// collector must not be running.
func (d Deps) CloseFiles() {
	if d.files == nil {
		return
	}
	d.files.mu.Lock()
	defer d.files.mu.Unlock()
	for _, f := range d.files.files {
		f.Close()
	}
}

// Close closes the shared readers' files (kept open across cycles).
func (d Deps) Close() {
	if d.Stat != nil {
		d.Stat.Close()
	}
}

// StatFile is the shared reader of <procfs>/stat, or a reader of the
// collector's own when there is none to share.
func (d Deps) StatFile() *kernfile.StatReader {
	if d.Stat != nil {
		return d.Stat
	}
	return kernfile.NewStatReader(d.Host.ProcPath("stat"))
}
