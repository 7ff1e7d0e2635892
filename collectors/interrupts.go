// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubInterrupts struct{}

func newInterrupts(Host, *slog.Logger) (Collector, error) { return stubInterrupts{}, nil }

func (stubInterrupts) Collect(context.Context, *Sample) error { return ErrNoData }
