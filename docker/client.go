// SPDX-License-Identifier: Apache-2.0

// Package docker is a small Docker Engine API client (plain net/http over
// the unix socket, no SDK) and a background cache of the daemon's
// containers that names cgroups for the containers collector
// (containers.Namer), follows the /events stream for the lifecycle audit
// trail (package events), and feeds Diamond's docker.* metrics.
//
// Nothing here ever delays a collection cycle: the collector only reads the
// cache; every API call has a timeout and runs in the background.
package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxAPIVersion is the newest API version this client speaks. The daemon's
// /version decides: we use min(MaxAPIVersion, ApiVersion), raised to the
// daemon's MinAPIVersion when ours is older (Engine 29 refuses < 1.44).
const MaxAPIVersion = "1.47"

// DefaultSocket resolves the Docker endpoint when --docker-host is not set:
// $DOCKER_HOST if it is a unix:// URL, else the host's run directory next to
// its procfs. With --procfs /proc that is /run/docker.sock; with --procfs
// /host/proc (the agent in a container with the host's /proc at /host/proc
// and /run at /host/run) it is /host/run/docker.sock. Bind the host's /run
// DIRECTORY, not the socket file: a daemon restart creates a new socket
// inode that a file bind would not see.
func DefaultSocket(procfs string) string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	p := filepath.Clean(procfs)
	if p == "/proc" || p == "" || p == "." {
		return "/run/docker.sock"
	}
	return filepath.Join(filepath.Dir(p), "run", "docker.sock")
}

// SocketPath parses --docker-host: "unix:///path", or a plain path.
func SocketPath(host, procfs string) (string, error) {
	if host == "" {
		return DefaultSocket(procfs), nil
	}
	if p := strings.TrimPrefix(host, "unix://"); strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "\x00\n") {
		return p, nil
	}
	return "", fmt.Errorf("--docker-host: want unix:///absolute/path or /absolute/path, got %q", host)
}

// Client talks to one daemon. Safe for concurrent use.
type Client struct {
	Socket  string
	Timeout time.Duration // per call, except the events stream (default 5 s)

	http *http.Client

	mu      sync.Mutex
	version string // negotiated API version, "" before negotiation
}

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		DisableCompression:    true,
	}
	// No http.Client.Timeout: it would cut the events stream; every call
	// carries a context deadline instead.
	return &Client{Socket: socket, Timeout: 5 * time.Second, http: &http.Client{Transport: tr}}
}

// VersionInfo is the part of GET /version we use.
type VersionInfo struct {
	Version       string `json:"Version"`
	APIVersion    string `json:"ApiVersion"`
	MinAPIVersion string `json:"MinAPIVersion"`
}

// Negotiate reads GET /version (unversioned path) and picks the API
// version for later calls.
func (c *Client) Negotiate(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	if err := c.getJSON(ctx, "/version", nil, &v, false); err != nil {
		return v, err
	}
	use := MaxAPIVersion
	if v.APIVersion != "" && compareVersion(v.APIVersion, use) < 0 {
		use = v.APIVersion
	}
	if v.MinAPIVersion != "" && compareVersion(use, v.MinAPIVersion) < 0 {
		use = v.MinAPIVersion
	}
	c.mu.Lock()
	c.version = use
	c.mu.Unlock()
	return v, nil
}

// APIVersion is the negotiated version, "" before Negotiate succeeded (the
// calls then use unversioned paths, which the daemon serves at its own
// current version).
func (c *Client) APIVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// compareVersion compares "1.41"-style versions numerically.
func compareVersion(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (c *Client) url(path string, q url.Values, versioned bool) string {
	u := "http://docker"
	if v := c.APIVersion(); versioned && v != "" {
		u += "/v" + v
	}
	u += path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// APIError is a non-2xx answer.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("docker API: %d %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, path string, q url.Values, versioned bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path, q, versioned), nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var m struct{ Message string }
		if json.Unmarshal(b, &m) != nil || m.Message == "" {
			m.Message = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: m.Message}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any, versioned bool) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	resp, err := c.do(ctx, path, q, versioned)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

// Summary is one row of GET /containers/json.
type Summary struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Image  string            `json:"Image"`
	Labels map[string]string `json:"Labels"`
	State  string            `json:"State"`
}

// Containers lists the running containers, or all with all set.
func (c *Client) Containers(ctx context.Context, all bool) ([]Summary, error) {
	var q url.Values
	if all {
		q = url.Values{"all": {"1"}}
	}
	var out []Summary
	return out, c.getJSON(ctx, "/containers/json", q, &out, true)
}

// Inspect is the part of GET /containers/{id}/json we use.
type Inspect struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State struct {
		Status  string `json:"Status"`
		Running bool   `json:"Running"`
		Pid     int    `json:"Pid"`
	} `json:"State"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	Image string `json:"Image"` // the image id
}

// Inspect reads one container.
func (c *Client) Inspect(ctx context.Context, id string) (Inspect, error) {
	var out Inspect
	return out, c.getJSON(ctx, "/containers/"+url.PathEscape(id)+"/json", nil, &out, true)
}

// ImageSummary is one row of GET /images/json.
type ImageSummary struct {
	ID string `json:"Id"`
}

// Images lists images; dangling restricts to dangling ones (with all=1, as
// Diamond's docker-py call does).
func (c *Client) Images(ctx context.Context, dangling bool) ([]ImageSummary, error) {
	var q url.Values
	if dangling {
		q = url.Values{"all": {"1"}, "filters": {`{"dangling":["true"]}`}}
	}
	var out []ImageSummary
	return out, c.getJSON(ctx, "/images/json", q, &out, true)
}

// Message is one object of the /events stream. Old daemons send status/id/
// from beside Type/Action/Actor; API 1.45+ only the latter.
type Message struct {
	Status   string `json:"status,omitempty"`
	ID       string `json:"id,omitempty"`
	From     string `json:"from,omitempty"`
	Type     string `json:"Type"`
	Action   string `json:"Action"`
	Actor    Actor  `json:"Actor"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// Actor is the object an event is about.
type Actor struct {
	ID         string            `json:"ID"`
	Attributes map[string]string `json:"Attributes"`
}

// EventFilters are the container events we follow: the lifecycle events,
// and the changes the cache's snapshot shows (create, rename).
const EventFilters = `{"type":["container"],"event":["start","die","oom","kill","destroy","create","rename"]}`

// Events opens the event stream since the given time (zero: from now),
// calls open (if not nil) once the daemon answered, then fn for each
// message until the stream ends or ctx is done. Only the
// response headers are bounded by a timeout: the stream itself is
// legitimately idle for long periods.
func (c *Client) Events(ctx context.Context, since time.Time, open func(), fn func(Message)) error {
	q := url.Values{"filters": {EventFilters}}
	if !since.IsZero() {
		ns := since.UnixNano()
		q.Set("since", fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9))
	}
	resp, err := c.do(ctx, "/events", q, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if open != nil {
		open()
	}
	stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
	defer stop()
	dec := json.NewDecoder(resp.Body)
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF // the daemon closed the stream
			}
			return err
		}
		fn(m)
	}
}
