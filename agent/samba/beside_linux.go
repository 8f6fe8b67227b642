package samba

import (
	"context"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/nmbdsock"
)

// retryEvery is how often a lost subscription is retried.
const retryEvery = 250 * time.Millisecond

// beside is the transport beside nmbd: shared, send-only sockets on
// 0.0.0.0:137/138 per interface (package transport), an ephemeral socket
// for name service requests, and nmbd's socket for received datagrams.
type beside struct {
	udp    *transport.UDP
	eph    *ipv4.PacketConn
	ephC   net.PacketConn
	path   string
	log    *slog.Logger
	st     *Stats
	ch     chan *transport.Packet
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conn   net.Conn
	closed bool

	connected atomic.Bool
	downSince atomic.Int64 // UnixNano when the subscription was lost (or never made)
	recent    recentRing
	lastCut   atomic.Int64
}

func newBeside(path string, ucfg transport.UDPConfig, st *Stats, log *slog.Logger) (*beside, error) {
	ucfg.Shared, ucfg.SendOnlyDatagram = true, true
	u, err := transport.NewUDP(ucfg)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		u.Close()
		return nil, err
	}
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		c.Close()
		u.Close()
		return nil, err
	}
	b := &beside{udp: u, eph: pc, ephC: c, path: path, log: log, st: st, ch: make(chan *transport.Packet, 4096)}
	b.recent.seed = maphash.MakeSeed()
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.downSince.Store(time.Now().UnixNano())
	b.wg.Add(3)
	go b.forward()
	go b.readEphemeral()
	go b.relay()
	return b, nil
}

// Interfaces implements transport.Transport.
func (b *beside) Interfaces() []transport.Interface { return b.udp.Interfaces() }

// WriteTo implements transport.Transport. Name service requests leave from
// the ephemeral port, so that their answers come to us and not to nmbd's
// socket on the interface address; answers and datagrams leave from 137 and
// 138 as the protocol wants.
func (b *beside) WriteTo(p []byte, port uint16, ifindex int, dst netip.AddrPort) error {
	if port == transport.NamePort && len(p) > 2 && p[2]&0x80 == 0 {
		_, err := b.eph.WriteTo(p, &ipv4.ControlMessage{IfIndex: ifindex}, net.UDPAddrFromAddrPort(dst))
		return err
	}
	return b.udp.WriteTo(p, port, ifindex, dst)
}

// WriteBatch implements transport.BatchWriter.
func (b *beside) WriteBatch(bufs [][]byte, port uint16, ifindex int, dst netip.AddrPort) error {
	return b.udp.WriteBatch(bufs, port, ifindex, dst)
}

// Packets implements transport.Transport.
func (b *beside) Packets() <-chan *transport.Packet { return b.ch }

// Close implements transport.Transport.
func (b *beside) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.conn != nil {
		b.conn.Close()
	}
	b.mu.Unlock()
	b.cancel()
	b.ephC.Close()
	err := b.udp.Close()
	b.wg.Wait()
	close(b.ch)
	return err
}

func (b *beside) put(p *transport.Packet) {
	select {
	case b.ch <- p:
	default:
		b.st.Overflow.Add(1)
	}
}

// forward passes on the name service packets of the shared sockets (the
// datagram sockets queue nothing).
func (b *beside) forward() {
	defer b.wg.Done()
	for p := range b.udp.Packets() {
		b.put(p)
	}
}

func (b *beside) readEphemeral() {
	defer b.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, cm, src, err := b.eph.ReadFrom(buf)
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		p := &transport.Packet{Port: transport.NamePort, Src: ua.AddrPort(), Data: append([]byte(nil), buf[:n]...)}
		p.Src = netip.AddrPortFrom(p.Src.Addr().Unmap(), p.Src.Port())
		if cm != nil {
			p.Ifindex = cm.IfIndex
			p.Dst, _ = netip.AddrFromSlice(cm.Dst.To4())
		}
		b.put(p)
	}
}

// relay subscribes to nmbd and hands its datagrams on, subscribing again
// whenever nmbd goes away (a restart closes every subscription).
func (b *beside) relay() {
	defer b.wg.Done()
	buf := make([]byte, nmbdsock.BufferSize)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		c, err := subscribe(b.ctx, b.path)
		if err != nil {
			t.Reset(retryEvery)
			continue
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return
		}
		b.conn = c
		b.mu.Unlock()
		b.connected.Store(true)
		b.st.Connects.Add(1)
		b.log.Info("receiving datagrams through nmbd", "socket", b.path)
		err = b.read(c, buf)
		b.connected.Store(false)
		b.downSince.Store(time.Now().UnixNano())
		c.Close()
		if b.ctx.Err() != nil {
			return
		}
		b.log.Warn("nmbd's socket closed (nmbd stopped or restarted?); subscribing again", "socket", b.path, "err", err)
		t.Reset(retryEvery)
	}
}

func (b *beside) read(c net.Conn, buf []byte) error {
	for {
		f, err := nmbdsock.ReadFrame(c, buf)
		if err != nil {
			return err
		}
		b.st.Frames.Add(1)
		if p := b.packet(&f); p != nil {
			b.put(p)
		}
	}
}

// packet turns a frame into a received packet, or nil when it is dropped:
// not a datagram, cut by nmbd's 576-byte buffer (delivering it short would
// be worse than losing it), or the second copy nmbd makes of a subnet
// broadcast (it reads one from its 0.0.0.0 and one from its broadcast
// socket).
func (b *beside) packet(f *nmbdsock.Frame) *transport.Packet {
	if f.Type != nmbdsock.Dgram || len(f.Packet) < 1 {
		b.st.Malformed.Add(1)
		return nil
	}
	if f.Cut() {
		if _, _, err := dgram.Parse(f.Packet); err != nil {
			b.st.Cut.Add(1)
			b.noteCut(f.Src)
			return nil
		}
	}
	if b.recent.seen(f, time.Now()) {
		b.st.Duplicates.Add(1)
		return nil
	}
	i, _ := transport.Route(b.udp.Interfaces(), f.Src.Addr())
	return &transport.Packet{Port: transport.DatagramPort, Ifindex: i.Index, Src: f.Src, Relayed: true,
		Broadcast: nbdgm.Type(f.Packet[0]) != nbdgm.DirectUnique, Data: append([]byte(nil), f.Packet...)}
}

// noteCut logs cut datagrams at most once every 10 s: a flood of long
// datagrams must not flood the log.
func (b *beside) noteCut(src netip.AddrPort) {
	now := time.Now().UnixNano()
	last := b.lastCut.Load()
	if now-last < int64(10*time.Second) || !b.lastCut.CompareAndSwap(last, now) {
		return
	}
	b.log.Warn("dropping datagrams longer than 576 bytes: nmbd cuts them (see the Beside Samba limits)",
		"from", src.String(), "cut so far", b.st.Cut.Load())
}

// recentRing remembers the last few frames. nmbd's two copies of a subnet
// broadcast come from one pass of its poll loop, so they are neighbours in
// the stream: a short ring and a short window find them, and a sender that
// repeats a datagram later is not mistaken for one.
type recentRing struct {
	seed maphash.Seed
	keys [64]uint64
	at   [64]int64
	next int
}

const dupWindow = time.Second

// seen reports whether f (UDP source address, and the datagram from its
// DGM_ID on) came within dupWindow; only the relay goroutine calls it.
func (r *recentRing) seen(f *nmbdsock.Frame, now time.Time) bool {
	var h maphash.Hash
	h.SetSeed(r.seed)
	ip := f.Src.Addr().As4()
	h.Write(ip[:])
	h.Write(f.Packet)
	k, t := h.Sum64(), now.UnixNano()
	for i, key := range r.keys {
		if key == k && t-r.at[i] < int64(dupWindow) {
			return true
		}
	}
	r.keys[r.next], r.at[r.next] = k, t
	r.next = (r.next + 1) % len(r.keys)
	return false
}
