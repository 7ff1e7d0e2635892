// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"log/slog"
	"time"
)

// errorLog logs a failing source the way an operator wants at 3 a.m.: the
// first error at once, then at most one line per period with the number of
// failures in between, and one line when it recovers. A broken file read
// every second must not flood the journal.
type errorLog struct {
	log      *slog.Logger
	period   time.Duration
	failing  bool
	last     time.Time
	repeated int
}

func (e *errorLog) fail(now time.Time, msg string, err error) {
	if e.failing && now.Sub(e.last) < e.period {
		e.repeated++
		return
	}
	e.log.Warn(msg, "err", err, "repeated", e.repeated)
	e.failing, e.last, e.repeated = true, now, 0
}

func (e *errorLog) ok(msg string) {
	if e.failing {
		e.log.Info(msg, "repeated", e.repeated)
	}
	e.failing, e.repeated = false, 0
}
