// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// memcached: "stats", published as Diamond's MemcachedCollector does:
// its gauges as gauges, every other numeric stat as a counter (a rate
// over the elapsed time here, raw with --counters).

var memcachedGauges = map[string]bool{
	"bytes": true, "connection_structures": true, "curr_connections": true, "curr_items": true,
	"threads": true, "reserved_fds": true, "limit_maxbytes": true, "hash_power_level": true,
	"hash_bytes": true, "hash_is_expanding": true, "uptime": true,
}

// Diamond skips these: they are not statistics.
var memcachedIgnored = map[string]bool{
	"libevent": true, "pointer_size": true, "time": true, "version": true, "repcached_version": true,
	"replication": true, "accepting_conns": true, "pid": true, "commandargs": true,
}

// parseMemcachedStats reads "STAT <name> <value>" lines up to "END".
func parseMemcachedStats(b []byte) ([]point, error) {
	var pts []point
	end := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "END" {
			end = true
			break
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "STAT" {
			if line == "" {
				continue
			}
			return nil, fmt.Errorf("stats: unexpected line %.40q", line)
		}
		name, val := f[1], f[2]
		if memcachedIgnored[name] {
			continue
		}
		switch {
		case memcachedGauges[name]:
			if v, err := strconv.ParseFloat(val, 64); err == nil {
				pts = append(pts, point{path: name, kind: gauge, v: v})
			}
		case strings.Contains(val, "."):
			// rusage_user "0.123456": CPU seconds, kept as µs.
			if v, err := strconv.ParseFloat(val, 64); err == nil && v >= 0 && v < 1e12 {
				pts = append(pts, point{path: name, kind: usecs, iv: uint64(v*1e6 + 0.5)})
			}
		default:
			if v, err := strconv.ParseUint(val, 10, 64); err == nil {
				pts = append(pts, point{path: name, kind: counter, iv: v})
			}
		}
	}
	if !end {
		return nil, fmt.Errorf("stats: no END")
	}
	return pts, nil
}

var maxConnsRE = regexp.MustCompile(`-(?:c|-max-conns)\x00(\d+)`)

func probeMemcached(ctx context.Context, p *probeEnv) ([]point, error) {
	c, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		return nil, fmt.Errorf("send stats: %w", err)
	}
	b, err := readUntil(c, "END\r\n")
	if err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	pts, err := parseMemcachedStats(b)
	if err != nil {
		return nil, err
	}
	// Diamond's limit_maxconn: the -c of memcached's command line.
	if cmd, err := os.ReadFile(p.c.h.ProcPath(strconv.Itoa(p.in.Pid), "cmdline")); err == nil {
		if m := maxConnsRE.FindSubmatch(append(bytes.Clone(cmd), 0)); m != nil {
			if v, err := strconv.ParseFloat(string(m[1]), 64); err == nil {
				pts = append(pts, point{path: "limit_maxconn", kind: gauge, v: v})
			}
		}
	}
	return pts, nil
}
