// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubDiskspace struct{}

func newDiskspace(Host, *slog.Logger) (Collector, error) { return stubDiskspace{}, nil }

func (stubDiskspace) Collect(context.Context, *Sample) error { return ErrNoData }
