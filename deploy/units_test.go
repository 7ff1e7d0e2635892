// SPDX-License-Identifier: Apache-2.0

package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-systemd/v22/unit"
)

// unitFile is a parsed unit: section -> key -> values in file order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, name string) unitFile {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "units", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts, err := unit.DeserializeOptions(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	u := unitFile{}
	for _, o := range opts {
		if u[o.Section] == nil {
			u[o.Section] = map[string][]string{}
		}
		u[o.Section][o.Name] = append(u[o.Section][o.Name], normalise(o.Value))
	}
	return u
}

var continuation = regexp.MustCompile(`\\[ \t]*\n[ \t]*`)

// normalise joins backslash-newline continuations, which the unit package
// keeps literally in the value, and collapses runs of blanks.
func normalise(v string) string {
	return strings.Join(strings.Fields(continuation.ReplaceAllString(v, " ")), " ")
}

// one returns the only value of section.key.
func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: want exactly one value, got %q", section, key, v)
	}
	return v[0]
}

func (u unitFile) want(t *testing.T, section, key, want string) {
	t.Helper()
	if got := u.one(t, section, key); got != want {
		t.Errorf("[%s] %s=%q, want %q", section, key, got, want)
	}
}

// environment collects every Environment= assignment of [Service].
func (u unitFile) environment() map[string]string {
	env := map[string]string{}
	for _, v := range u["Service"]["Environment"] {
		for _, kv := range strings.Fields(v) {
			k, val, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			env[k] = val
		}
	}
	return env
}

var nspawnEnv = map[string]string{
	"SYSTEMD_NSPAWN_SHARE_NS_PID": "1",
	"SYSTEMD_NSPAWN_SHARE_NS_UTS": "1",
	"SYSTEMD_NSPAWN_USE_CGNS":     "0",
}

func checkNspawnEnv(t *testing.T, u unitFile) {
	t.Helper()
	env := u.environment()
	for k, v := range nspawnEnv {
		if env[k] != v {
			t.Errorf("Environment %s=%q, want %q", k, env[k], v)
		}
	}
}

var binds = []string{"/proc:/host/proc", "/sys:/host/sys", "/:/host/root", "/run:/host/run"}

// checkWrapperExecStart checks an ExecStart= that runs nspawn-container,
// and expands it with --dry-run (image and name replaced by a test image
// and machine) to check the systemd-nspawn command it runs: the binds.
func checkWrapperExecStart(t *testing.T, u unitFile) {
	t.Helper()
	args := strings.Fields(u.one(t, "Service", "ExecStart"))
	if len(args) < 5 || args[0] != "/opt/bin/nspawn-container" || args[1] != "--name" || args[2] != "nodemetrics" ||
		args[3] != "/opt/nodemetrics/nodemetrics.tar.gz" || args[4] != "--" {
		t.Fatalf("ExecStart=%q: want /opt/bin/nspawn-container --name nodemetrics /opt/nodemetrics/nodemetrics.tar.gz -- FLAGS", args)
	}
	flags := args[5:]
	if i := slices.Index(flags, "--graphite"); i < 0 || i+1 >= len(flags) {
		t.Errorf("ExecStart collector flags %q: no --graphite", flags)
	}
	requireRoot(t)
	img := filepath.Join(builtImage(t), "nodemetrics.tar.gz")
	name := "nmunit-" + strings.ReplaceAll(t.Name(), "/", "-")
	t.Cleanup(func() { removeMachine(name) })
	dry := append([]string{"--name", name, "--dry-run", img, "--"}, flags...)
	out := run(t, nspawnEnvList(u), wrapper, dry...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cmd := lines[len(lines)-1]
	for _, b := range binds {
		if !strings.Contains(cmd, " --bind-ro="+b+" ") {
			t.Errorf("ExecStart expands to %q: no --bind-ro=%s", cmd, b)
		}
	}
	for _, w := range []string{" --notify-ready=yes ", " --register=no ", " /usr/bin/collector --procfs /host/proc --sysfs /host/sys --rootfs /host/root --graphite "} {
		if !strings.Contains(cmd, w) {
			t.Errorf("ExecStart expands to %q: no %q", cmd, w)
		}
	}
	for k, v := range nspawnEnv {
		if !slices.Contains(lines, k+"="+v) {
			t.Errorf("dry run environment %q: no %s=%s", lines[:len(lines)-1], k, v)
		}
	}
}

func nspawnEnvList(u unitFile) []string {
	var env []string
	for k, v := range u.environment() {
		if strings.HasPrefix(k, "SYSTEMD_NSPAWN_") {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func TestFlatcarService(t *testing.T) {
	u := parseUnit(t, "nodemetrics.service")
	u.want(t, "Service", "Type", "notify")
	u.want(t, "Service", "Restart", "always")
	u.want(t, "Service", "KillMode", "mixed")
	u.want(t, "Service", "Delegate", "yes")
	u.want(t, "Service", "LimitNOFILE", "65536") // the containers' kept-open cgroup files
	if w := u.one(t, "Service", "WatchdogSec"); !regexp.MustCompile(`^[1-9][0-9]*(s|min)?$`).MatchString(w) {
		t.Errorf("WatchdogSec=%q: want a positive time span", w)
	}
	u.want(t, "Install", "WantedBy", "multi-user.target")
	if _, ok := u["X-Fleet"]; ok {
		t.Error("the Flatcar unit has an [X-Fleet] section")
	}
	checkNspawnEnv(t, u)
	checkWrapperExecStart(t, u)
}

func TestFleetService(t *testing.T) {
	u := parseUnit(t, "nodemetrics-fleet.service")
	fleet := u["X-Fleet"]
	if got := fleet["Global"]; !slices.Equal(got, []string{"true"}) {
		t.Errorf("[X-Fleet] Global=%q, want exactly one Global=true", got)
	}
	for k := range fleet {
		if k != "Global" && k != "MachineMetadata" {
			t.Errorf("[X-Fleet] %s=: fleet rejects a Global=true unit with any option but MachineMetadata", k)
		}
	}
	for _, k := range []string{"After", "Requires", "Wants", "BindsTo", "Requisite"} {
		if slices.Contains(strings.Fields(strings.Join(u["Unit"][k], " ")), "docker.service") {
			t.Errorf("[Unit] %s=%q: the agent does not depend on docker.service", k, u["Unit"][k])
		}
	}
	env := u.environment()
	if v := env["NODEMETRICS_VERSION"]; v == "" || v == "latest" {
		t.Errorf("NODEMETRICS_VERSION=%q: the download must be pinned", v)
	}
	if url := env["NODEMETRICS_URL"]; strings.Contains(url, "latest") || strings.Contains(url, "$") {
		t.Errorf("NODEMETRICS_URL=%q: no latest; and systemd does not expand ${...} inside Environment=", url)
	}
	u.want(t, "Service", "Restart", "always")
	u.want(t, "Service", "LimitNOFILE", "65536")
	pre := strings.Join(u["Service"]["ExecStartPre"], "\n")
	for _, f := range []string{"-o /opt/nodemetrics/nodemetrics.tar.gz ${NODEMETRICS_URL}/${NODEMETRICS_VERSION}/nodemetrics.tar.gz",
		"-o /opt/bin/nspawn-container ${NODEMETRICS_URL}/${NODEMETRICS_VERSION}/nspawn-container",
		"-o /opt/nodemetrics/SHA256SUMS ${NODEMETRICS_URL}/${NODEMETRICS_VERSION}/SHA256SUMS", "sha256sum -c"} {
		if !strings.Contains(pre, f) {
			t.Errorf("ExecStartPre=%q: does not fetch %q", pre, f)
		}
	}
	checkNspawnEnv(t, u)
	checkWrapperExecStart(t, u)
}

func TestNspawnSettings(t *testing.T) {
	u := parseUnit(t, "nodemetrics.nspawn")
	u.want(t, "Exec", "Boot", "no")
	u.want(t, "Exec", "PrivateUsers", "no")
	u.want(t, "Exec", "NotifyReady", "yes")
	p := u.one(t, "Exec", "Parameters")
	if !strings.HasPrefix(p, "/usr/bin/collector --procfs /host/proc --sysfs /host/sys --rootfs /host/root --graphite ") {
		t.Errorf("Parameters=%q", p)
	}
	got := slices.Sorted(slices.Values(u["Files"]["BindReadOnly"]))
	if want := slices.Sorted(slices.Values(binds)); !slices.Equal(got, want) {
		t.Errorf("BindReadOnly=%q, want %q", got, want)
	}
	if len(u["Files"]["Bind"]) != 0 {
		t.Errorf("read-write Bind=%q", u["Files"]["Bind"])
	}
	u.want(t, "Network", "Private", "no")
	u.want(t, "Network", "VirtualEthernet", "no")

	d := parseUnit(t, "systemd-nspawn@nodemetrics.service.d/nodemetrics.conf")
	checkNspawnEnv(t, d)
	d.want(t, "Service", "LimitNOFILE", "65536") // the payload inherits nspawn's
}

// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on each .service
// with the wrapper path pointing at a temporary copy (verify wants every
// Exec binary to exist). It exits 0 on warnings, so any stderr line naming
// the unit fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Fatal("systemd-analyze not found (package systemd)")
	}
	dir := t.TempDir()
	w := filepath.Join(dir, "nspawn-container")
	b, err := os.ReadFile(wrapper)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nodemetrics.service", "nodemetrics-fleet.service"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(root, "units", name))
			if err != nil {
				t.Fatal(err)
			}
			s := strings.ReplaceAll(string(b), "/opt/bin/nspawn-container", w)
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("systemd-analyze", "verify", p)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, name) || strings.Contains(l, p) {
					t.Errorf("systemd-analyze verify: %s", l)
				}
			}
		})
	}
}

func TestButane(t *testing.T) {
	bu := loadYAML(t, filepath.Join(root, "units", "nodemetrics.bu"))
	if v := path(t, bu, "variant"); v != "flatcar" {
		t.Errorf("variant=%v", v)
	}
	if v := path(t, bu, "version"); v != "1.1.0" {
		t.Errorf("version=%v", v)
	}
	files := map[string]map[string]any{}
	for _, f := range path(t, bu, "storage", "files").([]any) {
		m := f.(map[string]any)
		files[m["path"].(string)] = m
	}
	for p, mode := range map[string]float64{"/opt/bin/nspawn-container": 0o755, "/opt/nodemetrics/nodemetrics.tar.gz": 0o644} {
		f, ok := files[p]
		if !ok {
			t.Errorf("storage.files: no %s", p)
			continue
		}
		if f["mode"] != mode {
			t.Errorf("%s: mode %v, want %o", p, f["mode"], int(mode))
		}
		src, _ := path(t, f, "contents", "source").(string)
		if !strings.HasPrefix(src, "https://") {
			t.Errorf("%s: contents.source %q, want an https URL", p, src)
		}
		if h, _ := path(t, f, "contents", "verification", "hash").(string); !strings.HasPrefix(h, "sha512-") {
			t.Errorf("%s: contents.verification.hash %q, want sha512-...", p, h)
		}
	}
	units := path(t, bu, "systemd", "units").([]any)
	if len(units) != 1 {
		t.Fatalf("systemd.units: %d units, want 1", len(units))
	}
	if path(t, units, 0, "name") != "nodemetrics.service" || path(t, units, 0, "enabled") != true {
		t.Errorf("systemd.units[0]: %v", units[0])
	}
	want, err := os.ReadFile(filepath.Join(root, "units", "nodemetrics.service"))
	if err != nil {
		t.Fatal(err)
	}
	if got := path(t, units, 0, "contents"); got != string(want) {
		t.Errorf("systemd.units[0].contents differs from units/nodemetrics.service:\n%s", got)
	}
}

func TestDaemonSet(t *testing.T) {
	ds := loadYAML(t, filepath.Join(root, "units", "daemonset.yaml"))
	if path(t, ds, "apiVersion") != "apps/v1" || path(t, ds, "kind") != "DaemonSet" {
		t.Fatalf("apiVersion/kind: %v %v", ds["apiVersion"], ds["kind"])
	}
	sel := path(t, ds, "spec", "selector", "matchLabels").(map[string]any)
	labels := path(t, ds, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("selector %s=%v does not match the template's labels %v", k, v, labels)
		}
	}
	pod := path(t, ds, "spec", "template", "spec")
	for k, want := range map[string]any{"hostNetwork": true, "hostPID": true, "priorityClassName": "system-node-critical"} {
		if got := path(t, pod, k); got != want {
			t.Errorf("pod %s=%v, want %v", k, got, want)
		}
	}
	tol := path(t, pod, "tolerations").([]any)
	if len(tol) != 1 || path(t, tol, 0, "operator") != "Exists" || len(tol[0].(map[string]any)) != 1 {
		t.Errorf("tolerations=%v, want [{operator: Exists}]", tol)
	}
	c := path(t, pod, "containers", 0)
	var args []string
	for _, a := range path(t, c, "args").([]any) {
		args = append(args, a.(string))
	}
	joined := " " + strings.Join(args, " ") + " "
	for _, w := range []string{" --procfs /host/proc ", " --sysfs /host/sys ", " --rootfs /host/root ", " --graphite ",
		" --tags ", " --events-url http"} {
		if !strings.Contains(joined, w) {
			t.Errorf("args %q: no %q", args, w)
		}
	}
	// The node's own short host name (hostNetwork shares its UTS
	// namespace), as Diamond on the node had it: no --hostname.
	if strings.Contains(joined, " --hostname ") {
		t.Errorf("args %q: --hostname overrides the node's short host name", args)
	}
	// The tag the README's sed replaces with image/build/IMAGE_TAG.
	if img := path(t, c, "image"); img != "nodemetrics:IMAGE_TAG" {
		t.Errorf("image %v, want nodemetrics:IMAGE_TAG (README, Kubernetes)", img)
	}
	for _, k := range []string{"cpu", "memory"} {
		if s, _ := path(t, c, "resources", "limits", k).(string); s == "" {
			t.Errorf("resources.limits.%s missing", k)
		}
	}
	hostPaths := map[string]string{}
	for _, v := range path(t, pod, "volumes").([]any) {
		hostPaths[path(t, v, "name").(string)] = path(t, v, "hostPath", "path").(string)
	}
	mounts := map[string]string{} // host path -> mount path
	for _, m := range path(t, c, "volumeMounts").([]any) {
		mm := m.(map[string]any)
		hp := hostPaths[mm["name"].(string)]
		mounts[hp] = mm["mountPath"].(string)
		if state := hp == "/var/lib/nodemetrics"; mm["readOnly"] == state {
			t.Errorf("volumeMount %v: readOnly must be %v", mm, !state)
		}
		prop, _ := mm["mountPropagation"].(string)
		if hp == "/" && prop != "HostToContainer" {
			t.Errorf("volumeMount of / has mountPropagation %q, want HostToContainer", prop)
		}
	}
	for hp, mp := range map[string]string{"/proc": "/host/proc", "/sys": "/host/sys", "/": "/host/root", "/run": "/host/run",
		"/var/lib/nodemetrics": "/var/lib/nodemetrics"} { // the default spool, writable
		if mounts[hp] != mp {
			t.Errorf("hostPath %s mounted at %q, want %s", hp, mounts[hp], mp)
		}
	}
}
