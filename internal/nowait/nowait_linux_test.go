package nowait

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSyscall6AndEpollPoll(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fds[1], &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fds[1])}); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	if n, err := EpollPoll(ep, events); n != 0 || err != nil {
		t.Fatalf("EpollPoll on an empty socket = %d, %v; want 0, nil", n, err)
	}
	if n, err := EpollPoll(ep, nil); n != 0 || err != nil {
		t.Fatalf("EpollPoll with no room = %d, %v", n, err)
	}
	buf := make([]byte, 16)
	recv := func() (uintptr, unix.Errno) {
		r, _, e := Syscall6(unix.SYS_RECVFROM, uintptr(fds[1]), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
		return r, e
	}
	if _, e := recv(); e != unix.EAGAIN {
		t.Fatalf("recv on an empty socket: errno %v, want EAGAIN", e)
	}
	msg := []byte("ping")
	if r, _, e := Syscall6(unix.SYS_SENDTO, uintptr(fds[0]), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), unix.MSG_DONTWAIT, 0, 0); e != 0 || r != uintptr(len(msg)) {
		t.Fatalf("send = %d, errno %v", r, e)
	}
	n, err := EpollPoll(ep, events)
	if n != 1 || err != nil || events[0].Fd != int32(fds[1]) || events[0].Events&unix.EPOLLIN == 0 {
		t.Fatalf("EpollPoll after a send = %d, %v, %+v; want the receiving socket readable", n, err, events[0])
	}
	if r, e := recv(); e != 0 || string(buf[:r]) != "ping" {
		t.Fatalf("recv = %q, errno %v", buf[:r], e)
	}
	if _, err := EpollPoll(-1, events); err != unix.EBADF {
		t.Fatalf("EpollPoll on a bad descriptor: %v, want EBADF", err)
	}
}
