// Package nowait makes the hot paths' system calls that cannot sleep
// (socket calls with MSG_DONTWAIT, epoll_wait with a zero timeout) without
// telling the Go scheduler that the goroutine enters a system call.
//
// Why: a process on a latency path (an agent, a slot, a writer) is idle
// between messages, and Go's sysmon thread then sleeps. The first system
// call made through syscall.Syscall after that (entersyscall) wakes sysmon,
// which then polls every 20 µs until the process is idle again: one more
// thread wake-up and several timer wake-ups per message per process,
// measured with perf sched as 1.5-1.8 sysmon switches and 11-24 µs of CPU
// per round trip in each of the four processes of a remote round trip
// (docs/performance.md, "Round trip, where the time goes"). RawSyscall
// keeps the P for the call's duration, which is what a call that never
// blocks needs; a call that can block must not use this package, so that
// the scheduler can hand its P to another goroutine.
package nowait

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Syscall6 makes a system call that never sleeps (the caller passes
// MSG_DONTWAIT or an equivalent).
func Syscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno) {
	return unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
}

// EpollPoll is epoll_wait with a zero timeout: it reports the ready events
// without waiting.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
