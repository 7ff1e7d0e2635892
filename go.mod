module github.com/nodemetrics/nodemetrics

go 1.26.0

require github.com/BurntSushi/toml v1.6.0

require github.com/coreos/go-systemd/v22 v22.7.0

require golang.org/x/sys v0.49.0
