// SPDX-License-Identifier: Apache-2.0

package cgroup

import (
	"bytes"
	"fmt"

	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// Parsers for the files of one cgroup, shared by every collector that reads
// cgroups. They work on the caller's reused read buffer and never allocate
// on success; every error names the line so the caller can prefix the file
// (`parse <file>: line 3: ...`).

// ParseSingle reads a file holding one number, such as memory.current,
// pids.current or cpuacct.usage. "max" (cgroup v2 for "no limit") sets max.
func ParseSingle(b []byte) (v uint64, max bool, err error) {
	f := bytes.TrimSpace(b)
	if string(f) == "max" {
		return 0, true, nil
	}
	v, ok := kernfile.ParseUint(f)
	if !ok {
		return 0, false, fmt.Errorf("want one number, got %q", kernfile.Clip(f))
	}
	return v, false, nil
}

// Value is one key of a flat keyed file: its value, and whether the file
// had the key (a kernel without the key is not a zero).
type Value struct {
	V  uint64
	OK bool
}

// ParseKV looks up keys in a flat "key value" file (cpu.stat, cpuacct.stat,
// memory.stat, memory.events, memory.oom_control) and stores each value in
// out at the key's index. Callers name the indexes (see the containers
// collector's key tables), so a reading says vals[cpuUser].OK, not a bit
// of a mask. Lines with other keys are not checked, so new kernel keys
// cannot break the parse; a wanted key with a bad value is an error (the
// other keys are still returned).
//
//	usage_usec 4523012
//	user_usec 3012000
func ParseKV(b []byte, keys []string, out []Value) error {
	clear(out)
	var err error
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = kernfile.NextLine(b)
		k, rest := kernfile.NextField(line)
		if len(k) == 0 {
			continue
		}
		for i, want := range keys {
			if i >= len(out) || string(k) != want {
				continue
			}
			f, tail := kernfile.NextField(rest)
			v, ok := kernfile.ParseUint(f)
			if !ok || len(bytes.TrimSpace(tail)) != 0 {
				if err == nil {
					err = fmt.Errorf("line %d: bad value for %s: %q", n, want, kernfile.Clip(line))
				}
				break
			}
			out[i] = Value{V: v, OK: true}
			break
		}
	}
	return err
}

// IOStat is the block IO of one cgroup, summed over devices.
type IOStat struct {
	ReadBytes, WriteBytes, Reads, Writes uint64
}

// ParseIOStat sums cgroup v2 io.stat over devices:
//
//	8:0 rbytes=90112 wbytes=0 rios=6 wios=0 dbytes=0 dios=0
func ParseIOStat(b []byte) (t IOStat, err error) {
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = kernfile.NextLine(b)
		dev, rest := kernfile.NextField(line)
		if len(dev) == 0 {
			continue
		}
		for {
			var kv []byte
			kv, rest = kernfile.NextField(rest)
			if len(kv) == 0 {
				break
			}
			k, v, ok := bytes.Cut(kv, []byte("="))
			if !ok {
				if err == nil {
					err = fmt.Errorf("line %d: want key=value, got %q", n, kernfile.Clip(kv))
				}
				continue
			}
			var dst *uint64
			switch string(k) {
			case "rbytes":
				dst = &t.ReadBytes
			case "wbytes":
				dst = &t.WriteBytes
			case "rios":
				dst = &t.Reads
			case "wios":
				dst = &t.Writes
			default:
				continue
			}
			x, ok := kernfile.ParseUint(v)
			if !ok {
				if err == nil {
					err = fmt.Errorf("line %d: bad value %q", n, kernfile.Clip(kv))
				}
				continue
			}
			*dst += x
		}
	}
	return t, err
}

// ParseBlkio sums the Read and Write lines of a cgroup v1
// blkio.throttle.io_service_bytes or _serviced file over devices; the
// per-device Sync/Async/Discard/Total lines and the final "Total N" line are
// skipped (they would count the same IO twice):
//
//	8:0 Read 90112
//	8:0 Write 4096
//	8:0 Total 94208
//	Total 94208
func ParseBlkio(b []byte) (read, write uint64, err error) {
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = kernfile.NextLine(b)
		dev, rest := kernfile.NextField(line)
		if len(dev) == 0 || string(dev) == "Total" {
			continue
		}
		op, rest := kernfile.NextField(rest)
		var dst *uint64
		switch string(op) {
		case "Read":
			dst = &read
		case "Write":
			dst = &write
		case "Sync", "Async", "Discard", "Total":
			continue
		default:
			if err == nil {
				err = fmt.Errorf("line %d: want <dev> <op> <value>, got %q", n, kernfile.Clip(line))
			}
			continue
		}
		f, _ := kernfile.NextField(rest)
		v, ok := kernfile.ParseUint(f)
		if !ok {
			if err == nil {
				err = fmt.Errorf("line %d: bad value in %q", n, kernfile.Clip(line))
			}
			continue
		}
		*dst += v
	}
	return read, write, err
}

// parsePids calls fn with each pid of a cgroup.procs file until fn
// returns false (parsePids then returns false). 0 (what the kernel shows
// for a pid outside the reader's pid namespace on cgroup v2) is skipped: it
// cannot be looked up in /proc.
func parsePids(b []byte, fn func(pid int) bool) bool {
	for len(b) > 0 {
		var line []byte
		line, b = kernfile.NextLine(b)
		v, ok := kernfile.ParseUint(bytes.TrimSpace(line))
		if ok && v > 0 && v < 1<<31 && !fn(int(v)) {
			return false
		}
	}
	return true
}
