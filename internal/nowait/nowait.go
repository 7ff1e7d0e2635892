// SPDX-License-Identifier: Apache-2.0

// Package nowait makes the system calls of the agent's cycle that cannot
// block without the Go scheduler's system-call bookkeeping (RawSyscall).
//
// Why: the runtime's monitor thread (sysmon) sleeps while the process is
// idle, between two cycles. An ordinary system call made then, or in the
// cycle that follows before the monitor has woken on its own, wakes it as
// one "that may need to retake a processor from a system call again
// shortly": it then polls every 20 µs until the process is idle again, a
// thread wake-up each time, and takes the processor away from any call
// that lasts longer than a poll (a loopback write to Carbon does), so that
// the calling thread must find one again when it returns. Measured with
// bench/daemon, host only, on the project's 2-vCPU VM: the monitor cost
// 0.25-0.45 ms of CPU a cycle (4-6 wake-ups), a quarter of the agent's,
// when one stat, statfs, sysfs read or socket call of the cycle went
// through syscall.Syscall; 0.2-0.3 ms when none did but the tick was a
// runtime timer (it woke for that); 0.02-0.08 ms with the cycle's timers
// Timers too.
//
// The price: while such a call lasts, its thread keeps its processor, and
// with GOMAXPROCS=1 (agent.SetProcs) nothing else of the agent runs. So
// only calls that answer from the kernel's memory belong here: pread of
// procfs and cgroupfs files kept open, a zero-timeout poll, stat and
// statfs of a local filesystem, reads and writes of non-blocking
// descriptors. Never a call that can wait on a device or a server: sysfs
// attributes (their driver's show function), a network filesystem's
// statfs (collectors/diskspace runs those on a worker goroutine under a
// timeout, with syscall.Statfs).
//
// The monitor is also what preempts a goroutine that runs on without ever
// blocking (a bug: a parser in a loop). Asleep through the cycles (see
// Timer), it sees one only at its next wake, at most a minute later (the
// runtime's forced-GC period, halved), instead of within 10 ms: with one
// processor the agent stalls that long once, then runs in 10 ms turns
// beside it and reports the collector as missing its deadline. A
// collector blocked in a system call or on a channel is not affected.
package nowait

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// errno turns a raw call's error number into an error, nil for 0 (an
// Errno below 256 converts without allocating).
func errno(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Pread is pread(2).
func Pread(fd int, p []byte, off int64) (int, error) {
	n, _, e := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(base(p)), uintptr(len(p)), uintptr(off), 0, 0)
	return result(n, e)
}

// Read is read(2), for a non-blocking descriptor (EAGAIN when empty).
func Read(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(base(p)), uintptr(len(p)))
	return result(n, e)
}

// Write is write(2), for a non-blocking descriptor (EAGAIN when full).
func Write(fd int, p []byte) (int, error) {
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(base(p)), uintptr(len(p)))
	return result(n, e)
}

// base is the address of p's first byte, nil for an empty p.
func base(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}

// result is a count-returning call's (count, error).
func result(n uintptr, e syscall.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Peek is recv(2) of one byte with MSG_PEEK|MSG_DONTWAIT: 1 when data is
// waiting, 0 at the end of the stream, EAGAIN when nothing is.
func Peek(fd int) (int, error) {
	var one [1]byte
	n, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&one[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return result(n, e)
}

// Recvmmsg is recvmmsg(2) into msgs with MSG_DONTWAIT.
func Recvmmsg(fd int, msgs []unix.Mmsghdr) (int, error) {
	n, _, e := syscall.RawSyscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])),
		uintptr(len(msgs)), unix.MSG_DONTWAIT, 0, 0)
	return result(n, e)
}

// PollPri polls fd for POLLPRI with a zero timeout: true when flagged, or
// when the poll failed (the caller cannot tell, so it must look).
func PollPri(fd int) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
	var zero unix.Timespec
	n, _, e := syscall.RawSyscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), 1,
		uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	return e != 0 || (n > 0 && fds[0].Revents != 0)
}

// Stat is stat(2) of path. Every directory on the path must be local: a
// network filesystem's lookup may wait on its server.
func Stat(path string, st *syscall.Stat_t) error { return Fstatat(unix.AT_FDCWD, path, st) }

// Fstatat is fstatat(2) of path below the directory dirfd (AT_FDCWD: the
// working directory), following a final symlink.
func Fstatat(dirfd int, path string, st *syscall.Stat_t) error {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := syscall.RawSyscall6(syscall.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
		uintptr(unsafe.Pointer(st)), 0, 0, 0)
	return errno(e)
}

// Statfs is statfs(2) of path, a mount point of a local filesystem (see
// Stat).
func Statfs(path string, st *syscall.Statfs_t) error {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	_, _, e := syscall.RawSyscall(syscall.SYS_STATFS, uintptr(unsafe.Pointer(p)), uintptr(unsafe.Pointer(st)), 0)
	return errno(e)
}
