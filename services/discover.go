// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"

	"github.com/nodemetrics/nodemetrics/collect"
	"github.com/nodemetrics/nodemetrics/internal/cgroup"
	"github.com/nodemetrics/nodemetrics/internal/kernfile"
)

// maxPids bounds the processes read of one container (a fork bomb in a
// container must not make discovery read a million fd tables).
const maxPids = 4096

// discover finds the instances of the host and of every container in
// list. Per container it reads cgroup.procs and each process's comm; only
// recognised processes get their fd table read, and each network
// namespace's socket tables are read once. The host's processes are found
// by walking <procfs> (comm only, then the network namespace of the
// recognised ones), which is why discovery does not run every cycle.
//
// A full pass (first cycle, every Rediscover cycles, a probed process
// gone) looks at everything; otherwise only the containers that are new
// (or renamed) since the last pass are looked at and the others' and the
// host's instances are kept: container churn costs only the newcomers.
func (c *Collector) discover(ctx context.Context, list []Container, full bool) ([]*Instance, error) {
	fs, err := procfs.NewFS(c.h.Proc)
	if err != nil {
		return nil, fmt.Errorf("procfs %s: %w", c.h.Proc, err)
	}
	d := &discovery{c: c, fs: fs, tables: map[uint64]*sockTable{}}
	d.selfNS, _ = nsInode("/proc/thread-self/ns/net")
	defer d.close()
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b Container) int { return strings.Compare(a.Name, b.Name) })
	inContainer := map[int]bool{}
	var out []*Instance
	cache := make(map[cacheKey][]*Instance, len(list)+1)
	defer func() { c.cache = cache }()
	for _, ct := range list {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		key := cacheKey{ct.ID, ct.Node, ct.Tags}
		if inst, ok := c.cache[key]; ok && !full {
			cache[key] = inst
			out = append(out, inst...)
			continue
		}
		pids := d.cgroupPids(ct.CgroupDir)
		if len(pids) == 0 && ct.Pid > 0 {
			pids = []int{ct.Pid}
		}
		for _, p := range pids {
			inContainer[p] = true
		}
		t := &target{c: ct, base: "containers." + ct.Node + "."}
		if c.opts.Tags {
			t.tags = ct.Tags
		}
		inst := d.target(t, pids)
		cache[key] = inst
		out = append(out, inst...)
	}
	if inst, ok := c.cache[cacheKey{}]; ok && !full {
		cache[cacheKey{}] = inst
		return append(out, inst...), errors.Join(d.errs...)
	}
	// The host: recognised processes in the host's network namespace
	// that belong to no container.
	hostNS, _ := nsInode(c.h.ProcPath("1", "ns", "net"))
	var hostPids []int
	if err := d.eachPid(func(pid int) {
		if inContainer[pid] {
			return
		}
		if _, ok := d.kind(pid); !ok {
			return
		}
		if ns, err := nsInode(c.h.ProcPath(strconv.Itoa(pid), "ns", "net")); err != nil || (hostNS != 0 && ns != hostNS) {
			return // another namespace: a container we do not know
		}
		hostPids = append(hostPids, pid)
	}); err != nil {
		d.fail(fmt.Errorf("list %s: %w", c.h.Proc, err))
	}
	host := &target{host: true}
	inst := d.target(host, hostPids)
	if ctx.Err() == nil {
		cache[cacheKey{}] = inst
	}
	return append(out, inst...), errors.Join(d.errs...)
}

// cacheKey is a container as the discovery cache knows it: a change of
// its id, node or tags makes it a new target. Its strings are the
// containers list's, not joined into one of the cache's own (80 bytes
// a container). The zero key is the host's.
type cacheKey struct{ id, node, tags string }

// discovery is the state of one pass.
type discovery struct {
	c      *Collector
	fs     procfs.FS
	tables map[uint64]*sockTable // by network namespace inode
	selfNS uint64                // the agent's own network namespace
	errs   []error
	buf    kernfile.Buf // comm and cgroup.procs reads, cgroup listings: bare descriptors, one buffer
}

// kind is the service kind of process pid, from its comm.
func (d *discovery) kind(pid int) (Kind, bool) {
	return commKind(&d.buf, d.c.h.Proc, strconv.Itoa(pid))
}

// commKind is the service kind of the process pid (a decimal string) of
// the procfs at proc, from its comm read through buf: for the discovery
// pass and for the watcher's look at a new process's parent.
func commKind(buf *kernfile.Buf, proc, pid string) (Kind, bool) {
	b, err := buf.Read(proc, pid, "comm")
	if err != nil {
		return "", false
	}
	k, ok := byComm[string(bytes.TrimSpace(b))]
	return k, ok
}

// eachPid calls each with every process of <procfs>, in the kernel's
// order (ascending pids).
func (d *discovery) eachPid(each func(pid int)) error {
	dir, err := os.Open(d.c.h.Proc)
	if err != nil {
		return err
	}
	defer dir.Close()
	return readPids(dir, make([]byte, 32<<10), each)
}

// close closes the pass's sock_diag sockets.
func (d *discovery) close() {
	for _, tab := range d.tables {
		if tab.sock != nil {
			tab.sock.Close()
		}
	}
}

func (d *discovery) fail(err error) {
	if len(d.errs) < 4 {
		d.errs = append(d.errs, err)
	}
}

// sockTable is a network namespace's listening sockets by inode, read
// lazily: through sock_diag when diag is set, else (or when sock_diag
// fails, e.g. a kernel without inet_diag) from the <dir>/net files.
type sockTable struct {
	fs     procfs.FS
	dir    string
	nsPath string    // the namespace for sock_diag, "" the agent's own
	diag   bool      // try sock_diag
	sock   *diagSock // opened on first use
	read   int       // tables read: 1 tcp, 2 tcp6, 3 unix
	tcp    map[uint64]tcpListener
	unix   map[uint64]string // socket path
}

type tcpListener struct {
	ip   net.IP
	port int
}

// target finds the instances among pids (the processes of t).
func (d *discovery) target(t *target, pids []int) []*Instance {
	kindPids := map[Kind][]int{}
	for _, pid := range pids {
		if k, ok := d.kind(pid); ok {
			kindPids[k] = append(kindPids[k], pid)
		}
	}
	var out []*Instance
	for _, k := range Kinds {
		for _, pid := range kindPids[k] {
			out = d.listeners(t, k, pid, out)
		}
	}
	anyPid := 0
	if len(pids) > 0 {
		anyPid = pids[0]
	} else if t.host {
		anyPid = 1
	} else {
		anyPid = t.c.Pid
	}
	out = d.c.applyRules(t, out, anyPid)
	d.c.paths(t, out)
	return out
}

// listeners adds the listening sockets of pid (a process of kind k) to
// out: one instance per TCP port (nginx: one per target, with all its
// ports), or per unix socket path when the service has no TCP listener.
func (d *discovery) listeners(t *target, k Kind, pid int, out []*Instance) []*Instance {
	p := strconv.Itoa(pid)
	ns, err := nsInode(d.c.h.ProcPath(p, "ns", "net"))
	if err != nil {
		return out // exited, or no access
	}
	tab, ok := d.tables[ns]
	if !ok {
		tab, err = newSockTable(d.c.h.ProcPath(p))
		if err != nil {
			d.fail(err)
			return out
		}
		tab.diag = true
		if ns != d.selfNS {
			tab.nsPath = d.c.h.ProcPath(p, "ns", "net")
		}
		d.tables[ns] = tab
	}
	proc, err := d.fs.Proc(pid)
	if err != nil {
		return out
	}
	fds, err := proc.FileDescriptorTargets()
	if err != nil {
		return out
	}
	var inodes []uint64
	for _, f := range fds {
		s, ok := strings.CutPrefix(f, "socket:[")
		if !ok {
			continue
		}
		if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
			inodes = append(inodes, ino)
		}
	}
	if err := tab.resolve(inodes); err != nil {
		d.fail(err)
	}
	var ports []tcpListener
	var socks []string
	for _, ino := range inodes {
		if l, ok := tab.tcp[ino]; ok {
			ports = append(ports, l)
		} else if path, ok := tab.unix[ino]; ok {
			socks = append(socks, path)
		}
	}
	find := func(match func(*Instance) bool) *Instance {
		for _, in := range out {
			if in.Kind == k && in.target == t && match(in) {
				return in
			}
		}
		return nil
	}
	for _, l := range ports {
		if k == Nginx {
			in := find(func(*Instance) bool { return true })
			if in == nil {
				in = &Instance{Kind: k, Pid: pid, target: t}
				out = append(out, in)
			}
			if !slices.Contains(in.Ports, l.port) {
				in.Ports = append(in.Ports, l.port)
				slices.Sort(in.Ports)
			}
			continue
		}
		if in := find(func(in *Instance) bool { return len(in.Ports) > 0 && in.Ports[0] == l.port }); in != nil {
			if l.ip.To4() != nil && !strings.HasPrefix(in.Addr, "127.") && l.ip.IsLoopback() {
				in.Addr = dialAddr(l) // prefer IPv4 loopback
			}
			continue
		}
		out = append(out, &Instance{Kind: k, Pid: pid, Ports: []int{l.port}, Addr: dialAddr(l), target: t})
	}
	if len(ports) == 0 && k != Nginx {
		for _, s := range socks {
			if find(func(in *Instance) bool { return in.Socket == s }) == nil {
				out = append(out, &Instance{Kind: k, Pid: pid, Socket: s, target: t})
			}
		}
	}
	return out
}

// dialAddr is where to reach a listener: its own address, or loopback for
// a wildcard one.
func dialAddr(l tcpListener) string {
	ip := l.ip
	switch {
	case ip == nil || ip.Equal(net.IPv4zero):
		ip = net.IPv4(127, 0, 0, 1)
	case ip.Equal(net.IPv6unspecified):
		ip = net.IPv6loopback
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(l.port))
}

// newSockTable is the (not yet read) socket table of the network
// namespace of the process at dir (<procfs>/<pid>).
func newSockTable(dir string) (*sockTable, error) {
	fs, err := procfs.NewFS(dir)
	if err != nil {
		return nil, err
	}
	return &sockTable{fs: fs, dir: dir, tcp: map[uint64]tcpListener{}, unix: map[uint64]string{}}, nil
}

// readSockTable reads a whole table (tests, fuzzing).
func readSockTable(dir string) (*sockTable, error) {
	tab, err := newSockTable(dir)
	if err != nil {
		return nil, err
	}
	return tab, tab.resolve([]uint64{0})
}

// resolve reads the namespace's tables, tcp then tcp6 then unix, only
// until every inode is known. Reading /proc/<pid>/net/tcp costs the
// kernel a walk of the whole TCP hash table (milliseconds), so a service
// found in tcp spares the tcp6 and unix reads.
func (tab *sockTable) resolve(inodes []uint64) error {
	known := func() bool {
		for _, ino := range inodes {
			_, t := tab.tcp[ino]
			_, u := tab.unix[ino]
			if !t && !u {
				return false
			}
		}
		return true
	}
	for tab.read < 3 && !known() {
		tab.read++
		if tab.diag && tab.readDiag() {
			continue
		}
		switch tab.read {
		case 1, 2:
			// procfs points to netlink sock_diag instead; that would need a
			// socket created inside each container's namespace (a setns
			// per namespace) where this reads the container's own file.
			//lint:ignore SA1019 the container's /proc/<pid>/net/tcp is the source meant here
			read, name := tab.fs.NetTCP, "tcp"
			if tab.read == 2 {
				//lint:ignore SA1019 as above, for tcp6
				read, name = tab.fs.NetTCP6, "tcp6"
			}
			lines, err := read()
			if errors.Is(err, os.ErrNotExist) {
				continue // no IPv6
			}
			if err != nil {
				return fmt.Errorf("%s/net/%s: %w", tab.dir, name, err)
			}
			addTCP(tab, lines)
		case 3:
			u, err := tab.fs.NetUNIX()
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("%s/net/unix: %w", tab.dir, err)
			}
			addUnix(tab, u)
		}
	}
	return nil
}

// readDiag reads table tab.read through sock_diag; false when sock_diag
// is not available, and the files are read from then on.
func (tab *sockTable) readDiag() bool {
	if tab.sock == nil {
		s, err := openDiag(tab.nsPath)
		if err != nil {
			tab.diag = false
			return false
		}
		tab.sock = s
	}
	var err error
	switch tab.read {
	case 1:
		err = tab.sock.listenTCP(unix.AF_INET, tab)
	case 2:
		err = tab.sock.listenTCP(unix.AF_INET6, tab)
	case 3:
		err = tab.sock.listenUnix(tab)
	}
	if err != nil {
		// A socket left mid-dump cannot serve the next request.
		tab.sock.Close()
		tab.sock, tab.diag = nil, false
		return false
	}
	return true
}

// tcpListen is TCP_LISTEN in /proc/net/tcp's st column.
const tcpListen = 0x0A

func addTCP(tab *sockTable, lines procfs.NetTCP) {
	for _, l := range lines {
		if l.St == tcpListen && l.Inode != 0 && l.LocalPort > 0 && l.LocalPort < 65536 {
			tab.tcp[l.Inode] = tcpListener{ip: l.LocalAddr, port: int(l.LocalPort)}
		}
	}
}

// unixListen is __SO_ACCEPTCON in /proc/net/unix's Flags column.
const unixListen = 1 << 16

func addUnix(tab *sockTable, u *procfs.NetUNIX) {
	for _, l := range u.Rows {
		// Only stream sockets bound to a filesystem path: an abstract
		// name ("@...") cannot be reached through the container's root.
		if l.Flags&unixListen != 0 && l.Inode != 0 && strings.HasPrefix(l.Path, "/") {
			tab.unix[l.Inode] = l.Path
		}
	}
}

// cgroupPids lists the pids of dir's cgroup.procs and of the cgroups below
// it, three levels down (cgroup v2 keeps processes in leaves only), at most
// maxPids. A file that cannot be read lists nothing: the container's
// processes are looked for again at the next pass.
func (d *discovery) cgroupPids(dir string) []int {
	var pids []int
	_ = cgroup.EachPid(&d.buf, dir, 3, func(pid int) bool {
		pids = append(pids, pid)
		return len(pids) < maxPids
	})
	return pids
}

// nsInode identifies a namespace by its link's inode.
func nsInode(link string) (uint64, error) {
	st, err := os.Stat(link)
	if err != nil {
		return 0, err
	}
	return inodeOf(st), nil
}

// applyRules adds the services the [[service]] rules name with a port or
// socket (on pid's namespaces) and attaches each matching rule to the
// instances of its kind (the last matching rule wins).
func (c *Collector) applyRules(t *target, out []*Instance, pid int) []*Instance {
	for i := range c.opts.Rules {
		r := &c.opts.Rules[i]
		if !r.matches(t) {
			continue
		}
		matched := false
		for _, in := range out {
			if in.Kind != r.Kind {
				continue
			}
			if (r.Port != 0 && !slices.Contains(in.Ports, r.Port)) || (r.Socket != "" && in.Socket != r.Socket) {
				continue
			}
			in.Rule, matched = r, true
		}
		if matched || (r.Port == 0 && r.Socket == "") || pid <= 0 {
			continue
		}
		in := &Instance{Kind: r.Kind, Pid: pid, Socket: r.Socket, Rule: r, target: t}
		if r.Port != 0 {
			in.Ports, in.Socket = []int{r.Port}, ""
			in.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
		}
		out = append(out, in)
	}
	return out
}

// matches tells whether r is about t.
func (r *Rule) matches(t *target) bool {
	if r.Host || t.host {
		return r.Host && t.host
	}
	if !glob(r.Container, t.c.Name) || !glob(r.Image, t.c.Image) {
		return false
	}
	if r.Label != "" {
		k, g, _ := strings.Cut(r.Label, "=")
		v, ok := t.c.Labels[k]
		if !ok || !glob(g, v) {
			return false
		}
	}
	return true
}

func glob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

// paths gives every instance of t its path prefix: Diamond's
// <kind>[.<instance>] below the target's base, the instance being the
// port for redis (or the socket's name), "localhost" for memcached on its
// default port (Diamond's default alias) else the port; a second nginx or
// postgresql in one target gets its port appended to the kind.
func (c *Collector) paths(t *target, out []*Instance) {
	seen := map[string]bool{}
	for _, in := range out {
		if in.target != t {
			continue
		}
		id := in.Socket
		if len(in.Ports) > 0 {
			id = strconv.Itoa(in.Ports[0])
		} else {
			id = strings.TrimSuffix(path.Base(id), path.Ext(id))
		}
		var rel string
		switch in.Kind {
		case Redis:
			rel = "redis." + collect.Segment(id) + "."
		case Memcached:
			if id == "11211" {
				id = "localhost"
			}
			rel = "memcached." + collect.Segment(id) + "."
		default:
			rel = in.Kind.node() + "."
			if seen[rel] {
				rel = in.Kind.node() + "_" + collect.Segment(id) + "."
			}
		}
		seen[rel] = true
		in.paths = pathSet{prefix: t.base + rel}
		if t.tags != "" {
			in.paths.tagged = rel
			in.paths.suffix = withTag(t.tags, "service", string(in.Kind))
		}
	}
}

// withTag adds k=v to a sorted ";k=v" tag suffix, keeping it sorted.
func withTag(suffix, k, v string) string {
	tags := strings.Split(strings.TrimPrefix(suffix, ";"), ";")
	tags = append(tags, k+"="+v)
	slices.SortFunc(tags, func(a, b string) int {
		an, _, _ := strings.Cut(a, "=")
		bn, _, _ := strings.Cut(b, "=")
		return strings.Compare(an, bn)
	})
	return ";" + strings.Join(tags, ";")
}
