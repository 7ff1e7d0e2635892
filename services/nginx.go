// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
)

// nginx: the stub_status page. Its location and port come from nginx's
// own configuration, read inside the container (a [[service]] path and
// port override them).

// stubStatus is the page's numbers.
type stubStatus struct {
	active, accepts, handled, requests, reading, writing, waiting uint64
}

// parseStubStatus reads
//
//	Active connections: 2
//	server accepts handled requests
//	 16630948 16630948 31070465
//	Reading: 0 Writing: 6 Waiting: 179
func parseStubStatus(b []byte) (stubStatus, error) {
	var s stubStatus
	f := strings.Fields(string(b))
	want := []string{"Active", "connections:", "", "server", "accepts", "handled", "requests", "", "", "",
		"Reading:", "", "Writing:", "", "Waiting:", ""}
	if len(f) != len(want) {
		return s, fmt.Errorf("stub_status: %d fields, want %d", len(f), len(want))
	}
	dst := []*uint64{2: &s.active, 7: &s.accepts, 8: &s.handled, 9: &s.requests, 11: &s.reading, 13: &s.writing, 15: &s.waiting}
	for i, w := range want {
		if w != "" {
			if f[i] != w {
				return s, fmt.Errorf("stub_status: %q where %q was expected", f[i], w)
			}
			continue
		}
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return s, fmt.Errorf("stub_status: %w", err)
		}
		*dst[i] = v
	}
	return s, nil
}

// Diamond's NginxCollector names (its conn_accepted is the accepts column,
// conn_handled handled, req_handled requests).
func (s stubStatus) points() []point {
	pts := []point{
		{path: "active_connections", kind: gaugeInt, iv: s.active},
		{path: "conn_accepted", kind: counter, iv: s.accepts},
		{path: "conn_handled", kind: counter, iv: s.handled},
		{path: "req_handled", kind: counter, iv: s.requests},
	}
	if s.handled > 0 {
		pts = append(pts, point{path: "req_per_conn", kind: gauge, v: float64(s.requests) / float64(s.handled)})
	}
	return append(pts,
		point{path: "act_reads", kind: gaugeInt, iv: s.reading},
		point{path: "act_writes", kind: gaugeInt, iv: s.writing},
		point{path: "act_waits", kind: gaugeInt, iv: s.waiting})
}

// statusLocation is where stub_status answers.
type statusLocation struct {
	addr   string // host:port to dial
	socket string // or a unix socket inside the container ("listen unix:/x")
	path   string // URL path
}

func probeNginx(ctx context.Context, p *probeEnv) ([]point, error) {
	loc, err := p.nginxLocation()
	if err != nil {
		return nil, err
	}
	in := *p.in
	in.Addr, in.Socket = loc.addr, loc.socket
	pp := &probeEnv{c: p.c, in: &in}
	client := &http.Client{Transport: &http.Transport{
		DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return pp.dial(ctx) },
		DisableKeepAlives: true,
		Proxy:             nil,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+loc.path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return nil, fmt.Errorf("read stub_status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s at %s%s: %s", loc.path, loc.addr, loc.socket, resp.Status)
	}
	st, err := parseStubStatus(body)
	if err != nil {
		return nil, err
	}
	return st.points(), nil
}

// nginxLocation finds the stub_status location: the rule's path and port
// when set, else the first location with stub_status in the
// configuration nginx was started with (its -c, else
// /etc/nginx/nginx.conf), read inside the instance's root.
func (p *probeEnv) nginxLocation() (statusLocation, error) {
	if r := p.in.Rule; r != nil && r.Path != "" {
		port := r.Port
		if port == 0 && len(p.in.Ports) > 0 {
			port = p.in.Ports[0]
		}
		return statusLocation{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), path: r.Path}, nil
	}
	conf := "/etc/nginx/nginx.conf"
	pid := p.in.Pid
	if proc, err := p.c.fs().Proc(pid); err == nil {
		// A worker's command line is "nginx: worker process": its
		// master's names the configuration.
		if cmd, err := proc.CmdLine(); err == nil && strings.Contains(strings.Join(cmd, " "), "worker process") {
			if st, err := proc.Stat(); err == nil {
				pid = st.PPID
			}
		}
	}
	if cmd, err := os.ReadFile(p.c.h.ProcPath(strconv.Itoa(pid), "cmdline")); err == nil {
		// nginx rewrites its argv: "nginx: master process /usr/sbin/nginx -c /x.conf"
		f := strings.Fields(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "-c" {
				conf = f[i+1]
			}
		}
	}
	cfg := &nginxConf{root: p.root(), dir: path.Dir(conf)}
	if err := cfg.load(conf, 0); err != nil {
		return statusLocation{}, err
	}
	loc, ok := findStubStatus(cfg.tokens)
	if !ok {
		return statusLocation{}, fmt.Errorf("no stub_status location in %s (or set path in a [[service]] section)", conf)
	}
	return loc, nil
}

// nginxConf is a configuration read with its includes, as one token list.
type nginxConf struct {
	root   Root
	dir    string // relative includes are relative to the main file's dir
	tokens []string
	files  int
}

// load appends the tokens of name, expanding include directives.
func (c *nginxConf) load(name string, depth int) error {
	if depth > 8 || c.files >= 256 {
		return errors.New("nginx configuration: too many nested includes")
	}
	c.files++
	b, err := c.root.ReadFile(name)
	if err != nil {
		return err
	}
	toks := tokenizeNginx(b)
	for i := 0; i < len(toks); i++ {
		if toks[i] == "include" && i+2 < len(toks) && toks[i+2] == ";" {
			pat := toks[i+1]
			if !path.IsAbs(pat) {
				pat = path.Join(c.dir, pat)
			}
			names, err := c.root.Glob(pat)
			if err != nil {
				return err
			}
			for _, n := range names {
				if err := c.load(n, depth+1); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			i += 2
			continue
		}
		c.tokens = append(c.tokens, toks[i])
	}
	return nil
}

// tokenizeNginx splits a configuration into words, quoted strings
// (unquoted) and the punctuation ";", "{" and "}". Comments are dropped.
func tokenizeNginx(b []byte) []string {
	var out []string
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '#':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == ';' || c == '{' || c == '}':
			out = append(out, string(c))
			i++
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(b) && b[j] != c {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			out = append(out, string(b[i+1:min(j, len(b))]))
			i = j + 1
		default:
			j := i
			for j < len(b) && !strings.ContainsRune(" \t\r\n;{}#\"'", rune(b[j])) {
				j++
			}
			out = append(out, string(b[i:j]))
			i = j
		}
	}
	return out
}

// findStubStatus walks the blocks: the first location holding a
// stub_status directive, in a server whose listen gives the port (80
// without one).
func findStubStatus(toks []string) (statusLocation, bool) {
	type frame struct {
		name, arg string
		listen    string
		status    bool
	}
	var stack []frame
	var server *frame
	var stmt []string
	for _, t := range toks {
		switch t {
		case "{":
			f := frame{}
			if len(stmt) > 0 {
				f.name = stmt[0]
				if f.name == "location" && len(stmt) > 1 {
					f.arg = stmt[len(stmt)-1] // "location = /status"
					if len(stmt) > 2 && strings.HasPrefix(stmt[1], "~") {
						f.arg = "" // a regex: no URL to request
					}
				}
			}
			stack = append(stack, f)
			stmt = stmt[:0]
		case "}":
			if len(stack) == 0 {
				return statusLocation{}, false
			}
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			server = nil
			for i := len(stack) - 1; i >= 0; i-- {
				if stack[i].name == "server" {
					server = &stack[i]
					break
				}
			}
			if f.name == "location" && f.status && f.arg != "" && server != nil {
				loc := statusLocation{addr: listenAddr(server.listen), path: f.arg}
				if s, ok := strings.CutPrefix(loc.addr, "unix:"); ok {
					loc.addr, loc.socket = "", s
				}
				return loc, true
			}
			stmt = stmt[:0]
		case ";":
			if len(stmt) > 0 && len(stack) > 0 {
				top := &stack[len(stack)-1]
				switch {
				case stmt[0] == "stub_status" && (len(stmt) == 1 || stmt[1] == "on"):
					top.status = true
				case stmt[0] == "listen" && len(stmt) > 1 && top.name == "server" && top.listen == "":
					top.listen = stmt[1]
				}
			}
			stmt = stmt[:0]
		default:
			stmt = append(stmt, t)
		}
	}
	return statusLocation{}, false
}

// listenAddr turns a listen value ("8080", "127.0.0.1:8080", "[::1]:80",
// "*:80", "") into an address to dial.
func listenAddr(l string) string {
	if strings.HasPrefix(l, "unix:") {
		return l
	}
	if l == "" {
		return "127.0.0.1:80"
	}
	if _, err := strconv.Atoi(l); err == nil {
		return net.JoinHostPort("127.0.0.1", l)
	}
	host, port, err := net.SplitHostPort(l)
	if err != nil {
		return net.JoinHostPort(l, "80") // "localhost" style: port 80
	}
	switch ip := net.ParseIP(host); {
	case host == "::" || (ip != nil && ip.Equal(net.IPv6unspecified)):
		host = "::1"
	case ip == nil, ip.Equal(net.IPv4zero):
		// "*", "localhost" or a name: no DNS from inside a namespace.
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
