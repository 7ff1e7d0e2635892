// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/agent"
	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/collectors"
	"github.com/nodemetrics/nodemetrics/containers"
	"github.com/nodemetrics/nodemetrics/internal/cgroup"
	"github.com/nodemetrics/nodemetrics/internal/cgrouptest"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

// The real servers of this package's tests, started once: each kind in a
// network namespace of its own (only lo, no route from the host) with
// its processes in a Docker-style cgroup, and each kind again on the
// host's loopback.
type realEnv struct {
	t    *testing.T
	r    *cgrouptest.Tree
	tmp  string
	ns   map[Kind]string // kind -> netns path
	id   map[Kind]string // kind -> container id
	port map[Kind]int    // kind -> host loopback port
	pw   string          // postgres password
	pg   string          // PG bin dir
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs argv in the cgroup rel (moved there before it execs, so its
// children are in it too) inside the network namespace nsName ("" = the
// host's).
func (e *realEnv) start(rel, nsName string, argv ...string) *exec.Cmd {
	e.t.Helper()
	if nsName != "" {
		argv = append([]string{"ip", "netns", "exec", nsName}, argv...)
	}
	cmd := exec.Command("sh", append([]string{"-c", `read x; exec "$@"`, "sh"}, argv...)...)
	cmd.Stderr = &prefixWriter{t: e.t, prefix: filepath.Base(argv[len(argv)-1])}
	in := e.r.Start(cmd, rel)
	in.Write([]byte("go\n"))
	return cmd
}

// prefixWriter keeps a server's stderr for the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) < 16<<10 {
		w.buf = append(w.buf, b...)
	}
	return len(b), nil
}

// waitDial waits until addr answers inside nsPath.
func waitDial(t testing.TB, nsPath, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := DialNetns(ctx, nsPath, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %q never answered: %v", addr, nsPath, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newRealEnv(t *testing.T) *realEnv {
	if testing.Short() {
		t.Skip("starts real servers in namespaces and cgroups")
	}
	e := &realEnv{t: t, r: cgrouptest.New(t), ns: map[Kind]string{}, id: map[Kind]string{}, port: map[Kind]int{}, pw: "pw-" + randHex(8)}
	var err error
	// Not t.TempDir: postgres runs as its own user and must reach it.
	if e.tmp, err = os.MkdirTemp("", "nmsvc-"); err != nil {
		t.Fatal(err)
	}
	os.Chmod(e.tmp, 0o755)
	t.Cleanup(func() { os.RemoveAll(e.tmp) })
	pgs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Strings(pgs)
	if len(pgs) == 0 {
		t.Fatal("no postgresql server (scripts/deps.sh installs it)")
	}
	e.pg = filepath.Dir(pgs[len(pgs)-1])
	for _, bin := range []string{"nginx", "redis-server", "memcached", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed (scripts/deps.sh installs it): %v", bin, err)
		}
	}
	for _, k := range Kinds {
		name, path := testNetns(t)
		e.ns[k] = path
		e.id[k] = cgrouptest.ID(t)
		e.port[k] = freePort(t)
		rel := "system.slice/docker-" + e.id[k] + ".scope"
		e.r.Mkdir(rel)
		switch k {
		case Nginx:
			e.startNginx(rel, name)
		case Redis:
			e.start(rel, name, "redis-server", "--port", "6379", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", e.tmp)
			// A second one on a unix socket only: reached through the
			// container's root, not its network.
			e.start(rel, name, "redis-server", "--port", "0", "--unixsocket", filepath.Join(e.tmp, "nmsvcredis.sock"), "--save", "", "--appendonly", "no", "--dir", e.tmp)
			// The host's wants a password: AUTH from a [[service]] rule.
			e.start("", "", "redis-server", "--port", strconv.Itoa(e.port[k]), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", e.tmp, "--requirepass", e.pw)
		case Memcached:
			e.start(rel, name, "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", "11211", "-c", "77")
			e.start("", "", "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", strconv.Itoa(e.port[k]))
		case Postgres:
			e.startPostgres(rel, name)
		}
	}
	inside := map[Kind]string{Nginx: "127.0.0.1:8080", Redis: "127.0.0.1:6379", Memcached: "127.0.0.1:11211", Postgres: "127.0.0.1:5432"}
	for _, k := range Kinds {
		waitDial(t, e.ns[k], inside[k])
		waitDial(t, "", "127.0.0.1:"+strconv.Itoa(e.port[k]))
	}
	return e
}

// startNginx runs nginx in a root of its own (a private mount namespace
// with the host's /usr bound read-only, everything else the container's):
// its configuration exists only there. The same path on the host holds a
// different, planted configuration.
func (e *realEnv) startNginx(rel, nsName string) {
	t := e.t
	root := filepath.Join(e.tmp, "nginx-root")
	conf := "/etc/nginx/nmsvc-" + randHex(4) + ".conf"
	files := map[string]string{
		"etc/passwd":                   "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
		"etc/group":                    "root:x:0:\nnogroup:x:65534:\n",
		"etc/shadow":                   "the container's shadow\n",
		conf[1:]:                       "pid /tmp/nginx.pid;\nworker_processes 1;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  include conf.d/*.conf;\n}\n",
		"etc/nginx/conf.d/status.conf": "server {\n  listen 127.0.0.1:8080;\n  location /container_status { stub_status; }\n  location / { return 204; }\n}\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("/etc/shadow", filepath.Join(root, "etc/nginx/shadow-link"))
	for _, d := range []string{"usr", "tmp", "run", "var/lib/nginx", "var/log/nginx"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		os.Symlink("usr/"+l, filepath.Join(root, l))
	}
	// The planted host file: another location and port. Reading it
	// instead of the container's would probe a path that does not exist.
	if err := os.WriteFile(conf, []byte("events {}\nhttp { server { listen 127.0.0.1:9; location /planted { stub_status; } } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(conf) })
	script := `mount --bind /usr "$1/usr" && mount -o remount,bind,ro "$1/usr" && exec chroot "$1" /usr/sbin/nginx -c "$2" -e stderr -g "daemon off;"`
	e.start(rel, nsName, "unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", root, conf)

	host := filepath.Join(e.tmp, "nginx-host.conf")
	body := fmt.Sprintf("pid %s/nginx-host.pid;\nworker_processes 1;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n  client_body_temp_path %[1]s/body;\n  proxy_temp_path %[1]s/proxy;\n  server {\n    listen 127.0.0.1:%d;\n    location = /host_status { stub_status on; }\n  }\n}\n", e.tmp, e.port[Nginx])
	if err := os.WriteFile(host, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	e.start("", "", "nginx", "-c", host, "-e", "stderr", "-g", "daemon off;")
}

// startPostgres makes one cluster (scram passwords) and runs it twice:
// in the container's namespace on 5432 and on the host's loopback.
func (e *realEnv) startPostgres(rel, nsName string) {
	t := e.t
	base := filepath.Join(e.tmp, "pg")
	pw := filepath.Join(e.tmp, "pgpw")
	os.MkdirAll(base, 0o700)
	os.WriteFile(pw, []byte(e.pw+"\n"), 0o644)
	for _, p := range []string{base, pw} {
		if out, err := exec.Command("chown", "-R", "postgres:postgres", p).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	initdb := exec.Command("runuser", "-u", "postgres", "--", filepath.Join(e.pg, "initdb"), "-D", base+"/a",
		"-U", "postgres", "--pwfile", pw, "--auth", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale", "C")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	os.Remove(pw)
	if out, err := exec.Command("cp", "-a", base+"/a", base+"/b").CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	run := func(rel, nsName, dir string, port int) {
		sock := dir + "-sock"
		os.Mkdir(sock, 0o755)
		exec.Command("chown", "postgres:postgres", sock).Run()
		e.start(rel, nsName, "runuser", "-u", "postgres", "--", filepath.Join(e.pg, "postgres"), "-D", dir, "-k", sock,
			"-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB")
	}
	run(rel, nsName, base+"/a", 5432)
	run("", "", base+"/b", e.port[Postgres])
}

// psql runs SQL on a postgres inside nsName ("" = host) at port.
func (e *realEnv) psql(nsName string, port int, db, sql string) {
	e.t.Helper()
	argv := []string{"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s", port, db), "-f", "-"}
	if nsName != "" {
		argv = append([]string{"ip", "netns", "exec", nsName}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+e.pw)
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("psql: %v\n%s", err, out)
	}
}

// capture is an agent Output keeping the last cycle's lines.
type capture struct {
	mu    sync.Mutex
	lines map[string]float64
}

func (c *capture) Enqueue(b []byte, _ int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 {
			v, _ := strconv.ParseFloat(f[1], 64)
			c.lines[f[0]] = v
		}
	}
}

func (c *capture) get(t *testing.T, path string) float64 {
	t.Helper()
	v, ok := c.lines[path]
	if !ok {
		var near []string
		for p := range c.lines {
			if strings.Contains(p, ".containers.") || strings.Contains(p, "services") {
				near = append(near, p)
			}
		}
		sort.Strings(near)
		t.Fatalf("%s not published; services lines:\n%s", path, strings.Join(near, "\n"))
	}
	return v
}

// send writes req to addr inside nsPath and reads until want appears.
func send(t *testing.T, nsPath, addr, req, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialNetns(ctx, nsPath, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 0, 256)
	buf := make([]byte, 256)
	for !strings.Contains(string(b), want) {
		n, err := c.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			t.Fatalf("%q: %v (got %q)", req, err, b)
		}
	}
}

// httpGet requests path of the nginx at addr inside nsPath and returns
// the body.
func httpGet(t *testing.T, nsPath, addr, path string) []byte {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return DialNetns(ctx, nsPath, "tcp", addr) }}}
	resp, err := client.Get("http://localhost" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

// stubRequests reads the requests count of the stub_status at addr+path
// inside nsPath directly.
func stubRequests(t *testing.T, nsPath, addr, path string) float64 {
	t.Helper()
	st, err := parseStubStatus(httpGet(t, nsPath, addr, path))
	if err != nil {
		t.Fatal(err)
	}
	return float64(st.requests)
}

// TestRealServices: the agent (host collectors, containers, services)
// over real servers: each found in its container through its namespaces
// and on the host, values matching what the test did, a server that
// accepts and never answers costing only its own deadline, one real
// Docker container reached only through its namespace.
func TestRealServices(t *testing.T) {
	e := newRealEnv(t)
	short := func(k Kind) string { return e.id[k][:12] }

	// A server that accepts (the kernel completes the handshake) and never
	// answers: a listening socket in a namespace of its own held by a
	// process that never reads it, in a container cgroup, named by a rule.
	hangNS, hangPath := testNetns(t)
	l := listenIn(t, hangPath, "127.0.0.1:6390")
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	hangID := cgrouptest.ID(t)
	hangRel := "system.slice/docker-" + hangID + ".scope"
	e.r.Mkdir(hangRel)
	hang := exec.Command("sh", "-c", `read x; exec ip netns exec "$0" sleep 600`, hangNS)
	hang.ExtraFiles = []*os.File{lf}
	e.r.Start(hang, hangRel).Write([]byte("go\n"))
	lf.Close()
	l.Close()

	dock := startDockerMemcached(t)

	rules := []Rule{
		{Kind: Postgres, Container: short(Postgres), Password: e.pw},
		{Kind: Postgres, Host: true, Password: e.pw},
		{Kind: Redis, Container: hangID[:12], Port: 6390, Timeout: 2 * time.Second},
		{Kind: Redis, Host: true, Password: e.pw},
	}
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	known := containers.NewKnown()
	host := collect.DefaultHost()
	factories := append(collectors.Registry(nil),
		containers.Factory(func() (containers.Options, error) {
			return containers.Options{Known: known, Tags: true, Hostname: "h"}, nil
		}),
		Factory(func() Options { return Options{Containers: known, Rules: rules, Tags: true} }))
	a, err := agent.New(agent.Options{Host: host, Factories: factories, Prefix: "servers", Hostname: "h",
		Interval: 10 * time.Second, Raw: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	out := &capture{}
	cycle := func() time.Duration {
		start := time.Now()
		a.Cycle(context.Background(), time.Now(), time.Now().Unix(), 8*time.Second, out)
		return time.Since(start)
	}
	p := func(k Kind, rest string) string { return "servers.h.containers." + short(k) + "." + rest }
	hp := func(rest string) string { return "servers.h." + rest }

	// Before: known state.
	for i := range 7 {
		send(t, e.ns[Redis], "127.0.0.1:6379", fmt.Sprintf("SET k%d v\r\n", i), "+OK")
	}
	for i := range 3 {
		send(t, "", "127.0.0.1:"+strconv.Itoa(e.port[Redis]), fmt.Sprintf("AUTH %s\r\nSET h%d v\r\nPING\r\n", e.pw, i), "+PONG")
	}
	e.psql(filepath.Base(e.ns[Postgres]), 5432, "postgres", "CREATE DATABASE nmtest;")
	e.psql("", e.port[Postgres], "postgres", "CREATE DATABASE nmhost;")

	took := cycle()
	if v := out.get(t, p(Redis, "redis.6379.db0.keys")); v != 7 {
		t.Errorf("container redis db0.keys = %v, want 7", v)
	}
	if v := out.get(t, p(Redis, "redis.nmsvcredis.clients.connected")); v < 1 {
		t.Errorf("unix-socket redis clients.connected = %v, want >= 1 (the probe)", v)
	}
	if v := out.get(t, hp(fmt.Sprintf("redis.%d.db0.keys", e.port[Redis]))); v != 3 {
		t.Errorf("host redis db0.keys = %v, want 3", v)
	}
	n0 := map[string]float64{
		"nginx":     out.get(t, p(Nginx, "nginx.req_handled")),
		"nginxH":    out.get(t, hp("nginx.req_handled")),
		"mc":        out.get(t, p(Memcached, "memcached.localhost.cmd_set")),
		"mcH":       out.get(t, hp(fmt.Sprintf("memcached.%d.cmd_set", e.port[Memcached]))),
		"pg":        out.get(t, p(Postgres, "postgres.database.nmtest.xact_commit")),
		"pgH":       out.get(t, hp("postgres.database.nmhost.xact_commit")),
		"dock":      out.get(t, "servers.h.containers."+dock.short+".memcached.localhost.cmd_set"),
		"hangFails": out.get(t, hp("agent.services.redis.failed")),
	}
	if n0["hangFails"] != 1 {
		t.Errorf("agent.services.redis.failed = %v, want 1 (the hanging one)", n0["hangFails"])
	}
	// The hanging probe costs its own 2 s deadline, not the cycle's 8 s,
	// and no other collector waits for it.
	if took > 5*time.Second {
		t.Errorf("a cycle with a hanging service took %v", took)
	}
	for _, c := range []string{"cpu", "memory", "loadavg", "containers"} {
		if v := out.get(t, hp("agent.collectors."+c+".success")); v != 1 {
			t.Errorf("%s success = %v beside a hanging service", c, v)
		}
		if v := out.get(t, hp("agent.collectors."+c+".duration_seconds")); v > 1.5 {
			t.Errorf("%s took %vs beside a hanging service", c, v)
		}
	}
	if v := out.get(t, hp("agent.collectors.services.duration_seconds")); v < 1.9 || v > 4 {
		t.Errorf("services collector took %vs with a 2 s probe deadline", v)
	}
	if v := out.get(t, hp("agent.services.postgres.success")); v != 2 {
		t.Errorf("postgres probes that succeeded: %v, want 2\n%s", v, logs.String())
	}
	if v := out.get(t, p(Memcached, "memcached.localhost.limit_maxconn")); v != 77 {
		t.Errorf("limit_maxconn %v", v)
	}
	// Tagged series: the container's tags plus service=.
	tagged := fmt.Sprintf("redis.6379.db0.keys;container=%s;host=h;runtime=docker;service=redis", short(Redis))
	if v := out.get(t, tagged); v != 7 {
		t.Errorf("%s = %v", tagged, v)
	}

	// Do N things to each.
	const N = 5
	for range N {
		httpGet(t, e.ns[Nginx], "127.0.0.1:8080", "/")
		httpGet(t, "", "127.0.0.1:"+strconv.Itoa(e.port[Nginx]), "/host_status")
		send(t, e.ns[Memcached], "127.0.0.1:11211", "set k 0 0 1\r\nx\r\n", "STORED")
		send(t, "", "127.0.0.1:"+strconv.Itoa(e.port[Memcached]), "set k 0 0 1\r\nx\r\n", "STORED")
		send(t, dock.ns, "127.0.0.1:11211", "set k 0 0 1\r\nx\r\n", "STORED")
	}
	sql := strings.Repeat("SELECT 1;\n", N)
	e.psql(filepath.Base(e.ns[Postgres]), 5432, "nmtest", sql)
	e.psql("", e.port[Postgres], "nmhost", sql)
	time.Sleep(1500 * time.Millisecond) // postgres flushes its statistics at most every second
	cycle()
	if v := out.get(t, hp("agent.services.nginx.instances")); v != 2 {
		t.Errorf("nginx instances: %v, want 2", v)
	}
	// The probe's own request between the two reads counts too; so do
	// the probes of any other agent running on this machine (other tests
	// run the agent, whose services collector finds these containers too).
	// So nginx's count is at least N+1 and at most what nginx itself says
	// right after the cycle; the other counts are exact.
	for k, at := range map[string][2]string{
		"nginx":  {p(Nginx, "nginx.req_handled"), e.ns[Nginx] + " 127.0.0.1:8080 /container_status"},
		"nginxH": {hp("nginx.req_handled"), " 127.0.0.1:" + strconv.Itoa(e.port[Nginx]) + " /host_status"},
	} {
		f := strings.Fields(at[1])
		if len(f) == 2 {
			f = append([]string{""}, f...)
		}
		now := stubRequests(t, f[0], f[1], f[2])
		v := out.get(t, at[0])
		if d := v - n0[k]; d < N+1 || v >= now {
			t.Errorf("%s grew by %v to %v, want at least %d and below nginx's own count now, %v", at[0], d, v, N+1, now)
		}
	}
	for k, want := range map[string]float64{"mc": N, "mcH": N, "dock": N} {
		path := map[string]string{"mc": p(Memcached, "memcached.localhost.cmd_set"), "mcH": hp(fmt.Sprintf("memcached.%d.cmd_set", e.port[Memcached])),
			"dock": "servers.h.containers." + dock.short + ".memcached.localhost.cmd_set"}[k]
		if d := out.get(t, path) - n0[k]; d != want {
			t.Errorf("%s grew by %v, want %v", path, d, want)
		}
	}
	for k, path := range map[string]string{"pg": p(Postgres, "postgres.database.nmtest.xact_commit"), "pgH": hp("postgres.database.nmhost.xact_commit")} {
		if d := out.get(t, path) - n0[k]; d < N || d > N+3 {
			t.Errorf("%s grew by %v after %d transactions", path, d, N)
		}
	}
	for _, state := range []string{"active", "idle", "idletransaction", "waiting", "unknown"} {
		out.get(t, p(Postgres, "postgres.nmtest.connections."+state))
	}

	// nginx was read through its own root: the planted host file names
	// /planted on port 9, which would have failed.
	if v := out.get(t, hp("agent.services.nginx.success")); v != 2 {
		t.Errorf("nginx probes that succeeded: %v, want 2\n%s", v, logs.String())
	}
	nginxPid := 0
	var buf kernfile.Buf
	cgroup.EachPid(&buf, filepath.Join(e.r.Roots[0], "system.slice/docker-"+e.id[Nginx]+".scope"), 0, func(pid int) bool {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(b)) == "nginx" {
			nginxPid = pid
		}
		return true
	})
	b, err := NewRoot(fmt.Sprintf("/proc/%d/root", nginxPid)).ReadFile("/etc/nginx/shadow-link")
	if err != nil || string(b) != "the container's shadow\n" {
		t.Errorf("/etc/nginx/shadow-link in the container: %q %v", b, err)
	}
	if strings.Contains(logs.String(), e.pw) {
		t.Error("the postgres password appears in the log")
	}
	for path := range out.lines {
		if strings.Contains(path, e.pw) {
			t.Errorf("the password in a metric path: %s", path)
		}
	}
}
