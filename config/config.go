// SPDX-License-Identifier: Apache-2.0

// Package config turns the command line (README.md, Flags) and the optional TOML
// file into one Config. Every flag has a key of the same name in the file
// (dashes become underscores); flags win over the file. Every mistake is a
// *UsageError whose message is one line naming the flag or key, so main can
// print it and exit 2.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/sys/unix"
)

// Config is everything the agent needs to start.
type Config struct {
	Graphite      string   `toml:"graphite"`
	Protocol      string   `toml:"protocol"`
	GraphiteMode  string   `toml:"graphite_mode"` // GraphiteAll or GraphiteFailover
	Interval      Duration `toml:"interval"`
	Procfs        string   `toml:"procfs"`
	Sysfs         string   `toml:"sysfs"`
	Rootfs        string   `toml:"rootfs"`
	Hostname      string   `toml:"hostname"`
	Prefix        string   `toml:"prefix"`
	Collectors    []string `toml:"collectors"`
	Once          bool     `toml:"once"`
	Output        string   `toml:"output"`
	StateFile     string   `toml:"state_file"`
	Timestamp     int64    `toml:"timestamp"`
	Counters      bool     `toml:"counters"`
	QueueLines    int      `toml:"queue_lines"`
	SpoolDir      string   `toml:"spool_dir"`
	SpoolMaxBytes int64    `toml:"spool_max_bytes"`
	MaxContainers int      `toml:"max_containers"`
	LogLevel      string   `toml:"log_level"`

	// Containers (docs/metrics.md, Containers).
	Tags          bool     `toml:"tags"`
	TagLabels     []string `toml:"tag_labels"`
	DockerHost    string   `toml:"docker_host"`
	EventsURL     string   `toml:"events_url"`
	AuditFile     string   `toml:"audit_file"`
	CpuacctCgroup bool     `toml:"cpuacct_cgroup"`
	MemoryCgroup  bool     `toml:"memory_cgroup"`
	Docker        bool     `toml:"docker"`

	// Services: [[service]] sections (file only).
	Services []Service `toml:"service"`

	// Diamond-style selections: [network], [diskspace], [iostat] and
	// [containers] sections (file only; filters.go).
	Network    NetworkSection    `toml:"network"`
	Diskspace  DiskspaceSection  `toml:"diskspace"`
	Iostat     IostatSection     `toml:"iostat"`
	Containers ContainersSection `toml:"containers"`

	// Set only on the command line.
	List    bool   `toml:"-"`
	Version bool   `toml:"-"`
	File    string `toml:"-"`
	Help    bool   `toml:"-"`
}

// The --graphite-mode values.
const (
	GraphiteAll      = "all"
	GraphiteFailover = "failover"
)

// Defaults are the values used when neither a flag nor the file sets one.
func Defaults() Config {
	return Config{
		Graphite:      "127.0.0.1:2003",
		Protocol:      "tcp",
		GraphiteMode:  GraphiteAll,
		Interval:      Duration(60 * time.Second),
		Procfs:        "/proc",
		Sysfs:         "/sys",
		Rootfs:        "/",
		Prefix:        "servers",
		QueueLines:    100000,
		SpoolMaxBytes: 256 << 20,
		LogLevel:      "info",
	}
}

// UsageError is a bad flag, config key or value: exit status 2.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &UsageError{msg: oneLine(fmt.Sprintf(format, a...))}
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Load parses args (without the program name). known lists the collector
// names that --collectors may use. Flags are parsed twice: once to find
// --config, and again over the file's values so that flags win.
func Load(args []string, known []string, usage io.Writer) (Config, error) {
	cfg := Defaults()
	fs := newFlagSet(&cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(usage, "Usage: collector [flags]  (spec: README.md, Flags)")
			fs.SetOutput(usage)
			fs.PrintDefaults()
			return Config{Help: true}, nil
		}
		return cfg, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return cfg, usagef("unexpected argument %q", fs.Arg(0))
	}
	if cfg.File != "" {
		file := cfg.File
		text, err := readConfigFile(file)
		if err != nil {
			return cfg, usagef("--config: %v", err)
		}
		cfg = Defaults()
		md, err := toml.Decode(text, &cfg)
		if err != nil {
			return cfg, usagef("config %s: %v", file, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return cfg, usagef("config %s: unknown key %q", file, und[0].String())
		}
		fs = newFlagSet(&cfg)
		if err := fs.Parse(args); err != nil {
			return cfg, usagef("%v", err)
		}
	}
	return cfg, cfg.validate(known)
}

// Bounds of the values that have one. An interval below a second puts
// several cycles on one Graphite timestamp (duplicate points); one above a
// day is a mistake, not a schedule.
const (
	MinInterval    = time.Second
	MaxInterval    = 24 * time.Hour
	maxQueueLines  = 10_000_000
	maxContainers  = 5000 // about 240k series with --tags: collect.MaxMetrics
	maxConfigBytes = 1 << 20
	maxTimestamp   = 1<<32 - 1 // 2106: whisper stores 32-bit timestamps
)

func (c *Config) validate(known []string) error {
	iv := time.Duration(c.Interval)
	if iv < MinInterval || iv > MaxInterval || iv%time.Second != 0 {
		return usagef("--interval must be a whole number of seconds from 1s to 24h, got %s", iv)
	}
	if c.Protocol != "tcp" && c.Protocol != "udp" {
		return usagef("--protocol must be tcp or udp, got %q", c.Protocol)
	}
	switch c.GraphiteMode {
	case GraphiteAll:
	case GraphiteFailover:
		if c.Protocol == "udp" {
			return usagef("--graphite-mode failover needs --protocol tcp: a UDP send never fails, so it never fails over")
		}
	default:
		return usagef("--graphite-mode must be all or failover, got %q", c.GraphiteMode)
	}
	if c.Output != "" && c.Output != "-" {
		return usagef("--output takes only \"-\" (stdout), got %q", c.Output)
	}
	if c.QueueLines <= 0 || c.QueueLines > maxQueueLines {
		return usagef("--queue-lines must be from 1 to %d, got %d", maxQueueLines, c.QueueLines)
	}
	if c.SpoolMaxBytes <= 0 {
		return usagef("--spool-max-bytes must be positive, got %d", c.SpoolMaxBytes)
	}
	if err := checkDestinations(c.Graphite, c.Output == "-"); err != nil {
		return err
	}
	if err := c.distinctDestinations(); err != nil {
		return err
	}
	if c.MaxContainers < 0 || c.MaxContainers > maxContainers {
		return usagef("--max-containers must be from 0 (the default, 1000) to %d, got %d", maxContainers, c.MaxContainers)
	}
	if c.Timestamp < 0 || c.Timestamp > maxTimestamp {
		return usagef("--timestamp must be epoch seconds from 0 to %d, got %d", maxTimestamp, c.Timestamp)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return err
	}
	for _, n := range c.Collectors {
		if !contains(known, n) {
			return usagef("unknown collector %q (known: %s)", n, strings.Join(known, ","))
		}
	}
	for _, r := range []struct{ flag, dir string }{{"--procfs", c.Procfs}, {"--sysfs", c.Sysfs}, {"--rootfs", c.Rootfs}} {
		if err := checkDir(r.dir); err != nil {
			return usagef("%s: %v", r.flag, err)
		}
	}
	if c.StateFile != "" {
		if err := checkWritableFile(c.StateFile); err != nil {
			return usagef("--state-file: %v", err)
		}
	}
	if c.AuditFile != "" {
		if err := checkWritableFile(c.AuditFile); err != nil {
			return usagef("--audit-file: %v", err)
		}
	}
	if c.EventsURL != "" {
		if err := checkURL(c.EventsURL); err != nil {
			return usagef("--events-url: %v", err)
		}
	}
	if err := validateFilters(c); err != nil {
		return err
	}
	return validateServices(c.Services)
}

// checkDestinations: each host:port has a host name or IP address and a
// port from 1 to 65535; at least one is needed unless --output - prints
// instead of sending.
func checkDestinations(list string, stdout bool) error {
	n := 0
	for _, a := range strings.Split(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		n++
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return usagef("--graphite wants host:port[,host:port...], got %q", a)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return usagef("--graphite %q: port must be a number from 1 to 65535", a)
		}
		if !validHost(host) {
			return usagef("--graphite %q: %q is neither an IP address nor a host name", a, host)
		}
	}
	if n == 0 && !stdout {
		return usagef("--graphite: no destination given (want host:port[,host:port...])")
	}
	return nil
}

// validHost is an IP address or an RFC 1123 host name.
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkDir: a host root must be an existing directory; a typo would
// otherwise run with every file missing.
func checkDir(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", p)
	}
	return nil
}

// checkWritableFile: a file the agent will write (or create) must be a
// regular file, or absent in a writable directory. A FIFO would block
// the writer, a directory would fail at every write.
func checkWritableFile(p string) error {
	fi, err := os.Stat(p)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", p)
	case err == nil:
		return unix.Access(p, unix.W_OK)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(p)
	if err := checkDir(dir); err != nil {
		return err
	}
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("cannot create a file in %s: %w", dir, err)
	}
	return nil
}

// checkURL: graphite-web's base URL, http or https with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http:// or https:// URL, got %q", s)
	}
	if u.Host == "" || !validHost(u.Hostname()) {
		return fmt.Errorf("no valid host in %q", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("port must be a number from 1 to 65535 in %q", s)
		}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("want a base URL without user, query or fragment, got %q", s)
	}
	return nil
}

// readConfigFile reads a regular file of at most maxConfigBytes. It opens
// without blocking, so a FIFO given by mistake is refused instead of
// hanging start-up, and a device such as /dev/zero is refused instead of
// read until memory runs out.
func readConfigFile(path string) (string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxConfigBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxConfigBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxConfigBytes {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxConfigBytes)
	}
	return string(b), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newFlagSet binds every flag to a field of c. Its own output is discarded:
// errors are returned as one line, and --help prints the defaults itself.
func newFlagSet(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Graphite, "graphite", c.Graphite, "Carbon `host:port` (plaintext protocol); several, comma-separated, each get their own queue and spool")
	fs.StringVar(&c.Protocol, "protocol", c.Protocol, "tcp or udp")
	fs.StringVar(&c.GraphiteMode, "graphite-mode", c.GraphiteMode, "with several --graphite destinations: \"all\" sends every line to each (own queue and spool each); \"failover\" sends to the first that accepts, the next ones only while it fails (one queue and spool)")
	fs.Var(&c.Interval, "interval", "collection interval: seconds or a duration such as 60s")
	fs.StringVar(&c.Procfs, "procfs", c.Procfs, "read /proc files from `DIR`")
	fs.StringVar(&c.Sysfs, "sysfs", c.Sysfs, "read /sys files from `DIR`")
	fs.StringVar(&c.Rootfs, "rootfs", c.Rootfs, "host root `DIR` for statfs of mount points")
	fs.StringVar(&c.Hostname, "hostname", c.Hostname, "host node of every path (default: the host's short hostname)")
	fs.StringVar(&c.Prefix, "prefix", c.Prefix, "first node(s) of every path")
	fs.Var((*listValue)(&c.Collectors), "collectors", "comma-separated collectors to run (default: all)")
	fs.BoolVar(&c.Once, "once", c.Once, "take one sample, print or send it, exit")
	fs.StringVar(&c.Output, "output", c.Output, "\"-\" writes Graphite plaintext to stdout instead of Carbon")
	fs.StringVar(&c.StateFile, "state-file", c.StateFile, "keep the previous sample in `FILE` so the next run can publish rates")
	fs.Int64Var(&c.Timestamp, "timestamp", c.Timestamp, "sample time in epoch seconds (one-shot runs)")
	fs.BoolVar(&c.Counters, "counters", c.Counters, "publish raw counters instead of rates")
	fs.IntVar(&c.MaxContainers, "max-containers", c.MaxContainers, "containers published per cycle at most (0: 1000)")
	fs.StringVar(&c.SpoolDir, "spool-dir", c.SpoolDir, "write-ahead spool `DIR`: every line is on disk until Carbon has it, so crashes and restarts lose nothing (default: /var/lib/nodemetrics/spool when /var/lib/nodemetrics exists; \"off\": none)")
	fs.Int64Var(&c.SpoolMaxBytes, "spool-max-bytes", c.SpoolMaxBytes, "bound of the spool on disk; when full the oldest data goes")
	fs.IntVar(&c.QueueLines, "queue-lines", c.QueueLines, "bound of the in-memory send queue, in lines")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.Tags, "tags", c.Tags, "also send container metrics as Graphite 1.1 tagged series")
	fs.Var((*listValue)(&c.TagLabels), "tag-labels", "comma-separated container labels allowed as tags")
	fs.StringVar(&c.DockerHost, "docker-host", c.DockerHost, "Docker endpoint unix://PATH (default $DOCKER_HOST, else the host's /run/docker.sock)")
	fs.StringVar(&c.EventsURL, "events-url", c.EventsURL, "graphite-web URL to POST container events to (e.g. http://127.0.0.1:8080)")
	fs.StringVar(&c.AuditFile, "audit-file", c.AuditFile, "append container lifecycle events as JSON lines to `FILE`")
	fs.BoolVar(&c.CpuacctCgroup, "cpuacct-cgroup", c.CpuacctCgroup, "Diamond's sys.fs.cgroup.cpuacct.* (cgroup v1)")
	fs.BoolVar(&c.MemoryCgroup, "memory-cgroup", c.MemoryCgroup, "Diamond's memory_cgroup.* (cgroup v1)")
	fs.BoolVar(&c.Docker, "docker", c.Docker, "Diamond's docker.* metrics")
	fs.BoolVar(&c.List, "list", false, "print the collectors and their metric paths, then exit")
	fs.BoolVar(&c.Version, "version", false, "print the version, then exit")
	fs.StringVar(&c.File, "config", c.File, "TOML config `FILE` (flags win over it)")
	return fs
}

// Duration is a time.Duration written as a Go duration ("60s") or a number
// of seconds ("60", or 60 in TOML).
type Duration time.Duration

func (d *Duration) String() string { return time.Duration(*d).String() }

// Set parses a flag value.
func (d *Duration) Set(s string) error {
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return d.setSeconds(secs, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want seconds or a duration such as 60s, got %q", s)
	}
	*d = Duration(v)
	return nil
}

// setSeconds stores secs unless it is not a number or does not fit a
// time.Duration (converting such a float is undefined: "2e9" hours must
// be an error, not a negative interval).
func (d *Duration) setSeconds(secs float64, orig any) error {
	if math.IsNaN(secs) || math.Abs(secs) > float64(math.MaxInt64/int64(time.Second)) {
		return fmt.Errorf("want seconds or a duration such as 60s, got %v", orig)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// UnmarshalTOML accepts interval = 60 and interval = "60s".
func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		return d.setSeconds(float64(x), v)
	case float64:
		return d.setSeconds(x, v)
	case string:
		return d.Set(x)
	}
	return fmt.Errorf("want seconds or a duration string, got %v", v)
}

// listValue is a comma-separated flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = (*l)[:0]
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			*l = append(*l, x)
		}
	}
	return nil
}

// SpoolOff as --spool-dir runs without a spool, even where the default
// spool directory exists.
const SpoolOff = "off"

// distinctDestinations rejects a destination listed twice (hosts compared
// without case): it would get every line twice and, with a spool, share
// one spool directory.
func (c *Config) distinctDestinations() error {
	seen := map[string]bool{}
	for _, a := range c.Destinations() {
		k := strings.ToLower(a)
		if h, p, err := net.SplitHostPort(a); err == nil {
			k = net.JoinHostPort(strings.ToLower(h), p)
		}
		if seen[k] {
			return usagef("--graphite lists %s twice", a)
		}
		seen[k] = true
	}
	return nil
}

// Destinations are the Carbon addresses of --graphite a:2003,b:2003.
func (c *Config) Destinations() []string {
	var out []string
	for _, a := range strings.Split(c.Graphite, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// ParseLevel maps --log-level to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, usagef("--log-level must be debug, info, warn or error, got %q", s)
	}
	return l, nil
}
