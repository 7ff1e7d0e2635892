// SPDX-License-Identifier: Apache-2.0

package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadFile(t *testing.T, body string) (Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load([]string{"--config", p}, nil, io.Discard)
}

func TestServiceSections(t *testing.T) {
	cfg, err := loadFile(t, `
[[service]]
kind = "postgresql"
container = "db-*"
user = "metrics"
password = "s3cret;x"
timeout = "2s"

[[service]]
kind = "nginx"
host = true
port = 8080
path = "/status"
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 2 || cfg.Services[0].Password != "s3cret;x" || cfg.Services[1].Port != 8080 || cfg.Services[0].Timeout.String() != "2s" {
		t.Fatalf("%+v", cfg.Services)
	}
	for body, want := range map[string]string{
		`kind = "mysql"`:                                  "kind must be one of",
		`kind = "redis"` + "\nport = 70000":               "port must be 1-65535",
		`kind = "redis"` + "\ncontainer = \"[\"":          "bad glob",
		`kind = "redis"` + "\nlabel = \"app\"":            "wants key=glob",
		`kind = "redis"` + "\nhost = true\nimage = \"x\"": "cannot be combined",
		`kind = "redis"` + "\nsocket = \"run/x\"":         "absolute path",
		`kind = "redis"` + "\npath = \"/x\"":              "nginx URL path",
		`kind = "redis"` + "\nport = 1\nsocket = \"/x\"":  "not both",
		`kind = "redis"` + "\nbogus = 1":                  "unknown key",
	} {
		_, err := loadFile(t, "[[service]]\npassword = \"hunter2-secret\"\n"+body+"\n")
		var ue *UsageError
		if err == nil || !strings.Contains(err.Error(), want) || !asUsage(err, &ue) {
			t.Errorf("%q: %v, want a usage error with %q", body, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the password in the error: %v", body, err)
		}
	}
}

func asUsage(err error, ue **UsageError) bool {
	u, ok := err.(*UsageError)
	*ue = u
	return ok
}
