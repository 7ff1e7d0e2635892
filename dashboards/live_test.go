// SPDX-License-Identifier: Apache-2.0

package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

const dashHost = "dashhost"

// dashPrefix is the agent's --prefix in the check: not the default
// "servers", and two nodes, so a dashboard that hard-codes servers. or
// counts path nodes from the front fails.
const dashPrefix = "nm.check"

// TestMain: the test containers' processes are this binary re-executed
// with NMTEST_WORKLOAD (realcontainers_test.go).
func TestMain(m *testing.M) {
	if spec := os.Getenv("NMTEST_WORKLOAD"); spec != "" {
		runWorkload(spec)
		return
	}
	os.Exit(m.Run())
}

// web is a client of graphite-web that speaks as Grafana does.
type web struct {
	g *graphitetest.Graphite
	// retry5xx: a cluster frontend fails a request when a backend does
	// (STORE_FAIL_ON_ERROR); such an answer is asked again, up to 3 times.
	retry5xx bool
}

func (w web) do(method, path string, form url.Values) ([]byte, error) {
	for i := 0; ; i++ {
		body, err := w.g.Do(method, path, form)
		if err == nil || !w.retry5xx || i == 3 || !strings.Contains(err.Error(), ": 50") {
			return body, err
		}
		time.Sleep(time.Second)
	}
}

type renderSeries struct {
	Target     string         `json:"target"`
	Datapoints [][2]*float64  `json:"datapoints"`
	Tags       map[string]any `json:"tags"`
}

// render sends the panel's targets as Grafana does: one form POST per
// panel, each target wrapped in aliasSub(..., "\1 <refId>") so the answer
// can be split by refId.
func (w web) render(targets map[string]string, from string) (map[string][]renderSeries, error) {
	form := url.Values{"from": {from}, "until": {"now"}, "format": {"json"}, "maxDataPoints": {"1000"}}
	for _, ref := range sortedKeys(targets) {
		form.Add("target", fmt.Sprintf(`aliasSub(%s, "(^.*$)", "\1 %s")`, targets[ref], ref))
	}
	body, err := w.do("POST", "/render", form)
	if err != nil {
		return nil, err
	}
	var ss []renderSeries
	if err := json.Unmarshal(body, &ss); err != nil {
		return nil, fmt.Errorf("render: %v: %.300s", err, body)
	}
	out := map[string][]renderSeries{}
	for _, s := range ss {
		i := strings.LastIndexByte(s.Target, ' ')
		if i < 0 {
			return nil, fmt.Errorf("render: series %q has no refId", s.Target)
		}
		ref := s.Target[i+1:]
		s.Target = s.Target[:i]
		out[ref] = append(out[ref], s)
	}
	return out, nil
}

func (s renderSeries) nonNull() int {
	n := 0
	for _, p := range s.Datapoints {
		if p[0] != nil {
			n++
		}
	}
	return n
}

// variableValues runs a query variable as Grafana would and returns the
// values (the text of each answer).
func (w web) variableValues(q string) ([]string, error) {
	method, path, form := variableRequest(q)
	body, err := w.do(method, path, form)
	if err != nil {
		return nil, err
	}
	var vals []string
	if strings.HasPrefix(path, "/metrics/find") {
		var nodes []struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(body, &nodes); err != nil {
			return nil, fmt.Errorf("%s: %v: %.300s", path, err, body)
		}
		for _, n := range nodes {
			vals = append(vals, n.Text)
		}
	} else if err := json.Unmarshal(body, &vals); err != nil {
		return nil, fmt.Errorf("%s: %v: %.300s", path, err, body)
	}
	return vals, nil
}

// moduleRoot is the folder with go.mod.
func moduleRoot(t testing.TB) string {
	script, err := graphitetest.Script()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(filepath.Dir(script))
}

// fixture is a real Graphite fed by the real agent watching real containers.
type fixture struct {
	g    *graphitetest.Graphite
	w    web
	log  *syncbuf.Buffer
	host string // the host chosen for $host; dashHost when empty
}

// The test containers: three of image shop/web (two in region abc, one in
// xyz), a database, and a batch job started while the agent runs; web-3
// is removed during the run (a die event) and a process of job-1 is
// OOM-killed by its memory limit (an oom event). web-1 and web-2 have
// network namespaces of their own, joined by a veth pair; the others use
// the host's (and publish no network, as a --network host container).
func testContainers(ioDir string) (steady []*testContainer, job *testContainer, gone *testContainer) {
	steady = []*testContainer{
		{name: "web-1", image: "shop/web:1.25", labels: map[string]string{"region": "abc", "tier": "frontend"},
			work: workload{CPU: 0.25, MemMB: 60, Net: 3, IODir: ioDir}, memLimit: 256 << 20},
		{name: "web-2", image: "shop/web:1.25", labels: map[string]string{"region": "abc", "tier": "frontend"},
			work: workload{CPU: 0.2, MemMB: 45, Net: 1.5, Phase: 2}, memLimit: 256 << 20, cpuQuota: 0.1},
		{name: "web-3", image: "shop/web:1.25", labels: map[string]string{"region": "xyz", "tier": "frontend"},
			work: workload{CPU: 0.12, MemMB: 30, Phase: 4}},
		{name: "db-1", image: "shop/db:16", labels: map[string]string{"region": "abc", "tier": "backend"},
			work: workload{CPU: 0.1, MemMB: 90, IODir: ioDir, Phase: 1}, memLimit: 512 << 20},
	}
	job = &testContainer{name: "job-1", image: "batch/job:3", labels: map[string]string{"region": "xyz", "tier": "batch"},
		work: workload{CPU: 0.05, MemMB: 4, Phase: 3}, memLimit: 64 << 20}
	return steady, job, steady[2]
}

// setup starts Graphite, real containers and the agent (a 1 s interval,
// --tags, --events-url), runs it for at least run while a container
// starts, one is OOM-killed and one goes, then stops it and waits until
// what the panels read is visible. during, if not nil, runs meanwhile.
func setup(t *testing.T, run time.Duration, during func(ctx context.Context)) *fixture {
	begin := time.Now()
	bin := filepath.Join(t.TempDir(), "collector")
	built := make(chan error, 1)
	go func() {
		build := exec.Command("go", "build", "-o", bin, "./cmd/collector")
		build.Dir = moduleRoot(t)
		out, err := build.CombinedOutput()
		if err != nil {
			err = fmt.Errorf("go build ./cmd/collector: %v\n%s", err, out)
		}
		built <- err
	}()
	fx := &fixture{g: graphitetest.Start(t), log: &syncbuf.Buffer{}}
	fx.w = web{g: fx.g}

	cg := cgrouptest.New(t)
	stub := startDockerStub(t)
	steady, job, gone := testContainers(t.TempDir())
	for _, c := range steady {
		startContainer(t, cg, stub, c, false)
	}
	linkPair(t, steady[0], steady[1])
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	t.Logf("graphite up, agent built, %d containers running: %v", len(steady), time.Since(begin).Round(time.Millisecond))

	agent := exec.Command(bin, "--graphite", fx.g.CarbonAddr, "--interval", "1s", "--hostname", dashHost, "--prefix", dashPrefix,
		"--docker-host", "unix://"+stub.Socket, "--tags", "--tag-labels", "region,tier",
		"--events-url", fx.g.WebURL, "--log-level", "info")
	agent.Stdout, agent.Stderr = fx.log, fx.log
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		agent.Process.Signal(syscall.SIGTERM)
		waited := make(chan error, 1)
		go func() { waited <- agent.Wait() }()
		select {
		case err := <-waited:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(20 * time.Second):
			agent.Process.Kill()
			<-waited
			t.Errorf("agent did not stop on SIGTERM")
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", fx.log.String())
		}
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if during != nil {
			during(ctx)
		}
	}()
	defer func() { cancel(); <-done }()

	// After the agent's first cycle a new container is a start.
	p := dashPrefix + "." + dashHost + "."
	fx.g.WaitFor(t, p+"containers.running_count", "-10min", has(1), 30*time.Second)
	startContainer(t, cg, stub, job, true)
	// Once a cycle has seen job-1, one of its processes outgrows the
	// limit: the kernel kills it (memory.oom_control oom_kill).
	fx.g.WaitFor(t, p+"containers.job-1.memory.oom_kills", "-10min", has(1), 30*time.Second)
	hog := exec.Command("sh", "-c", "read x; exec dd if=/dev/zero of=/dev/null bs=96M count=1")
	hogIn := cg.Start(hog, job.rel)
	hogIn.Write([]byte("go\n"))
	if err := hog.Wait(); err == nil {
		t.Fatalf("dd with a 96 MB buffer survived the 64 MB limit of job-1")
	}
	// web-3 goes.
	stopContainer(cg, stub, gone)

	// Every lifecycle event reaches graphite-web through the agent.
	for _, ev := range []string{"start", "oom", "die"} {
		fx.waitEvent(t, "container "+ev+" host="+dashHost, 30*time.Second)
	}
	time.Sleep(run - time.Since(started)) // the rest of the run, if any
	stop()
	t.Logf("agent ran %v (events seen); set-up so far %v", time.Since(started).Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))

	// Visible: rates (two samples), the tagged series of every container,
	// per-container network and IO.
	minPoints := int(time.Since(started)/time.Second) / 2
	fx.g.WaitFor(t, p+"agent.carbon.sent", "-10min", has(minPoints), 30*time.Second)
	fx.g.WaitFor(t, p+"cpu.total.idle", "-10min", has(minPoints), 30*time.Second)
	fx.g.WaitFor(t, p+"containers.web-1.network.eth0.rx_byte", "-10min", has(2), 30*time.Second)
	fx.g.WaitFor(t, p+"containers.db-1.io.write_byte_per_second", "-10min", has(2), 30*time.Second)
	fx.g.WaitFor(t, "seriesByTag('name=container.cpu.total','host="+dashHost+"','image=~(shop|batch)/.*')", "-10min",
		func(ss []graphitetest.Series) bool {
			seen := map[string]bool{}
			for _, s := range ss {
				seen[s.Tags["container"]] = len(s.Values()) > 0
			}
			return seen["web-1"] && seen["web-2"] && seen["web-3"] && seen["db-1"] && seen["job-1"]
		}, 60*time.Second)
	return fx
}

// has(n): at least one series with n points.
func has(n int) func([]graphitetest.Series) bool {
	return func(ss []graphitetest.Series) bool {
		for _, s := range ss {
			if len(s.Values()) >= n {
				return true
			}
		}
		return false
	}
}

// hasSeries is true when at least want series have n points or more.
func hasSeries(want, n int) func([]graphitetest.Series) bool {
	return func(ss []graphitetest.Series) bool {
		got := 0
		for _, s := range ss {
			if len(s.Values()) >= n {
				got++
			}
		}
		return got >= want
	}
}

// waitEvent polls graphite-web's events as Grafana's annotations read them.
func (fx *fixture) waitEvent(t *testing.T, tags string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev, err := fx.g.Events("-10min", tags)
		if err == nil && len(ev) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no graphite-web event with tags %q after %v (err %v)\nagent log:\n%s", tags, timeout, err, fx.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// preferred are the values chosen for variables in the first selection.
var preferred = map[string]string{"prefix": dashPrefix, "host": dashHost, "image": "shop/web:1.25", "label_value": "abc"}

// selections returns the variable choices to check a dashboard with: the
// first value of each variable (the test's for host, image and label
// value), then a wide one: the last option of custom variables (top 50)
// and every value (or All) of the multi-value variables. It fails when a
// variable query returns nothing.
func (fx *fixture) selections(t *testing.T, d gDashboard) (sels []selection, allValues map[string]string) {
	base := selection{values: map[string][]string{}, all: map[string]bool{}}
	wide := base.clone()
	allValues = map[string]string{}
	for _, v := range d.Templating.List {
		switch v.Type {
		case "textbox", "custom":
			// The first option, and for the wide selection the last (the
			// largest top N).
			opts := strings.Split(v.queryText(), ",")
			base.values[v.Name] = []string{strings.TrimSpace(opts[0])}
			wide.values[v.Name] = []string{strings.TrimSpace(opts[len(opts)-1])}
			if want, ok := preferred[v.Name]; ok {
				// What the user types into the textbox (the prefix).
				base.values[v.Name] = []string{want}
				wide.values[v.Name] = []string{want}
			}
		case "query":
			q := interpolate(v.queryText(), base, allValues)
			vals, err := fx.w.variableValues(q)
			if err != nil {
				t.Errorf("%s: variable %s (%s): %v", d.File, v.Name, q, err)
				continue
			}
			t.Logf("%s: variable %s: %s -> %q", d.File, v.Name, q, vals)
			if len(vals) == 0 {
				t.Errorf("%s: variable %s: %s returns nothing", d.File, v.Name, q)
				continue
			}
			// The test containers' values (other containers of the
			// machine may be there too, without image or label).
			pick := vals[0]
			if want, ok := preferred[v.Name]; ok {
				if v.Name == "host" && fx.host != "" {
					want = fx.host
				}
				if !slices.Contains(vals, want) {
					t.Errorf("%s: variable %s: %s does not list %s: %q", d.File, v.Name, q, want, vals)
				}
				pick = want
			}
			base.values[v.Name] = []string{pick}
			wide.values[v.Name] = []string{pick}
			if v.Multi {
				wide.values[v.Name] = vals
			}
			if v.IncludeAll {
				wide.all[v.Name] = true
				allValues[v.Name] = v.AllValue
			}
		}
	}
	return []selection{base, wide}, allValues
}

// TestDashboardsRenderAgainstGraphite is the dashboards check (make
// dashboards-check, part of make test). Against a real graphite-web fed by
// the real agent watching real containers, it sends what Grafana's
// Graphite data source sends for each dashboard: /functions (the query
// editor's function list), every query variable (/metrics/find or
// /tags/autoComplete/values), every annotation (/events/get_data) and
// every panel's targets with the variables expanded (/render, form POST,
// format=json), and fails on any error, any target without series and any
// series without a value.
func TestDashboardsRenderAgainstGraphite(t *testing.T) {
	begin := time.Now()
	fx := setup(t, 8*time.Second, nil)
	t.Logf("set-up (graphite, containers, agent run, data visible): %v", time.Since(begin).Round(time.Millisecond))

	funcs := fx.functions(t)
	fx.checkFind(t)

	renders := 0
	for _, d := range loadDashboards(t) {
		sels, allValues := fx.selections(t, d)
		// Annotations: Grafana joins the tags with spaces, expands the
		// variables and reads /events/get_data?tags=...; graphite-web
		// returns the events that carry all of them.
		for _, a := range d.Annotations.List {
			if a.BuiltIn == 1 || a.Target == nil {
				continue
			}
			tags := interpolate(strings.Join(a.Target.Tags, " "), sels[0], allValues)
			ev, err := fx.g.Events("-10min", tags)
			if err != nil || len(ev) == 0 {
				t.Errorf("%s: annotation %s (tags %q): %d events, %v", d.File, a.Name, tags, len(ev), err)
				continue
			}
			t.Logf("%s: annotation %s (tags %q): %d events, first %q", d.File, a.Name, tags, len(ev), ev[0].What)
		}
		for _, p := range d.graphPanels() {
			rendered := map[string]map[string][]renderSeries{} // by targets
			for i, sel := range sels {
				targets := map[string]string{}
				for _, tg := range p.Targets {
					if tg.Hide {
						continue
					}
					targets[tg.RefID] = interpolate(tg.Target, sel, allValues)
					for _, m := range funcNameRE.FindAllStringSubmatch(tg.Target, -1) {
						if funcs[m[1]] == nil {
							t.Errorf("%s: %s: function %s is not in graphite-web's /functions", d.File, p.Title, m[1])
						}
					}
				}
				key := fmt.Sprint(targets)
				got, seen := rendered[key]
				if !seen {
					var err error
					got, err = fx.w.render(targets, "-10min")
					renders++
					if err != nil {
						t.Errorf("%s: %s [%s]: %v", d.File, p.Title, sel, err)
						continue
					}
					rendered[key] = got
				}
				for _, ref := range sortedKeys(targets) {
					ss := got[ref]
					var names []string
					for _, s := range ss {
						names = append(names, s.Target)
					}
					slices.Sort(names)
					if !seen {
						if len(ss) == 0 {
							t.Errorf("%s: %s %s [%s]: no series for %s", d.File, p.Title, ref, sel, targets[ref])
						}
						for _, s := range ss {
							if s.nonNull() == 0 {
								t.Errorf("%s: %s %s [%s]: series %q is all null: %s", d.File, p.Title, ref, sel, s.Target, targets[ref])
							}
						}
						t.Logf("%s: %s %s [%s]: %d series %q", d.File, p.Title, ref, sel, len(ss), names)
					}
					key := d.File + ": " + p.Title + " " + ref
					if want, ok := expectExactly[key]; ok && i == 0 && !slices.Equal(names, want) {
						t.Errorf("%s: %s %s [%s]: series %q, want exactly %q", d.File, p.Title, ref, sel, names, want)
					}
					if want, ok := expectAmong[key]; ok && i == len(sels)-1 && !containsAll(names, want) {
						t.Errorf("%s: %s %s [%s]: series %q, want %q among them", d.File, p.Title, ref, sel, names, want)
					}
				}
			}
		}
	}
	t.Logf("%d render requests; total %v", renders, time.Since(begin).Round(time.Millisecond))
}

// expectAmong are series (legend names) that panels must show for the
// wide selection (top 50, every image, every label value): the test
// containers, seen through the paths and tags the agent publishes. Other
// containers of the machine (other tests') may be there too.
var expectAmong = map[string][]string{
	"containers.json: Top $top by CPU A":                  {"db-1", "job-1", "web-1", "web-2"},
	"containers.json: Top $top by memory (working set) A": {"db-1", "job-1", "web-1", "web-2"},
	"containers.json: Memory limit, top $top A":           {"db-1", "job-1", "web-1", "web-2"},
	"containers.json: CPU throttled time, top $top A":     {"web-2"},
	"containers.json: OOM kills (cumulative), top $top A": {"job-1"},
	"containers.json: Network per container, top $top A":  {"web-1.eth0.rx_byte", "web-2.eth0.rx_byte"},
	"containers.json: Block IO per container, top $top B": {"db-1.write_byte_per_second", "web-1.write_byte_per_second"},
	"agent.json: Collector success A":                     {"containers", "cpu", "iostat", "network"},
}

// expectExactly are the group views' series for the first selection:
// the containers of image shop/web:1.25 in region abc, and nothing else.
var expectExactly = map[string][]string{
	"containers.json: CPU per container vs group average A":         {"dashhost.web-1", "dashhost.web-2"},
	"containers.json: Working set per container vs group average A": {"dashhost.web-1", "dashhost.web-2"},
	"containers.json: Average CPU per image A":                      {"shop/web:1.25"},
	"containers.json: Total CPU per $label A":                       {"abc"},
}

// containsAll: every name of want is in names (a top-N panel may show
// other containers of the machine beside the test's).
func containsAll(names, want []string) bool {
	for _, w := range want {
		if !slices.Contains(names, w) {
			return false
		}
	}
	return true
}

// functions loads /functions as Grafana does: graphite-web 1.1.7+ writes
// "default": Infinity, which is not JSON; Grafana replaces exactly that
// (/"default": ?Infinity/g -> "default": 1e9999) before JSON.parse, and
// falls back to a built-in list if that still fails. The check demands
// that the fixed text parses, so the editor gets this server's list.
func (fx *fixture) functions(t *testing.T) map[string]any {
	t.Helper()
	body, err := fx.w.do("GET", "/functions", nil)
	if err != nil {
		t.Fatal(err)
	}
	fixed := regexp.MustCompile(`"default": ?Infinity`).ReplaceAll(body, []byte(`"default": 1e9999`))
	dec := json.NewDecoder(bytes.NewReader(fixed))
	dec.UseNumber() // 1e9999 is JSON, but out of float64's range
	var funcs map[string]any
	if err := dec.Decode(&funcs); err != nil {
		t.Fatalf("/functions is not JSON even after Grafana's Infinity fix: %v", err)
	}
	if len(funcs) < 100 || funcs["seriesByTag"] == nil || funcs["aliasByNode"] == nil {
		t.Fatalf("/functions: %d functions, seriesByTag or aliasByNode missing", len(funcs))
	}
	return funcs
}

// checkFind: the data source's test (/metrics/find?query=*) and the query
// editor's browsing, both as Grafana sends them (form POST, from/until in
// the URL) and as a plain GET.
func (fx *fixture) checkFind(t *testing.T) {
	t.Helper()
	for q, want := range map[string]string{
		"*":                                "nm",
		"nm.*":                             "check",
		dashPrefix + ".*":                  dashHost,
		dashPrefix + "." + dashHost + ".*": "containers",
		dashPrefix + "." + dashHost + ".containers.*":       "web-1",
		dashPrefix + "." + dashHost + ".agent.collectors.*": "containers",
	} {
		for _, method := range []string{"POST", "GET"} {
			var body []byte
			var err error
			if method == "POST" {
				body, err = fx.w.do("POST", "/metrics/find?from=-10min&until=now", url.Values{"query": {q}})
			} else {
				body, err = fx.w.do("GET", "/metrics/find", url.Values{"query": {q}, "from": {"-10min"}, "until": {"now"}})
			}
			if err != nil {
				t.Errorf("/metrics/find %s %q: %v", method, q, err)
				continue
			}
			var nodes []struct {
				Text       string `json:"text"`
				Expandable int    `json:"expandable"`
			}
			if err := json.Unmarshal(body, &nodes); err != nil {
				t.Errorf("/metrics/find %s %q: %v: %.300s", method, q, err, body)
				continue
			}
			found := false
			for _, n := range nodes {
				found = found || n.Text == want
			}
			if !found {
				t.Errorf("/metrics/find %s %q: no %q in %.300s", method, q, want, body)
			}
		}
	}
}
