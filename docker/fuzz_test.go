// SPDX-License-Identifier: Apache-2.0

package docker

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nodemetrics/nodemetrics/events"
)

// Any object on the events stream: handle never panics, and only the five
// lifecycle events of containers reach the audit trail.
func FuzzHandle(f *testing.F) {
	f.Add([]byte(`{"status":"die","id":"abc","from":"img","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"137","name":"web"}},"time":1,"timeNano":1000000001}`))
	f.Add([]byte(`{"Type":"container","Action":"exec_start: sh -c x","Actor":{"ID":"abc"},"timeNano":5}`))
	f.Add([]byte(`{"Type":"network","Action":"connect","Actor":{"ID":"n"}}`))
	f.Add([]byte(`{"status":"oom","id":"abc","time":-5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if json.Unmarshal(b, &m) != nil {
			return
		}
		disp, err := events.New(events.Options{AuditFile: filepath.Join(t.TempDir(), "a.jsonl"), Logger: quietLog()})
		if err != nil {
			t.Fatal(err)
		}
		defer disp.Close()
		k := NewCache(NewClient("/nonexistent"), Options{Events: disp, Logger: quietLog()})
		k.handle(m)
		k.handle(m) // a replay after a reconnect: not counted twice
		st := disp.Stats()
		if st.Emitted > 1 {
			t.Fatalf("%d events from one message replayed", st.Emitted)
		}
		if st.Emitted == 1 {
			a := m.Action
			if a == "" {
				a = m.Status
			}
			if !slices.ContainsFunc(events.Names, func(n string) bool { return len(a) >= len(n) && a[:len(n)] == n }) {
				t.Fatalf("action %q emitted", a)
			}
		}
	})
}
