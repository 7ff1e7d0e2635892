// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubCPU struct{}

func newCPU(Host, *slog.Logger) (Collector, error) { return stubCPU{}, nil }

func (stubCPU) Collect(context.Context, *Sample) error { return ErrNoData }
