// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// redis: INFO, published as Diamond's RedisCollector does (every value a
// gauge, under redis.<port>.).

// redisKeys maps Diamond's metric names to INFO fields.
var redisKeys = [][2]string{
	{"clients.blocked", "blocked_clients"},
	{"clients.connected", "connected_clients"},
	{"clients.longest_output_list", "client_longest_output_list"},
	{"cpu.children.sys", "used_cpu_sys_children"},
	{"cpu.children.user", "used_cpu_user_children"},
	{"cpu.parent.sys", "used_cpu_sys"},
	{"cpu.parent.user", "used_cpu_user"},
	{"hash_max_zipmap.entries", "hash_max_zipmap_entries"},
	{"hash_max_zipmap.value", "hash_max_zipmap_value"},
	{"keys.evicted", "evicted_keys"},
	{"keys.expired", "expired_keys"},
	{"keyspace.hits", "keyspace_hits"},
	{"keyspace.misses", "keyspace_misses"},
	{"last_save.changes_since", "changes_since_last_save"},
	{"last_save.changes_since", "rdb_changes_since_last_save"},
	{"last_save.time", "last_save_time"},
	{"last_save.time", "rdb_last_save_time"},
	{"memory.external_view", "used_memory_rss"},
	{"memory.fragmentation_ratio", "mem_fragmentation_ratio"},
	{"memory.internal_view", "used_memory"},
	{"process.commands_processed", "total_commands_processed"},
	{"process.connections_received", "total_connections_received"},
	{"process.uptime", "uptime_in_seconds"},
	{"pubsub.channels", "pubsub_channels"},
	{"pubsub.patterns", "pubsub_patterns"},
	{"replication.master_sync_in_progress", "master_sync_in_progress"},
	{"slaves.connected", "connected_slaves"},
	{"slaves.last_io", "master_last_io_seconds_ago"},
}

// redisNames lists the metric names of redisKeys and the derived ones.
func redisNames() []string {
	var out []string
	for _, k := range redisKeys {
		if !slices.Contains(out, k[0]) {
			out = append(out, k[0])
		}
	}
	return append(out, "replication.master", "replication.master_link_status", "memory.used_percent", "last_save.time_since")
}

// redisInfo is INFO's "field:value" lines; dbN lines are kept apart.
type redisInfo struct {
	fields map[string]string
	dbs    [][2]string // "db0", "keys=1,expires=0,avg_ttl=0"
}

func parseRedisInfo(b []byte) (redisInfo, error) {
	info := redisInfo{fields: map[string]string{}}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return info, fmt.Errorf("INFO: line without ':': %.40q", line)
		}
		if strings.HasPrefix(k, "db") && isDigits(k[2:]) {
			info.dbs = append(info.dbs, [2]string{k, v})
			continue
		}
		info.fields[k] = v
	}
	if len(info.fields) == 0 {
		return info, errors.New("INFO: empty")
	}
	return info, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (info redisInfo) points(now time.Time) []point {
	var pts []point
	num := func(name, field string) {
		if v, err := strconv.ParseFloat(info.fields[field], 64); err == nil {
			pts = append(pts, point{path: name, kind: gauge, v: v})
		}
	}
	for _, k := range redisKeys {
		num(k[0], k[1])
	}
	switch info.fields["role"] {
	case "master":
		pts = append(pts, point{path: "replication.master", kind: gauge, v: 1},
			point{path: "replication.master_sync_in_progress", kind: gauge},
			point{path: "replication.master_link_status", kind: gauge})
	case "":
	default:
		pts = append(pts, point{path: "replication.master", kind: gauge})
	}
	if st, ok := info.fields["master_link_status"]; ok {
		v := 0.0
		if st == "up" {
			v = 1
		}
		pts = append(pts, point{path: "replication.master_link_status", kind: gauge, v: v})
	}
	// Diamond asks CONFIG GET maxmemory; INFO has it since Redis 3.2, so
	// nothing but INFO is sent.
	if mm, err := strconv.ParseFloat(info.fields["maxmemory"], 64); err == nil {
		used, _ := strconv.ParseFloat(info.fields["used_memory"], 64)
		pct := 0.0
		if mm > 0 {
			pct = float64(int64(used/mm*10000+0.5)) / 100
		}
		pts = append(pts, point{path: "memory.used_percent", kind: gauge, v: pct})
	}
	for _, f := range []string{"last_save_time", "rdb_last_save_time"} {
		if t, err := strconv.ParseInt(info.fields[f], 10, 64); err == nil {
			pts = append(pts, point{path: "last_save.time_since", kind: gauge, v: float64(now.Unix() - t)})
		}
	}
	for _, db := range info.dbs {
		for _, kv := range strings.Split(db[1], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				continue
			}
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				pts = append(pts, point{path: db[0] + "." + k, kind: gauge, v: f})
			}
		}
	}
	return pts
}

func probeRedis(ctx context.Context, p *probeEnv) ([]point, error) {
	c, err := p.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if rule := p.in.Rule; rule != nil && rule.Password != "" {
		args := []string{"AUTH", rule.Password}
		if rule.User != "" {
			args = []string{"AUTH", rule.User, rule.Password}
		}
		if _, err := c.Write(respCommand(args...)); err != nil {
			return nil, fmt.Errorf("send AUTH: %w", err)
		}
		line, err := readLine(r)
		if err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
		if line != "+OK" {
			// Redis' error text never echoes the password.
			return nil, fmt.Errorf("AUTH refused: %.80s", line)
		}
	}
	if _, err := c.Write(respCommand("INFO")); err != nil {
		return nil, fmt.Errorf("send INFO: %w", err)
	}
	b, err := readBulk(r)
	if err != nil {
		return nil, fmt.Errorf("INFO: %w", err)
	}
	info, err := parseRedisInfo(b)
	if err != nil {
		return nil, err
	}
	return info.points(time.Now()), nil
}

func respCommand(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) > 4096 {
		return "", errTooLong
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readBulk reads a RESP bulk string ("$<len>\r\n<data>\r\n").
func readBulk(r *bufio.Reader) ([]byte, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(line, "-") {
		return nil, fmt.Errorf("error reply: %.80s", line)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(line, "$"))
	if !strings.HasPrefix(line, "$") || err != nil || n < 0 {
		return nil, fmt.Errorf("not a bulk reply: %.40q", line)
	}
	if n > maxReply {
		return nil, errTooLong
	}
	b := make([]byte, n+2)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b[:n], nil
}
