// SPDX-License-Identifier: Apache-2.0

package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// nodeAgent is the agent of one node of the cluster, a process of its own
// in the node's network namespace.
type nodeAgent struct {
	host string
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
}

func startNodeAgent(t *testing.T, c *graphitetest.Cluster, n int, bin string, args ...string) *nodeAgent {
	t.Helper()
	a := &nodeAgent{host: fmt.Sprintf("node%d", n), log: &syncbuf.Buffer{}}
	a.cmd = c.Command(n, bin, append([]string{"--interval", "1s", "--hostname", a.host, "--tags",
		"--events-url", c.EventsURL, "--spool-dir", t.TempDir()}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.stop(t)
		if t.Failed() {
			t.Logf("%s log (last 3000 bytes):\n%s", a.host, tail(a.log.String(), 3000))
		}
	})
	return a
}

func (a *nodeAgent) stop(t *testing.T) {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s: %v", a.host, err)
		}
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-done
		t.Errorf("%s did not stop on SIGTERM", a.host)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cacheSeries lists what carbon-cache n stored for the nodes: plain paths
// under servers/ as dotted names, tagged series as graphite stores them
// (their '.' turned into '-').
func cacheSeries(t *testing.T, c *graphitetest.Cluster, n int) (plain, tagged map[string]bool) {
	t.Helper()
	plain, tagged = map[string]bool{}, map[string]bool{}
	root := c.CacheWhisper(n)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".wsp") {
			return err
		}
		rel, _ := filepath.Rel(root, strings.TrimSuffix(p, ".wsp"))
		switch {
		case strings.HasPrefix(rel, "servers/"):
			plain[strings.ReplaceAll(rel, "/", ".")] = true
		case strings.HasPrefix(rel, "_tagged/"):
			tagged[filepath.Base(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return plain, tagged
}

// renderAll renders the targets (one form POST) and returns the series by
// name; a name seen twice is an error. The frontend fails a request when a
// backend fails (STORE_FAIL_ON_ERROR): tried again for up to 30 s.
func renderAll(c *graphitetest.Cluster, from, until string, targets ...string) (map[string]graphitetest.Series, error) {
	form := url.Values{"target": targets, "from": {from}, "until": {until}, "format": {"json"}}
	var body []byte
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		if body, err = c.Do("POST", "/render", form); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Target     string        `json:"target"`
		Datapoints [][2]*float64 `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("render: %v: %.300s", err, body)
	}
	out := map[string]graphitetest.Series{}
	for _, r := range raw {
		if _, dup := out[r.Target]; dup {
			return nil, fmt.Errorf("render: %s answered twice", r.Target)
		}
		s := graphitetest.Series{Target: r.Target}
		for _, dp := range r.Datapoints {
			if dp[1] != nil {
				s.Points = append(s.Points, graphitetest.Point{Value: dp[0], Time: int64(*dp[1])})
			}
		}
		out[r.Target] = s
	}
	return out, nil
}

// nodeTargets matches every plain series of the nodes, level by level.
func nodeTargets() []string {
	var ts []string
	p := "servers.node[123]"
	for depth := 0; depth < 8; depth++ {
		p += ".*"
		ts = append(ts, p)
	}
	return ts
}

// hostSeries: the plain series of the nodes that are not containers' (other
// tests' containers come and go on this machine, and every node sees them).
func hostSeries(names map[string]bool) map[string]bool {
	out := map[string]bool{}
	for n := range names {
		if !strings.Contains(n, ".containers.") {
			out[n] = true
		}
	}
	return out
}

func union(a, b map[string]bool) map[string]bool {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	if len(out) > 10 {
		out = append(out[:10], "...")
	}
	return out
}

// pointsIn counts the non-null points of s with from <= time <= until.
func pointsIn(s graphitetest.Series, from, until int64) int {
	n := 0
	for _, p := range s.Points {
		if p.Value != nil && p.Time >= from && p.Time <= until {
			n++
		}
	}
	return n
}

// TestCluster: three agents, each a node in a network namespace of its own,
// send through a real carbon-c-relay (fnv1a_ch) to two real carbon-caches,
// read through one graphite-web frontend (CLUSTER_SERVERS). One cluster
// start serves: the split of the series over the caches, a cache down for
// 30 s behind the relay, and the relay itself down for 30 s.
func TestCluster(t *testing.T) {
	begin := time.Now()
	c := graphitetest.StartCluster(t)
	bin := agentBinary(t)
	t.Logf("cluster up, agent built: %v", time.Since(begin).Round(time.Second))
	var agents []*nodeAgent
	for n := 1; n <= 3; n++ {
		// With a spool (startNodeAgent gives each one) a relay outage
		// waits on disk.
		agents = append(agents, startNodeAgent(t, c, n, bin, "--graphite", c.Relays[0],
			// The host collectors only: every node would publish the same
			// containers of this machine (other tests' too, which come and
			// go), which says nothing more about the cluster.
			"--collectors", strings.Join(hostCollectors, ",")))
	}
	for _, a := range agents {
		c.WaitFor(t, "servers."+a.host+".cpu.total.idle", "-5min", func(s []graphitetest.Series) bool {
			return len(s) == 1 && len(s[0].Values()) >= 3
		}, 60*time.Second)
	}

	var split [3]map[string]bool // by cache: the host series it holds
	t.Run("split", func(t *testing.T) {
		// Every series the caches hold is read through the frontend, and
		// no series is held by both caches.
		deadline := time.Now().Add(30 * time.Second)
		for {
			p1, g1 := cacheSeries(t, c, 1)
			p2, g2 := cacheSeries(t, c, 2)
			all, err := renderAll(c, "-5min", "now", append(nodeTargets(), "seriesByTag('host=~node[123]')")...)
			if err != nil {
				t.Fatal(err)
			}
			plain, tagged := map[string]bool{}, map[string]bool{}
			for name, s := range all {
				if len(s.Values()) == 0 {
					t.Errorf("%s: no value through the frontend", name)
				}
				if strings.Contains(name, ";") {
					tagged[strings.ReplaceAll(name, ".", "-")] = true
				} else {
					plain[name] = true
				}
			}
			h1, h2, hf := hostSeries(p1), hostSeries(p2), hostSeries(plain)
			both := append(intersect(p1, p2), intersect(g1, g2)...)
			if len(both) > 0 {
				t.Fatalf("series stored by both caches: %v", both)
			}
			same := len(diff(hf, union(h1, h2))) == 0 && len(diff(union(h1, h2), hf)) == 0
			if same || time.Now().After(deadline) {
				if !same {
					t.Fatalf("frontend and caches disagree: only in the frontend %v, only in the caches %v",
						diff(hf, union(h1, h2)), diff(union(h1, h2), hf))
				}
				t.Logf("host series: cache1 %d, cache2 %d, frontend %d; container paths: cache1 %d, cache2 %d; tagged: cache1 %d, cache2 %d, frontend %d",
					len(h1), len(h2), len(hf), len(p1)-len(h1), len(p2)-len(h2), len(g1), len(g2), len(tagged))
				for _, a := range agents {
					n1, n2 := 0, 0
					for s := range h1 {
						if strings.HasPrefix(s, "servers."+a.host+".") {
							n1++
						}
					}
					for s := range h2 {
						if strings.HasPrefix(s, "servers."+a.host+".") {
							n2++
						}
					}
					t.Logf("%s: %d series on cache1, %d on cache2", a.host, n1, n2)
					if n1 == 0 || n2 == 0 {
						t.Errorf("%s: series not split over both caches (%d, %d)", a.host, n1, n2)
					}
				}
				split[1], split[2] = h1, h2
				return
			}
			time.Sleep(time.Second)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("cache down 30s", func(t *testing.T) {
		relayLog := filepath.Join(c.Dir, "log", "relay1.out")
		logFrom := fileSize(t, relayLog)
		c.StopCache(t, 1)
		// The first second after the cache is gone. Not the one after
		// the stop was asked for: carbon-cache 1.1.7 loses what it
		// received in about its last second before SIGTERM (its writer
		// drains the cache once a second, and not at shutdown), and a
		// loaded machine delays the signal past a tick. That loss is the
		// cache's own, at its stop; what the relay keeps is checked here.
		from := time.Now().Unix() + 1
		time.Sleep(30 * time.Second)
		c.StartCache(t, 1)
		until := time.Now().Unix() - 1
		// Wait for points of after the return on cache 1's series.
		c.WaitFor(t, "servers.node1.agent.carbon.sent", "-5min", func(s []graphitetest.Series) bool {
			return len(s) == 1 && latest(s[0]) > until+3
		}, 60*time.Second)
		time.Sleep(3 * time.Second) // the relay's queue drains in well under that
		all, err := renderAll(c, "-5min", "now", nodeTargets()...)
		if err != nil {
			t.Fatal(err)
		}
		want := int(until - from + 1)
		var missing []string // cache 1's, at most 10
		report := func(cache int) (complete, partial, empty, kept, expected int) {
			for name := range split[cache] {
				s, ok := all[name]
				if !ok {
					t.Errorf("%s (cache%d) not read through the frontend", name, cache)
					continue
				}
				if pointsIn(s, from-10, from-1) == 0 || pointsIn(s, until+1, until+10) == 0 || deviceChurn(name) {
					continue // not a steady series
				}
				k := pointsIn(s, from, until)
				kept += k
				expected += want
				if cache == 1 && k != want && len(missing) < 10 {
					missing = append(missing, fmt.Sprintf("%s %v", name, gaps(s, from, until)))
				}
				switch {
				case k == want:
					complete++
				case k == 0:
					empty++
				default:
					partial++
				}
			}
			return
		}
		c1, p1, e1, k1, x1 := report(1)
		c2, p2, e2, k2, x2 := report(2)
		t.Logf("cache1 down %d s: its series: %d complete, %d partial, %d empty; %d of %d points kept by the relay", want, c1, p1, e1, k1, x1)
		t.Logf("cache2 (up) series: %d complete, %d partial, %d empty; %d of %d points", c2, p2, e2, k2, x2)
		stats := relayStats(t, c)
		dropped := stats["carbon.relays.relay1.destinations.127_0_0_1:2103.dropped"]
		t.Logf("relay1 for cache1: queued at most %v, dropped %v (its queue: 25000 metrics per destination)",
			stats["carbon.relays.relay1.destinations.127_0_0_1:2103.queued max"], dropped)
		if k2 != x2 || x2 == 0 {
			t.Errorf("the cache that stayed up lost points: %d of %d", k2, x2)
		}
		if x1 == 0 {
			t.Fatalf("no steady series on cache1")
		}
		// The relay holds a down cache's metrics in its queue and
		// delivers them when the cache is back; what overflows the queue
		// it drops and counts. It also loses one line it does not count:
		// it writes a line per write() and learns that the cache closed
		// the connection only from the write after (EPIPE, logged as
		// "failed to write() to ...: Broken pipe"), so the line written
		// into the closed connection is gone, counted as sent. One line
		// per such entry of its log; a reset instead (lines unread in the
		// cache's socket, however many) is allowed nothing. Any other
		// loss is a failure.
		intoClosed := brokenPipes(t, relayLog, logFrom, "127.0.0.1:2103")
		t.Logf("relay1 wrote into cache1's closed connection %d times", intoClosed)
		if float64(x1-k1) > dropped+float64(intoClosed) {
			t.Errorf("%d points of the cache that was down are missing (%q), the relay counted %v dropped and %d written into a closed connection",
				x1-k1, missing, dropped, intoClosed)
		}
	})

	t.Run("relay down 30s", func(t *testing.T) {
		from := time.Now().Unix() + 1
		c.StopRelay(t, 1)
		time.Sleep(30 * time.Second)
		c.StartRelay(t, 1)
		until := time.Now().Unix() - 1
		for _, a := range agents {
			// Replayed: the spool is empty again and the outage's points are there.
			c.WaitFor(t, "servers."+a.host+".agent.carbon.spooled", "-5min", func(s []graphitetest.Series) bool {
				return len(s) == 1 && maxIn(s[0], from, until) > 0 && latest(s[0]) > until && lastValue0(s[0]) == 0
			}, 90*time.Second)
		}
		time.Sleep(3 * time.Second)
		checkNoGap(t, c, "relay down", union(split[1], split[2]), from, until)
	})
	if t.Failed() {
		return
	}

	t.Run("failover, first relay killed", func(t *testing.T) {
		// The nodes' agents again, now with both relays in failover mode.
		for _, a := range agents {
			a.stop(t)
		}
		var logs []*syncbuf.Buffer
		for n := 1; n <= 3; n++ {
			a := startNodeAgent(t, c, n, bin, "--graphite", c.Relays[0]+","+c.Relays[1], "--graphite-mode", "failover",
				"--collectors", strings.Join(hostCollectors, ","))
			logs = append(logs, a.log)
		}
		time.Sleep(5 * time.Second)
		from := time.Now().Unix() - 3
		c.StopRelay(t, 1, "KILL")
		killed := time.Now()
		time.Sleep(15 * time.Second)
		c.StartRelay(t, 1)
		// Back to the first relay once its backoff has passed (at most
		// about 16 s into an outage of 15 s).
		for i, lg := range logs {
			deadline := time.Now().Add(60 * time.Second)
			for !strings.Contains(lg.String(), "back to the preferred destination") {
				if time.Now().After(deadline) {
					t.Fatalf("node%d never went back to relay 1:\n%s", i+1, tail(lg.String(), 3000))
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !strings.Contains(lg.String(), "failing over") {
				t.Errorf("node%d never failed over to relay 2", i+1)
			}
		}
		back := time.Now()
		time.Sleep(10 * time.Second)
		until := time.Now().Unix() - 2
		t.Logf("relay 1 killed, back after %v, agents back on it %v after the kill", 15*time.Second, back.Sub(killed).Round(time.Second))
		checkNoGap(t, c, "failover", union(split[1], split[2]), from, until)
		// The traffic is on relay 1 again: relay 2 forwards only its own
		// statistics (tens of lines a second), relay 1 the nodes'.
		stats, err := renderAll(c, "-2min", "now", "sumSeries(carbon.relays.relay1.destinations.127_*.sent)", "sumSeries(carbon.relays.relay2.destinations.127_*.sent)")
		if err != nil {
			t.Fatal(err)
		}
		// Lines per second since every agent was back on relay 1 (the
		// relay's own clock stamps its statistics).
		rate := func(name string) float64 {
			for k, s := range stats {
				if !strings.Contains(k, name) {
					continue
				}
				var first, last *graphitetest.Point
				for i, p := range s.Points {
					if p.Value != nil && p.Time > back.Unix() && p.Time <= until {
						if first == nil {
							first = &s.Points[i]
						}
						last = &s.Points[i]
					}
				}
				if first != nil && last.Time > first.Time {
					return (*last.Value - *first.Value) / float64(last.Time-first.Time)
				}
			}
			return -1
		}
		r1, r2 := rate("relay1"), rate("relay2")
		t.Logf("after the return: relay 1 forwards %.0f lines/s, relay 2 %.0f", r1, r2)
		if r1 < 300 || r2 < 0 || r2 > r1/4 {
			t.Errorf("traffic not back on relay 1: relay 1 %.0f lines/s, relay 2 %.0f", r1, r2)
		}
	})
}

// gaps lists the seconds from..until where s has no point.
func gaps(s graphitetest.Series, from, until int64) []int64 {
	var out []int64
	for ts := from; ts <= until; ts++ {
		if pointsIn(s, ts, ts) == 0 {
			out = append(out, ts)
		}
	}
	return out
}

// fileSize is where the relay's log ends now: what it logs later starts there.
func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// brokenPipes counts the relay's log entries from offset from on that say
// a write to dest failed with EPIPE: the cache had closed the connection,
// and the line written before (it writes one per write()) went into it.
func brokenPipes(t *testing.T, path string, from int64, dest string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b[min(from, int64(len(b))):]), "failed to write() to "+dest+": Broken pipe")
}

// checkNoGap: every steady series of names (a point in the 10 s before
// from and after until) has every point from..until, read through the
// frontend.
func checkNoGap(t *testing.T, c *graphitetest.Cluster, what string, names map[string]bool, from, until int64) {
	t.Helper()
	all, err := renderAll(c, "-5min", "now", nodeTargets()...)
	if err != nil {
		t.Fatal(err)
	}
	want := int(until - from + 1)
	steady, lost := 0, 0
	var worst []string
	for name := range names {
		s, ok := all[name]
		if !ok {
			t.Errorf("%s not read through the frontend", name)
			continue
		}
		if pointsIn(s, from-10, from-1) == 0 || pointsIn(s, until+1, until+10) == 0 || deviceChurn(name) {
			continue
		}
		steady++
		if k := pointsIn(s, from, until); k != want {
			lost += want - k
			worst = append(worst, fmt.Sprintf("%s %d/%d", name, k, want))
		}
	}
	t.Logf("%s, %d s: %d steady series of 3 nodes, %d points missing", what, want, steady, lost)
	if steady < len(names)/2 || len(worst) > 0 {
		slices.Sort(worst)
		t.Errorf("%s: %d steady series of %d, points missing in %d: %q", what, steady, len(names), len(worst), worst[:min(len(worst), 20)])
	}
}

// deviceChurn: disk and mount series, which skip a cycle when other tests
// on this machine make and remove loop devices and mounts (a counter that
// goes down is a reset: no rate that cycle). Every other series has a point
// every cycle.
func deviceChurn(name string) bool {
	return strings.Contains(name, ".iostat.") || strings.Contains(name, ".diskspace.")
}

// intersect lists (some of) the keys in both a and b.
func intersect(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), 10)]
}

func latest(s graphitetest.Series) int64 {
	var ts int64
	for _, p := range s.Points {
		if p.Value != nil {
			ts = max(ts, p.Time)
		}
	}
	return ts
}

func lastValue0(s graphitetest.Series) float64 {
	for i := len(s.Points) - 1; i >= 0; i-- {
		if v := s.Points[i].Value; v != nil {
			return *v
		}
	}
	return -1
}

func maxIn(s graphitetest.Series, from, until int64) float64 {
	m := 0.0
	for _, p := range s.Points {
		if p.Value != nil && p.Time >= from && p.Time <= until {
			m = max(m, *p.Value)
		}
	}
	return m
}

// relayStats returns relay 1's own counters per destination, last value
// by name and the maximum as "name max", and logs them.
func relayStats(t *testing.T, c *graphitetest.Cluster) map[string]float64 {
	out := map[string]float64{}
	all, err := renderAll(c, "-5min", "now", "carbon.relays.relay1.destinations.*.*")
	if err != nil {
		t.Errorf("relay statistics: %v", err)
		return out
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		out[name] = lastValue0(all[name])
		out[name+" max"] = maxIn(all[name], 0, 1<<62)
		t.Logf("%s: last %v, max %v", name, out[name], out[name+" max"])
	}
	return out
}
