package agent

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
	"golang.org/x/sys/unix"
)

// seqpacketPair returns the agent's end (as a slotConn) and the slot's end
// of a SOCK_SEQPACKET pair with small buffers, so that a slot that does
// not read fills it quickly.
func seqpacketPair(t *testing.T) (*slotConn, *net.UnixConn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
		f := os.NewFile(uintptr(fd), "seqpacket")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	rc, err := conns[0].SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return newSlotConn(rc), conns[1]
}

// TestSlotConnStalledSocket: with a real socket whose slot has stopped
// reading, the receive path's flush writes what fits and returns at once,
// keeping the rest; the queue writer's drain then waits for the slot, and
// the slot gets every staged delivery once, in order.
func TestSlotConnStalledSocket(t *testing.T) {
	sc, slot := seqpacketPair(t)
	data := make([]byte, 400)
	total, written := 0, 0
	for round := 0; ; round++ {
		for range maxStaged {
			copy(data, strconv.Itoa(total))
			if !sc.stage(&Delivery{Data: data}) {
				t.Fatal("stage full before maxStaged")
			}
			total++
		}
		done := make(chan [2]int, 1)
		go func() { w, l := sc.flush(); done <- [2]int{w, l} }()
		var r [2]int
		select {
		case r = <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("flush waited for a slot that does not read")
		}
		written += r[0]
		if r[0]+r[1] != total-written+r[0] {
			t.Fatalf("round %d: written %d + left %d, staged %d", round, r[0], r[1], total-written+r[0])
		}
		if r[1] > 0 {
			break // the socket is full
		}
		if round > 1000 {
			t.Fatal("the socket never filled")
		}
	}
	left := len(sc.frames)
	if left > maxStaged {
		t.Fatalf("%d staged, more than the bound %d", left, maxStaged)
	}
	total = written + left
	drained := make(chan error, 1)
	go func() { drained <- sc.drain() }()
	buf := make([]byte, agentproto.MaxFrame)
	slot.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := range total {
		n, err := slot.Read(buf)
		if err != nil {
			t.Fatalf("read %d of %d: %v", i, total, err)
		}
		f, err := agentproto.Decode(buf[:n])
		if err != nil || f.Op != agentproto.OpDeliver {
			t.Fatalf("read %d: %v %v", i, f.Op, err)
		}
		want := strconv.Itoa(i)
		if got := string(f.Data[:len(want)]); got != want {
			t.Fatalf("delivery %d carries %q", i, got)
		}
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	if len(sc.frames) != 0 {
		t.Fatalf("%d frames still staged after the drain", len(sc.frames))
	}
}
