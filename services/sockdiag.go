// SPDX-License-Identifier: Apache-2.0

package services

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// diagSock is a NETLINK_SOCK_DIAG socket of one network namespace.
//
// Reading <procfs>/<pid>/net/tcp makes the kernel walk the namespace's
// whole TCP hash, established connections included, and format every
// socket as text (tens of milliseconds on a busy host, once per namespace
// and discovery pass); /proc/net/unix walks every unix socket the same
// way. A sock_diag dump asking for listening sockets only makes the
// kernel walk only the listening hash and skip the established one, so it
// costs what the few listeners cost.
type diagSock struct{ fd int }

// openDiag opens a sock_diag socket in the network namespace nsPath ("":
// the agent's own). The socket is bound to the namespace it was created
// in, so only its creation needs the namespace's thread.
func openDiag(nsPath string) (*diagSock, error) {
	open := func() (io.Closer, error) {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
		if err != nil {
			return nil, fmt.Errorf("sock_diag socket: %w", err)
		}
		return &diagSock{fd: fd}, nil
	}
	var c io.Closer
	var err error
	if nsPath == "" {
		c, err = open()
	} else {
		c, err = inNetns(nsPath, "sock_diag socket", open)
	}
	if err != nil {
		return nil, err
	}
	return c.(*diagSock), nil
}

func (s *diagSock) Close() error { return unix.Close(s.fd) }

// The kernel's sock_diag structures (linux/inet_diag.h, linux/unix_diag.h),
// which golang.org/x/sys/unix does not define.
const (
	inetDiagReqLen  = 56 // struct inet_diag_req_v2
	inetDiagMsgLen  = 72 // struct inet_diag_msg
	unixDiagReqLen  = 24 // struct unix_diag_req
	unixDiagMsgLen  = 16 // struct unix_diag_msg
	udiagShowName   = 1  // UDIAG_SHOW_NAME
	unixDiagName    = 0  // UNIX_DIAG_NAME attribute
	tcpListenState  = 10 // TCP_LISTEN, also a listening unix socket's state
	maxDiagMessages = 1 << 16
)

// listenTCP dumps the namespace's listening TCP sockets of family
// (AF_INET or AF_INET6) into tab.tcp, keyed by inode.
func (s *diagSock) listenTCP(family uint8, tab *sockTable) error {
	req := make([]byte, inetDiagReqLen)
	req[0] = family
	req[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(req[4:], 1<<tcpListenState)
	return s.dump(req, func(m []byte) {
		if len(m) < inetDiagMsgLen || m[1] != tcpListenState {
			return
		}
		port := int(binary.BigEndian.Uint16(m[4:]))
		ino := uint64(binary.NativeEndian.Uint32(m[68:]))
		ip := net.IP(append([]byte(nil), m[8:24]...))
		if m[0] == unix.AF_INET {
			ip = ip[:4]
		}
		if ino != 0 && port > 0 {
			tab.tcp[ino] = tcpListener{ip: ip, port: port}
		}
	})
}

// listenUnix dumps the namespace's listening unix sockets bound to a
// filesystem path into tab.unix, keyed by inode: an abstract name cannot
// be reached through the container's root (as addUnix).
func (s *diagSock) listenUnix(tab *sockTable) error {
	req := make([]byte, unixDiagReqLen)
	req[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(req[4:], 1<<tcpListenState)
	binary.NativeEndian.PutUint32(req[12:], udiagShowName)
	return s.dump(req, func(m []byte) {
		if len(m) < unixDiagMsgLen || m[2] != tcpListenState {
			return
		}
		ino := uint64(binary.NativeEndian.Uint32(m[4:]))
		attrs := m[unixDiagMsgLen:]
		for len(attrs) >= unix.SizeofRtAttr {
			l := int(binary.NativeEndian.Uint16(attrs))
			typ := binary.NativeEndian.Uint16(attrs[2:])
			if l < unix.SizeofRtAttr || l > len(attrs) {
				return
			}
			if typ == unixDiagName {
				path := strings.TrimRight(string(attrs[unix.SizeofRtAttr:l]), "\x00")
				if ino != 0 && strings.HasPrefix(path, "/") {
					tab.unix[ino] = path
				}
			}
			attrs = attrs[min(len(attrs), (l+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1)):]
		}
	})
}

// dump sends one SOCK_DIAG_BY_FAMILY dump request and calls each with the
// payload of every answer until the kernel says it is done.
func (s *diagSock) dump(req []byte, each func([]byte)) error {
	msg := make([]byte, unix.SizeofNlMsghdr+len(req))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	copy(msg[unix.SizeofNlMsghdr:], req)
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 32<<10)
	seen := 0
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("sock_diag answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag answer: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return fmt.Errorf("sock_diag: %w", unix.Errno(-e))
					}
				}
				return errors.New("sock_diag: error answer")
			}
			if seen++; seen > maxDiagMessages {
				return errors.New("sock_diag: more listening sockets than the cap")
			}
			each(m.Data)
		}
	}
}
