// SPDX-License-Identifier: Apache-2.0

//go:build ignore

// gen writes the dashboards and provisioning files from spec.go:
// go generate ./dashboards (run in this folder).
package main

import (
	"log"
	"os"
	"path/filepath"

	"github.com/nodemetrics/nodemetrics/dashboards"
)

func main() {
	files, err := dashboards.Files()
	if err != nil {
		log.Fatal(err)
	}
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
