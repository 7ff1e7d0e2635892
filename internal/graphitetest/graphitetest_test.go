package graphitetest

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"testing"
	"time"
)

func send(t *testing.T, network, addr, lines string) {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(lines)); err != nil {
		t.Fatal(err)
	}
}

func hasValues(want map[int64]float64) func([]Series) bool {
	return func(ss []Series) bool {
		if len(ss) != 1 {
			return false
		}
		got := ss[0].Values()
		for ts, v := range want {
			if g, ok := got[ts]; !ok || g != v {
				return false
			}
		}
		return true
	}
}

func TestGraphite(t *testing.T) {
	g := Start(t)
	ts := time.Now().Unix() - 3

	send(t, "tcp", g.CarbonAddr, fmt.Sprintf(
		"test.a 1.5 %d\ntest.a 2.25 %d\ntest.a -3 %d\ntest.b 42 %d\ntest.tagged;host=h1 3 %d\n",
		ts-2, ts-1, ts, ts, ts))
	send(t, "udp", g.CarbonAddr, fmt.Sprintf("test.udp 7 %d\n", ts))

	s := g.WaitFor(t, "test.a", "-1min", hasValues(map[int64]float64{ts - 2: 1.5, ts - 1: 2.25, ts: -3}), 20*time.Second)
	if got := s[0].Values(); len(got) != 3 {
		t.Errorf("test.a: got %v, want exactly 3 points", got)
	}
	if len(s[0].Points) < 60 || s[0].Points[1].Time-s[0].Points[0].Time != 1 {
		t.Errorf("test.a: want 1 s resolution over the last minute, got %d points", len(s[0].Points))
	}
	g.WaitFor(t, "test.b", "-1min", hasValues(map[int64]float64{ts: 42}), 20*time.Second)
	g.WaitFor(t, "test.udp", "-1min", hasValues(map[int64]float64{ts: 7}), 20*time.Second)

	s = g.WaitFor(t, "seriesByTag('host=h1')", "-1min", hasValues(map[int64]float64{ts: 3}), 20*time.Second)
	if s[0].Target != "test.tagged;host=h1" || s[0].Tags["host"] != "h1" || s[0].Tags["name"] != "test.tagged" {
		t.Errorf("tagged series: target %q tags %v", s[0].Target, s[0].Tags)
	}

	found, err := g.Find("test.*")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"test.a", "test.b", "test.udp"} {
		if !slices.Contains(found, want) {
			t.Errorf("find test.*: %v lacks %s", found, want)
		}
	}

	// Events, as Grafana annotations post and read them.
	if err := g.PostEvent("deploy v1", []string{"deploy", "nodemetrics"}, "hello"); err != nil {
		t.Fatal(err)
	}
	ev, err := g.Events("-1h", "nodemetrics")
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 1 || ev[0].What != "deploy v1" || ev[0].Data != "hello" ||
		!slices.Equal(ev[0].Tags, []string{"deploy", "nodemetrics"}) || time.Since(time.Unix(ev[0].When, 0)) > time.Minute {
		t.Errorf("events: %+v", ev)
	}

	// /functions (Grafana's Graphite data source loads it) needs the
	// Python 3.11 getargspec fix.
	body, err := g.Get("/functions", nil)
	if err != nil {
		t.Fatal(err)
	}
	// graphite-web writes "default": Infinity for some parameters, which is
	// not JSON; Grafana patches it the same way before parsing.
	body = regexp.MustCompile(`"default": ?-?Infinity`).ReplaceAll(body, []byte(`"default": null`))
	var funcs map[string]any
	if err := json.Unmarshal(body, &funcs); err != nil || funcs["sumSeries"] == nil {
		t.Errorf("/functions: %v, sumSeries=%v", err, funcs["sumSeries"])
	}

	// Restarting carbon keeps the data and takes new points on the same port.
	g.StopCarbon(t)
	if _, err := net.DialTimeout("tcp", g.CarbonAddr, time.Second); err == nil {
		t.Error("carbon still accepts connections after StopCarbon")
	}
	g.WaitFor(t, "test.a", "-1min", hasValues(map[int64]float64{ts: -3}), 5*time.Second)
	g.StartCarbon(t)
	send(t, "tcp", g.CarbonAddr, fmt.Sprintf("test.a 9 %d\n", ts+1))
	g.WaitFor(t, "test.a", "-1min", hasValues(map[int64]float64{ts - 2: 1.5, ts: -3, ts + 1: 9}), 20*time.Second)
}
