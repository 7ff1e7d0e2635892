// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubNetwork struct{}

func newNetwork(Host, *slog.Logger) (Collector, error) { return stubNetwork{}, nil }

func (stubNetwork) Collect(context.Context, *Sample) error { return ErrNoData }
