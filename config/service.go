// SPDX-License-Identifier: Apache-2.0

package config

import (
	"path"
	"strconv"
	"strings"
)

// Service is one [[service]] section: a service the discovery does not
// recognise (port or socket set), or credentials and options for the ones
// it finds. Errors about it never quote the password.
type Service struct {
	Kind      string   `toml:"kind"`      // nginx, redis, memcached or postgresql
	Host      bool     `toml:"host"`      // about the host's services, not containers'
	Container string   `toml:"container"` // glob on the container name
	Image     string   `toml:"image"`     // glob on the image
	Label     string   `toml:"label"`     // key=glob on a label
	Port      int      `toml:"port"`
	Socket    string   `toml:"socket"` // unix socket path inside the container
	User      string   `toml:"user"`
	Password  string   `toml:"password"`
	Database  string   `toml:"database"` // postgresql: database to connect to
	Path      string   `toml:"path"`     // nginx: stub_status URL path
	Timeout   Duration `toml:"timeout"`  // per probe (default 5s)
}

// ServiceKinds are the kind values of [[service]].
var ServiceKinds = []string{"nginx", "redis", "memcached", "postgresql"}

func validateServices(list []Service) error {
	for i, s := range list {
		where := func(key string) string { return "[[service]] #" + strconv.Itoa(i+1) + " " + key }
		if !contains(ServiceKinds, s.Kind) {
			return usagef("%s must be one of %s, got %q", where("kind"), strings.Join(ServiceKinds, ","), s.Kind)
		}
		if s.Host && (s.Container != "" || s.Image != "" || s.Label != "") {
			return usagef("%s: host = true cannot be combined with container, image or label", where(""))
		}
		for key, g := range map[string]string{"container": s.Container, "image": s.Image} {
			if _, err := path.Match(g, ""); err != nil {
				return usagef("%s: bad glob %q", where(key), g)
			}
		}
		if s.Label != "" {
			k, g, ok := strings.Cut(s.Label, "=")
			if _, err := path.Match(g, ""); !ok || k == "" || err != nil {
				return usagef("%s wants key=glob, got %q", where("label"), s.Label)
			}
		}
		if s.Port < 0 || s.Port > 65535 {
			return usagef("%s must be 1-65535, got %d", where("port"), s.Port)
		}
		if s.Port != 0 && s.Socket != "" {
			return usagef("%s: set port or socket, not both", where(""))
		}
		if s.Socket != "" && !path.IsAbs(s.Socket) {
			return usagef("%s must be an absolute path inside the container, got %q", where("socket"), s.Socket)
		}
		if s.Path != "" && (s.Kind != "nginx" || !strings.HasPrefix(s.Path, "/")) {
			return usagef("%s is an nginx URL path starting with /, got %q", where("path"), s.Path)
		}
		if s.Timeout < 0 {
			return usagef("%s must not be negative", where("timeout"))
		}
	}
	return nil
}
