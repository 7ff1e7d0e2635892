// SPDX-License-Identifier: Apache-2.0

package agent

import (
	"io"
	"sync"
)

// WriterOutput writes each cycle's lines to w (--output -). It is for
// one-shot runs and debugging: unlike the Carbon sender it writes
// synchronously.
type WriterOutput struct {
	mu  sync.Mutex
	W   io.Writer
	Err error // the first write error, if any
}

// Enqueue writes b to W.
func (o *WriterOutput) Enqueue(b []byte, _ int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := o.W.Write(b); err != nil && o.Err == nil {
		o.Err = err
	}
}
