// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// clusterRows are the dashboard rows that span hosts, with the series
// (legend names) each panel target must show for the first selection
// against the cluster: every host once (one path per host), the test
// containers of every host, the groups across hosts.
var clusterRows = map[string]map[string][]string{
	"Cluster: all hosts": {"A": {"node1", "node2", "node3"}},
	"Groups by tag": {
		// Per container: the two shop/web containers of region abc, seen by each node.
		"CPU per container vs group average A":         {"node1.web-1", "node1.web-2", "node2.web-1", "node2.web-2", "node3.web-1", "node3.web-2"},
		"CPU per container vs group average B":         {"group average"},
		"Working set per container vs group average A": {"node1.web-1", "node1.web-2", "node2.web-1", "node2.web-2", "node3.web-1", "node3.web-2"},
		"Working set per container vs group average B": {"group average"},
		"Average CPU per image A":                      {"shop/web:1.25"},
		"Average working set per image A":              {"shop/web:1.25"},
		"Total CPU per $label A":                       {"abc"},
	},
}

// TestDashboardsAgainstCluster: the rows that span hosts (the host
// dashboard's cluster row, one path per host, and the containers
// dashboard's tagged group view) work unchanged against a Graphite
// cluster: three agents, each a node in a network namespace of its own,
// send through a real carbon-c-relay to two carbon-caches, and the panels
// are read through the one graphite-web frontend (scripts/cluster.sh).
func TestDashboardsAgainstCluster(t *testing.T) {
	begin := time.Now()
	bin := filepath.Join(t.TempDir(), "collector")
	build := exec.Command("go", "build", "-o", bin, "./cmd/collector")
	build.Dir = moduleRoot(t)
	built := make(chan error, 1)
	go func() {
		out, err := build.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build: %v\n%s", err, out)
		}
		built <- err
	}()
	c := graphitetest.StartCluster(t)
	cg := cgrouptest.New(t)
	stub := startDockerStub(t)
	steady, _, _ := testContainers(t.TempDir())
	for _, ct := range steady {
		startContainer(t, cg, stub, ct, false)
	}
	linkPair(t, steady[0], steady[1])
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		log := &syncbuf.Buffer{}
		// Only what these rows read: every node also sees the other
		// containers of this machine.
		agent := c.Command(n, bin, "--graphite", c.Relays[0], "--interval", "1s", "--hostname", fmt.Sprintf("node%d", n),
			"--prefix", dashPrefix,
			"--docker-host", "unix://"+stub.Socket, "--tags", "--tag-labels", "region,tier",
			"--collectors", "loadavg,memory,diskspace,tcp,containers")
		agent.Stdout, agent.Stderr = log, log
		if err := agent.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			agent.Process.Signal(syscall.SIGTERM)
			agent.Wait()
			if t.Failed() {
				t.Logf("node%d log:\n%s", n, log.String())
			}
		})
	}
	for n := 1; n <= 3; n++ {
		c.WaitFor(t, fmt.Sprintf("seriesByTag('name=container.cpu.total','host=node%d','container=web-2')", n), "-10min", has(2), 90*time.Second)
		c.WaitFor(t, fmt.Sprintf("%s.node%d.loadavg.01_normalized", dashPrefix, n), "-10min", has(2), 30*time.Second)
	}
	// The group view selects by tag across the three nodes: every tagged
	// series it draws must be in the frontend's tag database first (the
	// caches register new series asynchronously, one write in ten).
	for _, name := range []string{"container.cpu.total", "container.memory.working_set_byte"} {
		c.WaitFor(t, fmt.Sprintf("seriesByTag('name=%s','image=~shop/web.*','label_region=abc')", name), "-10min", hasSeries(6, 2), 90*time.Second)
	}
	t.Logf("cluster, containers and three agents up, data visible: %v", time.Since(begin).Round(time.Second))

	fx := &fixture{g: c.Graphite, w: web{g: c.Graphite, retry5xx: true}, host: "node1"}
	checked := 0
	for _, d := range loadDashboards(t) {
		var sels []selection
		var allValues map[string]string
		check := func(p gPanel, want map[string][]string) {
			if sels == nil {
				sels, allValues = fx.selections(t, d)
			}
			targets := map[string]string{}
			for _, tg := range p.Targets {
				if !tg.Hide {
					targets[tg.RefID] = interpolate(tg.Target, sels[0], allValues)
				}
			}
			got, err := fx.w.render(targets, "-10min")
			if err != nil {
				t.Errorf("%s: %s: %v", d.File, p.Title, err)
				return
			}
			for _, ref := range sortedKeys(targets) {
				var names []string
				for _, s := range got[ref] {
					names = append(names, s.Target)
					if s.nonNull() == 0 {
						t.Errorf("%s: %s %s: %q is all null", d.File, p.Title, ref, s.Target)
					}
				}
				slices.Sort(names)
				w, ok := want[p.Title+" "+ref]
				if !ok {
					w = want[ref]
				}
				if !slices.Equal(names, w) {
					t.Errorf("%s: %s %s (%s): series %q, want exactly %q", d.File, p.Title, ref, targets[ref], names, w)
				}
				checked++
			}
			t.Logf("%s: %s: %d targets checked", d.File, p.Title, len(targets))
		}
		// A row's panels follow it (or, collapsed, are inside it).
		var want map[string][]string
		for _, p := range d.Panels {
			if p.Type == "row" {
				want = nil
				for prefix, w := range clusterRows {
					if strings.HasPrefix(p.Title, prefix) {
						want = w
					}
				}
				for _, child := range p.Panels {
					if want != nil {
						check(child, want)
					}
				}
				continue
			}
			if want != nil {
				check(p, want)
			}
		}
	}
	if checked < 10 {
		t.Errorf("%d panel targets checked: the rows %v were not found", checked, slices.Collect(maps.Keys(clusterRows)))
	}
}
