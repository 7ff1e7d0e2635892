// SPDX-License-Identifier: Apache-2.0

package services

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nodemetrics/nodemetrics/internal/nowait"
)

// procEvents is the kernel's process events connector (cn_proc) asked for
// exec and comm-change events only (the event filter of Linux 6.6 and
// later): a process that becomes a service tells so the moment it exec's,
// and a cycle reads only what was queued (nothing on a quiet host) instead
// of listing <procfs>. It needs
// CAP_NET_ADMIN and the initial user, pid and network namespaces; when
// the subscription does not work the watcher lists <procfs> instead.
type procEvents struct {
	fd   int
	buf  []byte         // 64 KB: eventBatch slots of eventSlot bytes
	msgs []unix.Mmsghdr // one per slot (read)
	iovs []unix.Iovec
}

// read takes the queued events eventBatch at a time with one recvmmsg
// each: one recvfrom per event was one system call per exec on the host
// (a busy host execs hundreds of processes between two cycles). An
// event is under 100 bytes; a longer message is cut to its slot, which
// keeps what read looks at.
const (
	eventBatch = 128
	eventSlot  = 512
)

// cn_proc's structures (linux/connector.h, linux/cn_proc.h).
const (
	cnIdxProc        = 1 // CN_IDX_PROC, also the multicast group
	cnValProc        = 1 // CN_VAL_PROC
	cnMsgLen         = 20
	procCnListen     = 1     // PROC_CN_MCAST_LISTEN
	procEventExec    = 0x2   // PROC_EVENT_EXEC
	procEventComm    = 0x200 // PROC_EVENT_COMM
	procEventHdr     = unix.SizeofNlMsghdr + cnMsgLen
	procEventDataOff = procEventHdr + 16 // what, cpu, timestamp
)

func openProcEvents() (*procEvents, error) {
	if !kernelAtLeast(6, 6) {
		// Without the event filter every fork and exit of the host is
		// queued: on a busy host more than the socket holds between two
		// cycles, and an overflow means a full pass.
		return nil, errors.New("process events: no event filter before Linux 6.6")
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("process events: %w", err)
	}
	p := &procEvents{fd: fd, buf: make([]byte, eventBatch*eventSlot),
		msgs: make([]unix.Mmsghdr, eventBatch), iovs: make([]unix.Iovec, eventBatch)}
	for i := range p.msgs {
		p.iovs[i].Base = &p.buf[i*eventSlot]
		p.iovs[i].SetLen(eventSlot)
		p.msgs[i].Hdr.Iov = &p.iovs[i]
		p.msgs[i].Hdr.SetIovlen(1)
	}
	if err := p.listen(); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("process events: %w", err)
	}
	return p, nil
}

// listen subscribes to exec and comm events (struct proc_input, the event
// filter of Linux 6.6 and later).
func (p *procEvents) listen() error {
	if err := unix.Bind(p.fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return err
	}
	msg := make([]byte, procEventHdr+8)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NLMSG_DONE)
	binary.NativeEndian.PutUint32(msg[16:], cnIdxProc)
	binary.NativeEndian.PutUint32(msg[20:], cnValProc)
	binary.NativeEndian.PutUint16(msg[32:], 8)
	binary.NativeEndian.PutUint32(msg[procEventHdr:], procCnListen)
	binary.NativeEndian.PutUint32(msg[procEventHdr+4:], procEventExec|procEventComm)
	if err := unix.Sendto(p.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	// The kernel ignores a subscription from other namespaces without a
	// word, and an event filter drops its acknowledgement: a thread of
	// ours renames itself to its own name, and the subscription works if
	// that comm event arrives.
	tid, err := renameSelf()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(time.Until(deadline).Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		n, _, err := unix.Recvfrom(p.fd, p.buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n >= procEventDataOff+8 && binary.NativeEndian.Uint32(p.buf[procEventHdr:]) == procEventComm &&
			int(binary.NativeEndian.Uint32(p.buf[procEventDataOff:])) == tid {
			return nil
		}
	}
	return errors.New("no event arrived (not the initial namespaces?)")
}

// renameSelf gives a thread of the agent its own name again, which the
// kernel reports as a comm event, and returns the thread's id.
func renameSelf() (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	name, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		return 0, err
	}
	b := append(bytes.TrimSpace(name), 0)
	if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
		return 0, fmt.Errorf("prctl: %w", err)
	}
	return unix.Gettid(), nil
}

// read drains the queued events and calls each with the pid of every
// process (thread group leader) that exec'd or was renamed. lost reports
// events dropped because the queue overflowed.
func (p *procEvents) read(each func(pid int)) (lost bool, err error) {
	for {
		// Every cycle, and it never waits: made without the scheduler's
		// bookkeeping (internal/nowait).
		r, e := nowait.Recvmmsg(p.fd, p.msgs)
		switch e {
		case nil:
		case unix.EAGAIN:
			return lost, nil
		case unix.ENOBUFS:
			lost = true
			continue
		case unix.EINTR:
			continue
		default:
			return lost, fmt.Errorf("process events: %w", e)
		}
		for i := range int(r) {
			m := p.buf[i*eventSlot : i*eventSlot+min(int(p.msgs[i].Len), eventSlot)]
			if len(m) < procEventDataOff+8 {
				continue
			}
			what := binary.NativeEndian.Uint32(m[procEventHdr:])
			pid := binary.NativeEndian.Uint32(m[procEventDataOff:])
			tgid := binary.NativeEndian.Uint32(m[procEventDataOff+4:])
			if (what == procEventExec || what == procEventComm) && pid == tgid && pid > 0 {
				each(int(pid))
			}
		}
		// Until EAGAIN: an overflow (ENOBUFS) is reported after the
		// messages queued before it, by the next call.
	}
}

func (p *procEvents) Close() error { return unix.Close(p.fd) }

// kernelAtLeast compares the running kernel's release with major.minor.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	rel := unix.ByteSliceToString(u.Release[:])
	f := strings.FieldsFunc(rel, func(r rune) bool { return r < '0' || r > '9' })
	if len(f) < 2 {
		return false
	}
	ma, _ := strconv.Atoi(f[0])
	mi, _ := strconv.Atoi(f[1])
	return ma > major || (ma == major && mi >= minor)
}
