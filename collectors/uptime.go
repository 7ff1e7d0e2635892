// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubUptime struct{}

func newUptime(Host, *slog.Logger) (Collector, error) { return stubUptime{}, nil }

func (stubUptime) Collect(context.Context, *Sample) error { return ErrNoData }
