package samba

import (
	"hash/maphash"
	"net"
	"net/netip"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/nmbdsock"
)

// How often a subscription is tried: quickly while beside nmbd (a
// restart), more slowly while it is absent.
const (
	retryBeside = 250 * time.Millisecond
	retryOwner  = time.Second
)

// relay subscribes to nmbd and hands its datagrams on, subscribing again
// whenever nmbd goes away (a restart closes every subscription). In Auto, a
// subscription that succeeds is how the agent learns that nmbd started.
func (t *Transport) relay() {
	defer t.wg.Done()
	buf := make([]byte, nmbdsock.BufferSize)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-timer.C:
		}
		c, err := subscribe(t.ctx, t.cfg.Socket)
		if err != nil {
			if t.Mode() == Beside {
				timer.Reset(retryBeside)
			} else {
				timer.Reset(retryOwner)
			}
			continue
		}
		t.mu.Lock()
		if t.ctx.Err() != nil {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conn = c
		t.mu.Unlock()
		t.connected.Store(true)
		t.stats.Connects.Add(1)
		t.setMode(Beside)
		t.log.Info("receiving datagrams through nmbd", "socket", t.cfg.Socket)
		err = t.read(c, buf)
		t.connected.Store(false)
		t.downSince.Store(time.Now().UnixNano())
		c.Close()
		if t.ctx.Err() != nil {
			return
		}
		t.log.Warn("nmbd's socket closed (nmbd stopped or restarted?); subscribing again", "socket", t.cfg.Socket, "err", err)
		timer.Reset(retryBeside)
	}
}

func (t *Transport) read(c net.Conn, buf []byte) error {
	for {
		f, err := nmbdsock.ReadFrame(c, buf)
		if err != nil {
			return err
		}
		t.stats.Frames.Add(1)
		if p := t.packet(&f); p != nil {
			t.put(p)
		}
	}
}

// packet turns a frame into a received packet, or nil when it is dropped:
// not a datagram, cut by nmbd's 576-byte buffer (delivering it short would
// be worse than losing it), or the second copy nmbd makes of a subnet
// broadcast (it reads one from its 0.0.0.0 and one from its broadcast
// socket).
func (t *Transport) packet(f *nmbdsock.Frame) *transport.Packet {
	if f.Type != nmbdsock.Dgram || len(f.Packet) < 1 {
		t.stats.Malformed.Add(1)
		return nil
	}
	if f.Cut() {
		if _, _, err := dgram.Parse(f.Packet); err != nil {
			t.stats.Cut.Add(1)
			t.noteCut(f.Src)
			return nil
		}
	}
	if !t.admit(f.Src.Addr()) {
		return nil
	}
	if t.recent.seen(f, time.Now()) {
		t.stats.Duplicates.Add(1)
		return nil
	}
	var i transport.Interface
	if t.udp != nil {
		i, _ = transport.Route(t.udp.Interfaces(), f.Src.Addr())
	}
	return &transport.Packet{Port: transport.DatagramPort, Ifindex: i.Index, Src: f.Src, Relayed: true,
		Broadcast: nbdgm.Type(f.Packet[0]) != nbdgm.DirectUnique, Data: append([]byte(nil), f.Packet...)}
}

// noteCut logs cut datagrams at most once every 10 s: a flood of long
// datagrams must not flood the log.
func (t *Transport) noteCut(src netip.AddrPort) {
	now := time.Now().UnixNano()
	last := t.lastCut.Load()
	if now-last < int64(10*time.Second) || !t.lastCut.CompareAndSwap(last, now) {
		return
	}
	t.log.Warn("dropping datagrams longer than 576 bytes: nmbd cuts them (see the Beside Samba limits)",
		"from", src.String(), "cut so far", t.stats.Cut.Load())
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
// DGM_ID on) came within dupWindow.
func (r *recentRing) seen(f *nmbdsock.Frame, now time.Time) bool {
	var h maphash.Hash
	h.SetSeed(r.seed)
	ip := f.Src.Addr().As4()
	h.Write(ip[:])
	h.Write(f.Packet)
	k, at := h.Sum64(), now.UnixNano()
	for i, key := range r.keys {
		if key == k && at-r.at[i] < int64(dupWindow) {
			return true
		}
	}
	r.keys[r.next], r.at[r.next] = k, at
	r.next = (r.next + 1) % len(r.keys)
	return false
}
