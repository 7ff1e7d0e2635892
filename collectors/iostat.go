// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubIOStat struct{}

func newIOStat(Host, *slog.Logger) (Collector, error) { return stubIOStat{}, nil }

func (stubIOStat) Collect(context.Context, *Sample) error { return ErrNoData }
