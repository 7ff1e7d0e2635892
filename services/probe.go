// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// dial connects to the instance: over TCP from inside its network
// namespace, or to its unix socket through its root. The connection
// carries the probe's deadline and is closed when ctx ends.
func (p *probeEnv) dial(ctx context.Context) (net.Conn, error) {
	var c net.Conn
	var err error
	if p.in.Socket != "" {
		c, err = p.root().DialUnix(ctx, p.in.Socket)
	} else {
		c, err = DialNetns(ctx, p.nsPath(), "tcp", p.in.Addr)
	}
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &ctxConn{Conn: c, stop: stop}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// maxReply caps what is read from a service for one status request.
const maxReply = 1 << 20

var errTooLong = errors.New("reply larger than 1 MB")

// readUntil reads from r until the reply ends with end (memcached's
// "END\r\n"), at most maxReply bytes.
func readUntil(r io.Reader, end string) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxReply+1))
	var b []byte
	for {
		line, err := br.ReadSlice('\n')
		b = append(b, line...)
		if len(b) > maxReply {
			return nil, errTooLong
		}
		if strings.HasSuffix(string(line), end) {
			return b, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
}
