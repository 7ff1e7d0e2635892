// Package graphitetest runs a real Graphite (carbon-cache and graphite-web,
// from Debian's packages) for integration tests and reads data back through
// graphite-web's HTTP API.
//
// Start installs the packages if needed (scripts/graphite.sh install, which
// needs root and the Debian mirror the first time) and starts both servers
// on free 127.0.0.1 ports with all state in t.TempDir(). There is no way to
// skip: a test that needs Graphite fails when it cannot be had.
package graphitetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Graphite is a running carbon-cache plus graphite-web.
type Graphite struct {
	Dir        string // state folder: conf, storage (whisper, sqlite), log, run
	CarbonAddr string // host:port of the plaintext receiver, TCP and UDP
	WebURL     string // http://host:port of graphite-web, no trailing slash

	script string
	client *http.Client
}

// Series is one target of a /render?format=json answer.
type Series struct {
	Target string
	Tags   map[string]string
	Points []Point
}

// Point is one datapoint; Value is nil where Graphite has no value.
type Point struct {
	Value *float64
	Time  int64 // Unix seconds
}

// Event is one graphite-web event as /events/get_data returns it.
type Event struct {
	ID   int64    `json:"id"`
	When int64    `json:"when"` // Unix seconds
	What string   `json:"what"`
	Tags []string `json:"tags"`
	Data string   `json:"data"`
}

var installOnce struct {
	sync.Once
	err error
	out []byte
}

// Script returns the path of scripts/graphite.sh, found from this package's
// source folder.
func Script() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("graphitetest: cannot locate package source")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "scripts", "graphite.sh"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("graphitetest: no go.mod above %s", file)
		}
	}
}

// Start installs (once per process) and starts Graphite in t.TempDir() on
// free ports, and stops it in t.Cleanup.
func Start(t testing.TB) *Graphite {
	t.Helper()
	script := install(t)
	g := &Graphite{Dir: t.TempDir(), script: script, client: newClient()}
	var out []byte
	var err error
	for attempt := 1; ; attempt++ {
		carbonPort, webPort := freePort(t, true), freePort(t, false)
		if attempt > 1 {
			g.stop(t)
			g.Dir = t.TempDir() // nothing of the failed start carries over
		}
		// The watch pid makes the script stop Graphite if this test process dies.
		out, err = g.exec(3*time.Minute, []string{"GRAPHITE_WATCH_PID=" + strconv.Itoa(os.Getpid())},
			"start", g.Dir, strconv.Itoa(carbonPort), strconv.Itoa(webPort))
		if err == nil {
			g.CarbonAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(carbonPort))
			g.WebURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(webPort))
			break
		}
		// A port taken between choosing and binding (ours, or the pickle
		// and query ports the script chooses: carbon then exits during
		// start-up, as seen about once in twenty starts while other test
		// packages start Graphites in parallel): try other ports.
		retry := bytes.Contains(out, []byte("in use")) || bytes.Contains(out, []byte("exited during start-up"))
		if attempt == 3 || !retry {
			g.stop(t)
			t.Fatalf("graphite.sh start: %v\n%s", err, out)
		}
		t.Logf("graphite.sh start (attempt %d) failed, trying other ports: %v\n%s", attempt, err, out)
	}
	t.Cleanup(func() { g.stop(t) })
	t.Logf("graphite: carbon %s, web %s, state %s", g.CarbonAddr, g.WebURL, g.Dir)
	return g
}

// install installs the Debian packages once per process (scripts/graphite.sh
// install: Carbon, graphite-web, carbon-c-relay, socat) and returns the
// script's path.
func install(t testing.TB) string {
	t.Helper()
	script, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	installOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		installOnce.out, installOnce.err = exec.CommandContext(ctx, "bash", script, "install").CombinedOutput()
	})
	if installOnce.err != nil {
		t.Fatalf("graphite.sh install: %v\n%s", installOnce.err, installOnce.out)
	}
	return script
}

func newClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// exec runs the script (scripts/graphite.sh or cluster.sh) with ARGS with extra environment env.
func (g *Graphite) exec(timeout time.Duration, env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{g.script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second // the servers never hold our pipes, but be safe
	return cmd.CombinedOutput()
}

func (g *Graphite) run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := g.exec(2*time.Minute, nil, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(g.script), strings.Join(args, " "), err, out)
	}
}

func (g *Graphite) stop(t testing.TB) {
	if out, err := g.exec(2*time.Minute, nil, "stop", g.Dir); err != nil {
		t.Errorf("%s stop: %v\n%s", filepath.Base(g.script), err, out)
	}
}

// StopCarbon stops carbon-cache only; graphite-web keeps serving what is on disk.
func (g *Graphite) StopCarbon(t testing.TB) {
	t.Helper()
	g.run(t, "stop-carbon", g.Dir)
}

// StartCarbon starts carbon-cache again on the same ports and storage.
func (g *Graphite) StartCarbon(t testing.TB) {
	t.Helper()
	g.run(t, "start-carbon", g.Dir)
}

// freePort returns a port free on 127.0.0.1 for TCP (and UDP if udp).
func freePort(t testing.TB, udp bool) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !udp {
			l.Close()
			return port
		}
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("graphitetest: no free port")
	return 0
}

// Do sends a request to graphite-web as Grafana's Graphite data source
// does: GET with q in the query string, or POST with q as a form. A status
// other than 200 is an error that quotes the body.
func (g *Graphite) Do(method, path string, q url.Values) ([]byte, error) {
	// graphite-web under load sometimes answers a read with a 500 (an
	// exception inside its own code, logged to its exception.log) and the
	// same request a moment later with the answer. A read is retried a
	// few times; a 500 that persists fails with graphite-web's own
	// account of it. A POST is never repeated.
	tries := 1
	if method == http.MethodGet {
		tries = 4
	}
	for i := 1; ; i++ {
		body, status, err := g.do(method, path, q)
		if err != nil || status < 500 || i == tries {
			if err == nil && status >= 500 {
				err = fmt.Errorf("%w\ngraphite-web's exception log ends:\n%s", g.statusErr(method, path, q, status, body), g.exceptionTail())
			} else if err == nil && status != http.StatusOK {
				err = g.statusErr(method, path, q, status, body)
			}
			return body, err
		}
		time.Sleep(time.Duration(i) * 250 * time.Millisecond)
	}
}

func (g *Graphite) statusErr(method, path string, q url.Values, status int, body []byte) error {
	return fmt.Errorf("%s %s?%s: %d %s: %.500s", method, g.WebURL+path, q.Encode(), status, http.StatusText(status), body)
}

// exceptionTail is the end of graphite-web's exception log.
func (g *Graphite) exceptionTail() string {
	b, err := os.ReadFile(filepath.Join(g.Dir, "log", "webapp", "exception.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

func (g *Graphite) do(method, path string, q url.Values) ([]byte, int, error) {
	u := g.WebURL + path
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, u, strings.NewReader(q.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		req, err = http.NewRequest(method, u, nil)
	}
	if err != nil {
		return nil, 0, err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	return body, resp.StatusCode, nil
}

// Get fetches a graphite-web path (such as "/functions") with query q and
// returns the body; a status other than 200 is an error.
func (g *Graphite) Get(path string, q url.Values) ([]byte, error) {
	return g.Do(http.MethodGet, path, q)
}

// Render returns /render?target=TARGET&from=FROM&format=json. from is a
// Graphite time such as "-5min"; empty means graphite's default (-24h).
func (g *Graphite) Render(target, from string) ([]Series, error) {
	q := url.Values{"target": {target}, "format": {"json"}}
	if from != "" {
		q.Set("from", from)
	}
	body, err := g.Get("/render", q)
	if err != nil {
		return nil, err
	}
	var raw []struct {
		Target     string            `json:"target"`
		Tags       map[string]string `json:"tags"`
		Datapoints [][2]*float64     `json:"datapoints"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("render %q: %v: %.500s", target, err, body)
	}
	out := make([]Series, len(raw))
	for i, r := range raw {
		s := Series{Target: r.Target, Tags: r.Tags, Points: make([]Point, len(r.Datapoints))}
		for j, dp := range r.Datapoints {
			p := Point{Value: dp[0]}
			if dp[1] != nil {
				p.Time = int64(*dp[1])
			}
			s.Points[j] = p
		}
		out[i] = s
	}
	return out, nil
}

// Values returns the series' non-null points as time -> value.
func (s Series) Values() map[int64]float64 {
	m := make(map[int64]float64)
	for _, p := range s.Points {
		if p.Value != nil {
			m[p.Time] = *p.Value
		}
	}
	return m
}

// Find returns the paths (ids) /metrics/find?query=QUERY matches.
func (g *Graphite) Find(query string) ([]string, error) {
	body, err := g.Get("/metrics/find", url.Values{"query": {query}})
	if err != nil {
		return nil, err
	}
	var nodes []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &nodes); err != nil {
		return nil, fmt.Errorf("find %q: %v: %.500s", query, err, body)
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids, nil
}

// WaitFor polls Render until ok accepts the answer and returns it; it fails
// the test after timeout, showing the last answer or error.
func (g *Graphite) WaitFor(t testing.TB, target, from string, ok func([]Series) bool, timeout time.Duration) []Series {
	t.Helper()
	deadline := time.Now().Add(timeout)
	delay := 20 * time.Millisecond
	for {
		s, err := g.Render(target, from)
		if err == nil && ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("graphite: %s not as expected after %v: %v", target, timeout, err)
			}
			t.Fatalf("graphite: %s not as expected after %v; last answer: %s", target, timeout, summarize(s))
		}
		time.Sleep(delay)
		delay = min(delay*2, 250*time.Millisecond)
	}
}

func summarize(ss []Series) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d series", len(ss))
	for _, s := range ss {
		fmt.Fprintf(&b, "; %s tags=%v values=%v", s.Target, s.Tags, s.Values())
	}
	return b.String()
}

// PostEvent posts a Grafana-style event ({"what","tags","data"}) to /events/.
func (g *Graphite) PostEvent(what string, tags []string, data string) error {
	if tags == nil {
		tags = []string{}
	}
	body, err := json.Marshal(map[string]any{"what": what, "tags": tags, "data": data})
	if err != nil {
		return err
	}
	resp, err := g.client.Post(g.WebURL+"/events/", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /events/: %s: %.500s", resp.Status, msg)
	}
	return nil
}

// Events returns /events/get_data?from=FROM&until=now&tags=TAGS, as Grafana's
// annotations read it. tags is space separated; empty means all events.
func (g *Graphite) Events(from, tags string) ([]Event, error) {
	q := url.Values{"from": {from}, "until": {"now"}}
	if tags != "" {
		q.Set("tags", tags)
	}
	body, err := g.Get("/events/get_data", q)
	if err != nil {
		return nil, err
	}
	var ev []Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, fmt.Errorf("events: %v: %.500s", err, body)
	}
	return ev, nil
}
