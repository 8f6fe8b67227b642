package transport

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestUDPBatchRecv: the raw recvmmsg reader returns each datagram's data,
// source address and port, and destination (IP_PKTINFO), for a batch of
// several, and allocates nothing per batch.
func TestUDPBatchRecv(t *testing.T) {
	c, rc := loopbackUDP(t)
	var err error
	rc.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1) })
	if err != nil {
		t.Fatal(err)
	}
	s, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const sent = 5
	for i := range sent {
		if _, err := fmt.Fprintf(s, "datagram %d", i); err != nil {
			t.Fatal(err)
		}
	}
	from := s.LocalAddr().(*net.UDPAddr).AddrPort()
	b := new(udpBatch)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for got := 0; got < sent; {
		n, err := b.recv(rc)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			data, src, dst, ok := b.packet(i)
			if want := fmt.Sprintf("datagram %d", got); !ok || string(data) != want || src != from || dst != netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("packet %d: %q from %v to %v (ok %v), want %q from %v to 127.0.0.1", got, data, src, dst, ok, want, from)
			}
			got++
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		s.Write([]byte("x"))
		if n, err := b.recv(rc); err != nil || n != 1 {
			t.Fatal(n, err)
		}
		b.packet(0)
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per receive, want 0", allocs)
	}
}

// TestPktinfoDstGarbage: control messages that are cut short or lie about
// their length give no address and never read out of bounds.
func TestPktinfoDstGarbage(t *testing.T) {
	var words [8]uint64
	oob := unix.PktInfo4(&unix.Inet4Pktinfo{Addr: [4]byte{192, 0, 2, 9}})
	buf := unsafeBytes(&words)
	copy(buf, oob)
	if got := pktinfoDst(buf[:len(oob)]); got != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("dst %v", got)
	}
	for cut := range len(oob) {
		if got := pktinfoDst(buf[:cut]); got.IsValid() && cut < unix.CmsgLen(unix.SizeofInet4Pktinfo) {
			t.Fatalf("cut to %d: %v", cut, got)
		}
	}
	h := (*unix.Cmsghdr)(unsafePointer(&words[0]))
	for _, l := range []uint64{0, 1, 15, 1 << 40} {
		h.SetLen(int(l))
		if got := pktinfoDst(buf[:len(oob)]); got.IsValid() {
			t.Fatalf("length %d: %v", l, got)
		}
	}
}

func unsafeBytes(w *[8]uint64) []byte        { return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8) }
func unsafePointer(w *uint64) unsafe.Pointer { return unsafe.Pointer(w) }

// TestUDPWriteBatch: writeBatch sends more buffers than one sendmmsg
// takes, in order, to the destination, without allocating.
func TestUDPWriteBatch(t *testing.T) {
	c, _ := loopbackUDP(t)
	s, rc := loopbackUDP(t)
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	var bufs [][]byte
	for i := range batch + 9 {
		bufs = append(bufs, fmt.Appendf(nil, "m%d", i))
	}
	if err := writeBatch(rc, bufs, dst); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 64)
	for i := range bufs {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatal(err)
		}
		if string(buf[:n]) != string(bufs[i]) || from != s.LocalAddr().(*net.UDPAddr).AddrPort() {
			t.Fatalf("datagram %d: %q from %v, want %q from %v", i, buf[:n], from, bufs[i], s.LocalAddr())
		}
	}
	if err := writeBatch(rc, bufs[:1], netip.MustParseAddrPort("[2001:db8::1]:138")); err == nil {
		t.Error("sent to an IPv6 address from an IPv4 socket")
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := writeBatch(rc, bufs[:4], dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per batch, want 0", allocs)
	}
}

// loopbackUDP opens a UDP socket on 127.0.0.1, closed when the test ends.
func loopbackUDP(t *testing.T) (*net.UDPConn, syscall.RawConn) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return c, rc
}
