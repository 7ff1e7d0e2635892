// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nodemetrics/nodemetrics/collect"
)

// stateFile is the --state-file format: per collector, the raw counters of
// the previous sample and its time. It lets a one-shot run publish rates
// against the run before it, and a restarted daemon publish rates on its
// first cycle.
type stateFile struct {
	Version    int                      `json:"version"`
	Collectors map[string]collect.State `json:"collectors"`
}

const stateVersion = 1

// loadState reads path. A missing, unreadable or foreign file means "no
// previous sample": the caller logs the error and carries on.
func loadState(path string) (map[string]collect.State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse state file %s: %w", path, err)
	}
	if f.Version != stateVersion {
		return nil, fmt.Errorf("state file %s: version %d, want %d", path, f.Version, stateVersion)
	}
	return f.Collectors, nil
}

// saveState writes the file atomically (temp file + rename), so a crash
// mid-write leaves the previous state, never half a file.
func saveState(path string, states map[string]collect.State) error {
	b, err := json.Marshal(stateFile{Version: stateVersion, Collectors: states})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return nil
}
