package graphitetest

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Graphite cluster (scripts/cluster.sh) in network namespaces
// of its own: two carbon-c-relays hashing onto two carbon-caches, each cache
// with a graphite-web backend, and one graphite-web frontend that reads both
// and holds the tag database and the events. Three node namespaces reach the
// hub over veths; commands run there through Command.
type Cluster struct {
	// Graphite is the frontend, reached on 127.0.0.1 (forwarded); Dir is
	// the cluster's state folder. Its StopCarbon and StartCarbon do not
	// apply: use StopCache and StartCache.
	*Graphite
	Relays    []string // host:port of relay 1 and 2, as the nodes reach them
	EventsURL string   // the frontend as the nodes reach it
	Nodes     []string // network namespace of node 1, 2 and 3
}

// ClusterScript returns the path of scripts/cluster.sh.
func ClusterScript() (string, error) {
	s, err := Script()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(s), "cluster.sh"), nil
}

// StartCluster installs what is missing (once per process), starts the
// cluster in t.TempDir() and stops it, namespaces included, in t.Cleanup.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	install(t)
	script, err := ClusterScript()
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Graphite: &Graphite{Dir: t.TempDir(), script: script, client: newClient()}}
	var out []byte
	for attempt := 1; ; attempt++ {
		port := freePort(t, false)
		// The watch pid makes the script stop everything if this test process dies.
		out, err = c.exec(5*time.Minute, []string{"CLUSTER_WATCH_PID=" + strconv.Itoa(os.Getpid())},
			"start", c.Dir, strconv.Itoa(port))
		if err == nil {
			c.WebURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			break
		}
		c.stop(t)
		// Only the forwarded port is on this machine's loopback, where
		// another test may take it between choosing and binding.
		if attempt == 3 || !bytes.Contains(out, []byte("in use")) {
			t.Fatalf("cluster.sh start: %v\n%s", err, out)
		}
		t.Logf("cluster.sh start (attempt %d): %v\n%s", attempt, err, out)
	}
	t.Cleanup(func() { c.stop(t) })
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], "relay"):
			c.Relays = append(c.Relays, f[1])
		case f[0] == "events":
			c.EventsURL = f[1]
		case strings.HasPrefix(f[0], "node"):
			c.Nodes = append(c.Nodes, f[1])
		}
	}
	if len(c.Relays) != 2 || len(c.Nodes) != 3 || c.EventsURL == "" {
		t.Fatalf("cluster.sh start: unexpected output:\n%s", out)
	}
	t.Logf("cluster: relays %v, web %s, nodes %v, state %s", c.Relays, c.WebURL, c.Nodes, c.Dir)
	return c
}

// Command returns cmd to run name with args in node n's (1..3) network
// namespace; nothing else of it is isolated.
func (c *Cluster) Command(n int, name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + c.Nodes[n-1], name}, args...)...)
}

// CacheWhisper returns the whisper folder of carbon-cache n (1 or 2).
func (c *Cluster) CacheWhisper(n int) string {
	return filepath.Join(c.Dir, "cache"+strconv.Itoa(n), "storage", "whisper")
}

// StopCache stops carbon-cache n; its graphite-web backend keeps serving
// what is on disk.
func (c *Cluster) StopCache(t testing.TB, n int) {
	t.Helper()
	c.run(t, "stop-cache", c.Dir, strconv.Itoa(n))
}

// StartCache starts carbon-cache n again on the same ports and storage.
func (c *Cluster) StartCache(t testing.TB, n int) {
	t.Helper()
	c.run(t, "start-cache", c.Dir, strconv.Itoa(n))
}

// StopRelay stops relay n with signal (TERM when none is given: it flushes
// its queues first; KILL loses them).
func (c *Cluster) StopRelay(t testing.TB, n int, signal ...string) {
	t.Helper()
	c.run(t, append([]string{"stop-relay", c.Dir, strconv.Itoa(n)}, signal...)...)
}

// StartRelay starts relay n again on the same address.
func (c *Cluster) StartRelay(t testing.TB, n int) {
	t.Helper()
	c.run(t, "start-relay", c.Dir, strconv.Itoa(n))
}
