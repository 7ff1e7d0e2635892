// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubVMStat struct{}

func newVMStat(Host, *slog.Logger) (Collector, error) { return stubVMStat{}, nil }

func (stubVMStat) Collect(context.Context, *Sample) error { return ErrNoData }
