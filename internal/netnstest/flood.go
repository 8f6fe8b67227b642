//go:build linux

package netnstest

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// Flood sends count garbage datagrams from c to UDP 137 and 138 of target,
// alternating: random bytes of random length, and every fourth one with a
// plausible header (a DIRECT_UNIQUE datagram, a name query) so that it gets
// further into the decoders. rate paces it (datagrams per second, 0 = as
// fast as possible). It returns how many were sent.
func Flood(c net.PacketConn, target netip.Addr, count int, rate float64, seed uint64) (sent int, err error) {
	dsts := []*net.UDPAddr{{IP: target.AsSlice(), Port: 137}, {IP: target.AsSlice(), Port: 138}}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	buf := make([]byte, 1500)
	start := time.Now()
	for i := 0; i < count; i++ {
		if rate > 0 && i%64 == 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
		n := 1 + rng.IntN(600)
		for j := range buf[:n] {
			buf[j] = byte(rng.Uint32())
		}
		if i%4 == 0 && n > 14 {
			if i%8 == 0 {
				copy(buf, []byte{0x10, 0x02})
			} else {
				copy(buf[2:], []byte{0x01, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
			}
		}
		if _, err = c.WriteTo(buf[:n], dsts[i%2]); err != nil {
			if ne, ok := err.(net.Error); ok && !ne.Timeout() {
				// ENOBUFS and the like under load: keep going.
				continue
			}
			return sent, err
		}
		sent++
	}
	return sent, nil
}
