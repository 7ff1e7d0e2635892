// SPDX-License-Identifier: Apache-2.0

package ratelog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func newTest(period time.Duration) (*Logger, *bytes.Buffer, *time.Time) {
	var out bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&out, nil)), period, "")
	now := time.Unix(1700000000, 0)
	l.now = func() time.Time { return now }
	return l, &out, &now
}

// Two sources failing in turn (the Docker API and its events stream, every
// few seconds for a day): each is logged once per period, not at every
// alternation.
func TestAlternatingErrorsAreEachThrottled(t *testing.T) {
	l, out, now := newTest(time.Minute)
	refused := errors.New("connect: connection refused")
	missing := errors.New("connect: no such file or directory")
	for i := 0; i < 24*3600/5; i++ { // a day, every 5 s
		*now = now.Add(5 * time.Second)
		if i%2 == 0 {
			l.Fail("refresh", "docker refresh failed", refused)
		} else {
			l.Fail("events", "docker events stream unavailable", missing)
		}
	}
	lines := strings.Count(out.String(), "\n")
	// One line per source per minute at most: 2 * 1440.
	if lines > 2*24*60+2 {
		t.Fatalf("%d lines in a day for two alternating errors", lines)
	}
	if lines < 2*24*60-2 {
		t.Fatalf("%d lines in a day: a failing source must still be logged once a minute", lines)
	}
	if !strings.Contains(out.String(), `msg="docker events stream unavailable"`) ||
		!strings.Contains(out.String(), "repeated=5") {
		t.Errorf("want both sources with their repeat counts:\n%s", out.String()[:400])
	}
}

func TestRecoveryAndOnce(t *testing.T) {
	l, out, now := newTest(time.Minute)
	l.OK("a", "recovered") // never failed: silent
	l.Fail("a", "failed", errors.New("x"))
	l.Fail("a", "failed", errors.New("x"))
	*now = now.Add(time.Second)
	l.OK("a", "recovered")
	l.OK("a", "recovered")
	l.Fail("a", "failed", errors.New("y")) // failing again: logged at once
	for i := 0; i < 3; i++ {
		l.Once("cap", "bytes", "over the cap")
	}
	got := out.String()
	for sub, n := range map[string]int{"msg=failed": 2, "msg=recovered": 1, "failures=2": 1, `msg="over the cap"`: 1} {
		if c := strings.Count(got, sub); c != n {
			t.Errorf("%q %d times, want %d:\n%s", sub, c, n, got)
		}
	}
}
