// SPDX-License-Identifier: Apache-2.0

package services

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/collect"
)

// Faults a real server cannot be made to show: a service that speaks
// garbage, one that closes at once, a closed port. Each probe fails with
// an error of its own, within its deadline, and publishes nothing.
func TestProbeFaults(t *testing.T) {
	garbage := func(c net.Conn) {
		c.Write([]byte("$99999999999\r\n\x00\xff garbage\r\nSTAT x\r\nHTTP/1.1 200 OK\r\n\r\nActive connections: lots\r\n"))
		io.Copy(io.Discard, c)
	}
	slam := func(c net.Conn) { c.Close() }
	serve := func(h func(net.Conn)) int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() { h(c); c.Close() }()
			}
		}()
		return l.Addr().(*net.TCPAddr).Port
	}
	closed := func() int {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return p
	}()
	ports := map[string]int{"garbage": serve(garbage), "slam": serve(slam), "closed": closed}
	for name, port := range ports {
		for _, k := range Kinds {
			t.Run(name+"/"+string(k), func(t *testing.T) {
				r := Rule{Kind: k, Host: true, Port: port, Timeout: 2 * time.Second, Password: "pw-never-shown"}
				if k == Nginx {
					r.Path = "/status"
				}
				c := New(collect.DefaultHost(), Options{Rules: []Rule{r}}, nil)
				s := collect.NewSample(time.Now(), true, collect.State{})
				start := time.Now()
				err := c.Collect(context.Background(), s)
				if took := time.Since(start); took > 4*time.Second {
					t.Errorf("took %v with a 2 s deadline", took)
				}
				if err == nil {
					t.Fatal("a faulty service reported healthy")
				}
				if strings.Contains(err.Error(), "pw-never-shown") {
					t.Errorf("password in the error: %v", err)
				}
				failed := false
				for m := range s.All() {
					if strings.HasPrefix(m.Path, k.node()+".") {
						t.Errorf("published %s", m.Path)
					}
					if m.Path == "agent.services."+k.node()+".failed" && m.Int() >= 1 {
						failed = true
					}
				}
				if !failed {
					t.Errorf("agent.services.%s.failed not counted", k.node())
				}
			})
		}
	}
}
