// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/dockertest"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
)

// hostileNames break a Graphite line, path or tag when published as they
// are (issue 10): an injected tag, a tagging batch graphite-web answers 500,
// lines carbon rejects (it splits on Unicode spaces; a cgroup name cannot
// hold a newline, the Docker label value does), a node too long for a
// file name; web.1 and web_1 sanitise alike.
var hostileNames = []string{"x;tagged=1", "semi;", "tab\tx", "nb\u00a0sp", "ls\u2028ep", "web.1", "web_1"}

// TestHostileNames sends hostile names from REAL cgroups (Diamond's cgroup
// collectors; nspawn-style machine scopes for the containers collector) and
// REAL Docker containers (a 300-character name, the web.1/web_1 pair,
// hostile label values as tags) through the agent to a REAL carbon-cache and
// graphite-web with tags on, then reads back: every series under its
// sanitised name, nothing injected in the tag database, no line rejected, no
// tagging batch failed, clean event tags, two series for each collision pair.
func TestHostileNames(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real cgroups, containers and Graphite")
	}
	dockertest.Require(t)
	sfx := randSuffix()
	host := "names" + sfx
	img := "nmnames" + sfx + ":1"
	buildBurnerImage(t, img)
	g := graphitetest.Start(t)
	cg := cgrouptest.New(t)

	startAgent(t, "--graphite", g.CarbonAddr, "--interval", "2s", "--hostname", host, "--prefix", "test",
		"--collectors", "containers,docker,cpuacct_cgroup,memory_cgroup", "--tags", "--tag-labels", "evil",
		"--events-url", g.WebURL)
	prefix := "test." + host + "."
	g.WaitFor(t, prefix+"containers.running_count", "-10min", func(s []graphitetest.Series) bool {
		_, _, ok := lastValue(s)
		return ok
	}, 60*time.Second)

	// After the first cycle, so the machines are also start events.
	parent := "nmnames" + sfx
	long := strings.Repeat("L", 250) // a cgroup name has at most 255 bytes
	machine := "nm" + sfx + "m"      // the machines' names start with it
	for _, n := range append(hostileNames, long) {
		cg.Mkdir(parent + "/" + n)
		if n == long {
			n = n[:200] // machine-<name>.scope within 255 bytes
		}
		cg.Mkdir("machine.slice/machine-" + unitEscape(machine+n) + ".scope")
	}
	cs := &testContainers{t: t}
	t.Cleanup(cs.cleanup)
	dock := "nm" + sfx + "d" // the Docker containers' names start with it
	cs.run(dock+"web.1", "--label", "evil=x;tagged=1 nb\u00a0sp\nnl", img)
	cs.run(dock+"web_1", img)
	cs.run(dock+strings.Repeat("D", 290), img)
	// Diamond's docker paths keep dots as levels: these two would share
	// docker.containers.<dock>a._.b (an empty node becomes "_").
	cs.run(dock+"a..b", img)
	cs.run(dock+"a._.b", img)

	// Every name under its sanitised node, read back from graphite-web.
	longNode := func(nodes []string, start string) bool {
		return slices.ContainsFunc(nodes, func(n string) bool {
			return len(n) <= 128 && len(n) > 100 && strings.HasPrefix(n, start)
		})
	}
	clean := []string{"x_tagged_1", "semi_", "tab_x", "nb_sp", "ls_ep"}
	waitNodes(t, g, prefix+"memory_cgroup."+parent+".*", func(nodes []string) bool {
		// Diamond's dots are levels: web.1 is web > 1.
		return containsAll(nodes, append(clean, "web", "web_1")...) && longNode(nodes, "LLLL")
	})
	waitNodes(t, g, prefix+"sys.fs.cgroup.cpuacct."+parent+".*", func(nodes []string) bool {
		return containsAll(nodes, append(clean, "web", "web_1")...) && longNode(nodes, "LLLL")
	})
	nodes := waitNodes(t, g, prefix+"containers.nm"+sfx+"*", func(nodes []string) bool {
		var want []string
		for _, c := range clean {
			want = append(want, machine+c)
		}
		return containsAll(nodes, append(want, machine+"web_1", dock+"web_1")...) &&
			longNode(nodes, machine+"LLLL") && longNode(nodes, dock+"DDDD") &&
			count(nodes, machine+"web_1_") == 1 && count(nodes, dock+"web_1_") == 1
	})
	t.Logf("container nodes: %q", nodes)
	waitNodes(t, g, prefix+"docker.containers.nm"+sfx+"*", func(nodes []string) bool {
		return containsAll(nodes, dock+"web", dock+"web_1") && longNode(nodes, dock+"DDDD")
	})
	waitNodes(t, g, prefix+"docker.containers."+dock+"a._.*", func(nodes []string) bool {
		return containsAll(nodes, "b") && count(nodes, "b_") == 1
	})

	// The tag database: the tagged series of every container, the label's
	// hostile value cleaned, and no tag name but ours.
	tagged := g.WaitFor(t, "seriesByTag('name=container.memory.usage_byte','host="+host+"')", "-10min", func(s []graphitetest.Series) bool {
		return len(s) >= len(hostileNames)+1+5 // machines (one long) + Docker containers
	}, 60*time.Second)
	evil := false
	for _, s := range tagged {
		evil = evil || s.Tags["label_evil"] == "x_tagged_1_nb_sp_nl"
	}
	if !evil {
		t.Errorf("no series with label_evil=x_tagged_1_nb_sp_nl: %v", tagged)
	}
	body, err := g.Get("/tags", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tags []struct{ Tag string }
	if err := json.Unmarshal(body, &tags); err != nil {
		t.Fatalf("/tags: %v: %s", err, body)
	}
	ours := []string{"name", "host", "container", "image", "runtime", "pod", "namespace", "label_evil"}
	for _, tg := range tags {
		if !slices.Contains(ours, tg.Tag) {
			t.Errorf("tag %q in the tag database: injected", tg.Tag)
		}
	}
	if s, err := g.Render("seriesByTag('tagged=~.+')", "-10min"); err != nil || len(s) > 0 {
		t.Errorf("seriesByTag('tagged=~.+') = %v, %v: an injected tag", s, err)
	}
	body, err = g.Get("/tags/findSeries", url.Values{"expr": {"host=" + host}})
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	if err := json.Unmarshal(body, &series); err != nil {
		t.Fatalf("/tags/findSeries: %v: %s", err, body)
	}
	valid := regexp.MustCompile(`^container\.[A-Za-z0-9_:+@%#.-]+(;[a-z_]+=[A-Za-z0-9_:+@%#./-]{1,128})+$`)
	for _, s := range series {
		if !valid.MatchString(s) {
			t.Errorf("tagged series %q", s)
		}
	}

	// The machines' start events: clean tags, one-line titles.
	var evs []graphitetest.Event
	deadline := time.Now().Add(30 * time.Second)
	for len(evs) < len(hostileNames)+1 && time.Now().Before(deadline) {
		if evs, err = g.Events("-1h", "start host="+host); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(evs) < len(hostileNames)+1 {
		t.Errorf("%d start events, want %d: %v", len(evs), len(hostileNames)+1, evs)
	}
	tagRE := regexp.MustCompile(`^([a-z]+=)?[A-Za-z0-9_:+@%#./-]{1,128}$`)
	for _, e := range evs {
		for _, tg := range e.Tags {
			if !tagRE.MatchString(tg) {
				t.Errorf("event %q tag %q", e.What, tg)
			}
		}
		if strings.ContainsAny(e.What, "\n\u2028") {
			t.Errorf("event title %q", e.What)
		}
	}

	// Carbon took every line and every tagging batch.
	logDir := filepath.Join(g.Dir, "log", "carbon")
	for file, bad := range map[string]string{"listener.log": "invalid line", "tagdb.log": "Error tagging", "console.log": "too long"} {
		b, err := os.ReadFile(filepath.Join(logDir, file))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if strings.Contains(string(b), bad) {
			t.Errorf("carbon %s: %.2000s", file, b)
		}
	}
}

// waitNodes polls /metrics/find for query until ok accepts the last nodes.
// A failed request is retried (graphite-web answers 500 at times while
// carbon creates files under load); the last error is reported.
func waitNodes(t *testing.T, g *graphitetest.Graphite, query string, ok func([]string) bool) []string {
	t.Helper()
	var nodes []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		found, err := g.Find(query)
		nodes = nodes[:0]
		for _, f := range found {
			nodes = append(nodes, f[strings.LastIndexByte(f, '.')+1:])
		}
		if err == nil && ok(nodes) {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q (last error: %.300v)", query, nodes, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func count(nodes []string, prefix string) int {
	n := 0
	for _, x := range nodes {
		if strings.HasPrefix(x, prefix) {
			n++
		}
	}
	return n
}

// unitEscape escapes a machine name as systemd does in unit names: every
// byte but ASCII letters, digits, ':' '_' and a '.' not in front as \xHH.
func unitEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ':' || c == '_' || c == '.' && i > 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, `\x%02x`, c)
	}
	return b.String()
}
