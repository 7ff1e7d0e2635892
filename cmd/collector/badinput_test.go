// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every source file replaced by garbage: the run still exits 0, each
// collector logs one clear line naming its file and publishes success 0,
// and nothing panics.
func TestMalformedFilesFailCollectorsNotTheAgent(t *testing.T) {
	dir := t.TempDir()
	garbage := "\x00garbage: not: numbers\n\xff\xfe 1 2 x\n"
	files := map[string]string{ // collector -> file
		"cpu": "proc/stat", "memory": "proc/meminfo", "loadavg": "proc/loadavg", "vmstat": "proc/vmstat",
		"iostat": "proc/diskstats", "network": "proc/net/dev", "sockets": "proc/net/sockstat",
		"tcp": "proc/net/snmp", "entropy": "proc/sys/kernel/random/entropy_avail",
		"files": "proc/sys/fs/file-nr", "interrupts": "proc/interrupts", "uptime": "proc/uptime",
		"diskspace": "proc/1/mountinfo",
	}
	for _, rel := range append(mapValues(files), "proc/net/netstat") {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(garbage), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := runArgs(t, "--once", "--output", "-", "--hostname", "h", "--timestamp", "1700000000",
		"--procfs", filepath.Join(dir, "proc"), "--sysfs", filepath.Join(dir, "sys"), "--rootfs", dir,
		"--collectors", strings.Join(mapKeys(files), ","))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for name, rel := range files {
		if !strings.Contains(out, "servers.h.agent.collectors."+name+".success 0 ") {
			t.Errorf("%s: success is not 0", name)
		}
		found := false
		for _, line := range strings.Split(stderr, "\n") {
			if strings.Contains(line, "collector="+name) && strings.Contains(line, filepath.Join(dir, rel)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no log line naming %s in:\n%s", name, rel, stderr)
		}
	}
	if strings.Contains(stderr, "panic") {
		t.Errorf("a collector panicked:\n%s", stderr)
	}
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
