// SPDX-License-Identifier: Apache-2.0

package collectors

import (
	"context"
	"log/slog"
)

// TODO(stub): replaced by the real collector.
type stubEntropy struct{}

func newEntropy(Host, *slog.Logger) (Collector, error) { return stubEntropy{}, nil }

func (stubEntropy) Collect(context.Context, *Sample) error { return ErrNoData }
