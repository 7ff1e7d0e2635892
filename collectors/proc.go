// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubProc struct{}

func newProc(Host, *slog.Logger) (Collector, error) { return stubProc{}, nil }

func (stubProc) Collect(context.Context, *Sample) error { return ErrNoData }
