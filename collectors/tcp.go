// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubTCP struct{}

func newTCP(Host, *slog.Logger) (Collector, error) { return stubTCP{}, nil }

func (stubTCP) Collect(context.Context, *Sample) error { return ErrNoData }
