// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

// A hostile /proc tree: a 100 MB /proc/stat of repeated cpu0 lines (it took
// 133 s, 9.7 GB and printed 40 million lines), a /proc/vmstat over the line
// cap, and a /proc/interrupts that names more series than the per-collector
// cap. The real binary stays bounded in memory, prints a bounded output,
// reports each collector failed, counts the breach in its capped
// self-metric and logs each breach once.
func TestHostileTreeHitsCaps(t *testing.T) {
	bin := agentBinary(t)
	tree := copyTree(t)
	write := func(rel string, fill func(w *bufio.Writer)) {
		f, err := os.Create(filepath.Join(tree, "proc", rel))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		fill(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write("stat", func(w *bufio.Writer) {
		line := "cpu0 10132153 290696 3084719 46828483 16683 0 25195 0 0 0\n"
		for n := 0; n < 100<<20; n += len(line) {
			w.WriteString(line)
		}
	})
	write("vmstat", func(w *bufio.Writer) {
		for i := 0; i < 300_000; i++ {
			w.WriteString("pgfault 1\n")
		}
	})
	const cpus = 64
	irqs := collect.MaxMetrics/(cpus+1) + 100
	write("interrupts", func(w *bufio.Writer) {
		for i := 0; i < cpus; i++ {
			fmt.Fprintf(w, "       CPU%d", i)
		}
		w.WriteString("\n")
		counts := strings.Repeat(" 1", cpus)
		for i := 0; i < irqs; i++ {
			fmt.Fprintf(w, "%d:%s IO-APIC 5-edge dev\n", 1000+i, counts)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--once", "--output", "-", "--counters", "--hostname", "h",
		"--procfs", filepath.Join(tree, "proc"), "--sysfs", filepath.Join(tree, "sys"), "--rootfs", tree,
		"--collectors", "cpu,proc,vmstat,interrupts,memory")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	out := stdout.String()
	lines := strings.Count(out, "\n")
	t.Logf("%d lines, max RSS %d MB, user %v, system %v", lines, rss>>20,
		cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime())
	// 250k interrupts series at most, each a path of about 50 bytes kept
	// across cycles, plus the batch formatted for Carbon, plus the 16 MB
	// read buffer of /proc/stat (one: cpu and proc share the read): a
	// bounded cost, not gigabytes.
	if rss > 320<<20 {
		t.Errorf("max RSS %d MB", rss>>20)
	}
	if lines > collect.MaxMetrics+100 {
		t.Errorf("%d lines printed, want at most the cap %d and the self-metrics", lines, collect.MaxMetrics)
	}
	for name, want := range map[string]string{"cpu": "0", "proc": "0", "vmstat": "0", "interrupts": "0", "memory": "1"} {
		if !strings.Contains(out, "servers.h.agent.collectors."+name+".success "+want+" ") {
			t.Errorf("%s: success is not %s", name, want)
		}
		if want == "0" && !strings.Contains(out, "servers.h.agent.collectors."+name+".capped 1 ") {
			t.Errorf("%s: no capped 1 self-metric", name)
		}
	}
	if n := strings.Count(out, "servers.h.interrupts."); n != collect.MaxMetrics {
		t.Errorf("%d interrupts series, want the cap %d", n, collect.MaxMetrics)
	}
	if strings.Contains(out, "servers.h.cpu.") || strings.Contains(out, "servers.h.vmstat.") {
		t.Error("a collector published from a file over a cap")
	}
	for _, pat := range []string{`collector=cpu .*more than 16777216 bytes`, `collector=proc .*more than 16777216 bytes`,
		`collector=vmstat .*more than 262144 lines`, `collector=interrupts .*cap=250000`} {
		if n := len(regexp.MustCompile(`level=WARN .*`+pat).FindAllString(stderr.String(), -1)); n != 1 {
			t.Errorf("%d WARN lines matching %q, want 1:\n%s", n, pat, stderr.String())
		}
	}
}
