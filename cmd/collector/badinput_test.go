// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"regexp"
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
	os.MkdirAll(filepath.Join(dir, "sys"), 0o755)
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

// A required file missing is a failure (success 0, a WARN naming the
// file), not "no data"; a file the collector declares optional
// (sockstat6: IPv6 disabled; cpu/online: the count falls back to
// /proc/stat) missing is not.
func TestMissingRequiredFileFails(t *testing.T) {
	tree := copyTree(t)
	for _, rel := range []string{"proc/meminfo", "proc/net/snmp", "proc/net/sockstat6", "sys/devices/system/cpu/online"} {
		if err := os.Remove(filepath.Join(tree, rel)); err != nil {
			t.Fatal(err)
		}
	}
	code, out, stderr := runArgs(t, "--once", "--output", "-", "--hostname", "h", "--timestamp", "1700000000",
		"--procfs", filepath.Join(tree, "proc"), "--sysfs", filepath.Join(tree, "sys"), "--rootfs", tree,
		"--collectors", "memory,tcp,sockets,loadavg")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for name, want := range map[string]string{"memory": "0", "tcp": "0", "sockets": "1", "loadavg": "1"} {
		if !strings.Contains(out, "servers.h.agent.collectors."+name+".success "+want+" ") {
			t.Errorf("%s: success is not %s:\n%s", name, want, out)
		}
	}
	for _, rel := range []string{"proc/meminfo", "proc/net/snmp"} {
		if !regexp.MustCompile(`level=WARN .*` + regexp.QuoteMeta(filepath.Join(tree, rel))).MatchString(stderr) {
			t.Errorf("no WARN naming %s:\n%s", rel, stderr)
		}
	}
	if !strings.Contains(out, "servers.h.sockets.used ") || !strings.Contains(out, "servers.h.loadavg.01_normalized ") {
		t.Errorf("the collectors with an optional file missing did not publish:\n%s", out)
	}
}
