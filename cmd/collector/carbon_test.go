// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodemetrics/nodemetrics/internal/graphitetest"
	"github.com/nodemetrics/nodemetrics/internal/syncbuf"
)

func lastValue(series []graphitetest.Series) (float64, int64, bool) {
	for _, s := range series {
		for i := len(s.Points) - 1; i >= 0; i-- {
			if p := s.Points[i]; p.Value != nil {
				return *p.Value, p.Time, true
			}
		}
	}
	return 0, 0, false
}

func meminfoBytes(t *testing.T, key string) float64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key+":" {
			v, _ := strconv.ParseFloat(fields[1], 64)
			return v * 1024
		}
	}
	t.Fatalf("no %s in /proc/meminfo", key)
	return 0
}

// The daemon at a 1 s interval against a REAL carbon-cache: the series read
// back from graphite-web match /proc, and killing and restarting Carbon
// mid-run does not stop collection.
func TestDaemonAgainstRealCarbon(t *testing.T) {
	g := graphitetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncbuf.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--graphite", g.CarbonAddr, "--interval", "1s", "--hostname", "itest"}, logs, logs)
	}()

	memTotal := meminfoBytes(t, "MemTotal")
	g.WaitFor(t, "servers.itest.memory.MemTotal", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v == memTotal
	}, 30*time.Second)

	load := g.WaitFor(t, "servers.itest.loadavg.01", "-10min", func(s []graphitetest.Series) bool {
		_, _, ok := lastValue(s)
		return ok
	}, 30*time.Second)
	b, _ := os.ReadFile("/proc/loadavg")
	want, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if got, _, _ := lastValue(load); math.Abs(got-want) > 2 {
		t.Errorf("loadavg.01 in Carbon = %v, /proc/loadavg says %v", got, want)
	}
	// A rate needs two samples: cpu.total.idle appears from the second cycle.
	g.WaitFor(t, "servers.itest.cpu.total.idle", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v >= 0
	}, 30*time.Second)

	// Carbon dies and comes back: collection goes on and points newer than
	// the restart arrive, and the sender counted its reconnect.
	g.StopCarbon(t)
	outage := time.Now()
	time.Sleep(2500 * time.Millisecond) // the outage itself: a few cycles without Carbon
	g.StartCarbon(t)
	g.WaitFor(t, "servers.itest.loadavg.01", "-10min", func(s []graphitetest.Series) bool {
		_, ts, ok := lastValue(s)
		return ok && ts > outage.Unix()+3
	}, 60*time.Second)
	g.WaitFor(t, "servers.itest.agent.carbon.reconnects", "-10min", func(s []graphitetest.Series) bool {
		v, _, ok := lastValue(s)
		return ok && v >= 1
	}, 30*time.Second)

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("agent exit %d; log:\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop after SIGTERM-equivalent cancel")
	}
}
