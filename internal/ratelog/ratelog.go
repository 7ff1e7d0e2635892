// SPDX-License-Identifier: Apache-2.0

// Package ratelog is the project's one rate-limited logger: a failing
// source is logged the way an operator wants at 3 a.m. The first failure
// is logged at once, then at most one line per period with the number of
// failures in between, and one line when the source recovers. Throttling
// is per key (a collector, a file, a connection), so two sources failing
// in turn are each throttled instead of defeating a "same as last time"
// filter.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// Logger throttles per key. The zero value is not usable: call New. Safe
// for concurrent use.
type Logger struct {
	log     *slog.Logger
	period  time.Duration
	keyAttr string // when set, every line carries the key under this name
	now     func() time.Time

	mu   sync.Mutex
	keys map[string]*state
	once map[string]bool // key, what pairs logged by Once
}

type state struct {
	failing  bool
	last     time.Time // when the last line was written
	repeated int       // failures not logged since the last line
	total    int       // failures since the last recovery
}

// New returns a logger writing to log at most one line per key per period
// while the key keeps failing. With keyAttr set, each line names its key
// under that attribute (collector=cpu), so the callers on a hot path pass
// no attributes (a variadic call allocates).
func New(log *slog.Logger, period time.Duration, keyAttr string) *Logger {
	return &Logger{log: log, period: period, keyAttr: keyAttr, now: time.Now, keys: map[string]*state{}}
}

func (l *Logger) attrs(key string, attrs []any) []any {
	if l.keyAttr != "" {
		return append([]any{l.keyAttr, key}, attrs...)
	}
	return attrs
}

// Fail records a failure of key: a WARN line with msg, err and attrs the
// first time and then once per period, with "repeated" (the failures not
// logged since the previous line).
func (l *Logger) Fail(key, msg string, err error, attrs ...any) {
	l.mu.Lock()
	st := l.keys[key]
	if st == nil {
		st = &state{}
		l.keys[key] = st
	}
	st.total++
	now := l.now()
	if st.failing && now.Sub(st.last) < l.period {
		st.repeated++
		l.mu.Unlock()
		return
	}
	repeated := st.repeated
	st.failing, st.last, st.repeated = true, now, 0
	l.mu.Unlock()
	l.log.Warn(msg, append(l.attrs(key, attrs), "err", err, "repeated", repeated)...)
}

// Once logs msg at WARN the first time key reports what, and never again:
// a limit reached (a file over its size cap) is news once.
func (l *Logger) Once(key, what, msg string, attrs ...any) {
	l.mu.Lock()
	if l.once == nil {
		l.once = map[string]bool{}
	}
	seen := l.once[key+"\x00"+what]
	l.once[key+"\x00"+what] = true
	l.mu.Unlock()
	if !seen {
		l.log.Warn(msg, l.attrs(key, attrs)...)
	}
}

// OK records that key works: after failures, an INFO line with msg, attrs
// and the number of failures, and true; otherwise nothing and false.
func (l *Logger) OK(key, msg string, attrs ...any) bool {
	l.mu.Lock()
	st := l.keys[key]
	if st == nil || !st.failing {
		l.mu.Unlock()
		return false
	}
	total := st.total
	delete(l.keys, key)
	l.mu.Unlock()
	l.log.Info(msg, append(l.attrs(key, attrs), "failures", total)...)
	return true
}
