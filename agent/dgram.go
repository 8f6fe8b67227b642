package agent

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/internal/recent"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Inbound is one mailslot write received from the network (or from a
// local writer to a name of this host), as the Router hands it out.
type Inbound struct {
	Source   netbios.Name   // the sender's NetBIOS name (SOURCE_NAME)
	Src      netip.AddrPort // the UDP source
	Dest     netbios.Name   // one of our names
	Group    bool           // sent to a group name (DIRECT_GROUP / BROADCAST)
	Mailslot string         // as on the wire: `\MAILSLOT\...`
	Path     string         // the part after `\MAILSLOT\`
	Data     []byte
	Ifindex  int // arrival interface; 0 for a local write
}

const (
	dedupSize   = 4096
	dedupWindow = 2 * time.Second // Netlogon's MailslotDuplicateTimeout default
	// maxDatagram bounds what is decoded: nothing legitimate on 138 is
	// larger than a 576-byte datagram plus headers.
	maxDatagram = 1024
)

type dgramService struct {
	a    *Agent
	seen *dedup
	id   atomic.Uint32
}

// handle processes one packet from UDP 138.
func (d *dgramService) handle(p *transport.Packet) {
	a := d.a
	if p.Src.Port() == transport.DatagramPort && a.isOurAddr(p.Src.Addr()) {
		a.M.OwnDropped.Add(1) // our own broadcast, looped back
		return
	}
	if len(a.cfg.AllowNetworks) > 0 && !inNetworks(a.cfg.AllowNetworks, p.Src.Addr()) {
		a.M.Refused.Add(1)
		a.drops.note("source network not allowed", p.Src.Addr())
		return
	}
	if len(p.Data) > maxDatagram {
		a.M.Malformed.Add(1)
		a.drops.note("oversized datagram", p.Src.Addr())
		return
	}
	pk, w, err := dgram.Parse(p.Data)
	switch {
	case errors.Is(err, dgram.ErrFragment):
		a.M.Fragments.Add(1)
		a.drops.note("fragment", p.Src.Addr())
		return
	case err != nil && pk.Type == nbdgm.Error:
		a.M.DatagramErrors.Add(1)
		return
	case err != nil:
		a.M.Malformed.Add(1)
		a.drops.note("malformed datagram", p.Src.Addr())
		return
	}
	if !a.linkLAN(p, &pk, &w) {
		a.M.Duplicates.Add(1) // already delivered through the link
		return
	}
	group, ours := a.ns.Owns(pk.DestName)
	if !ours && a.overhears(pk.DestName) {
		group, ours = true, true
	}
	if !ours {
		unicast := pk.Type == nbdgm.DirectUnique && !p.Broadcast
		if unicast && a.linkForward(p, &pk, &w) {
			return // a reply for an agent host of another subnet, sent on through the link
		}
		a.M.NotOurs.Add(1)
		// RFC 1002 §4.4.3 / §5.3: a DIRECT_UNIQUE datagram for a name this
		// node does not have gets DESTINATION NAME NOT PRESENT. Only for
		// unicast, so a broadcast never triggers a storm of errors.
		if unicast && !p.Relayed {
			d.sendError(p, pk, nbdgm.ErrDestinationNotPresent)
		}
		return
	}
	if d.seen.duplicate(p, pk.ID) {
		a.M.Duplicates.Add(1)
		return
	}
	in := Inbound{Source: pk.SourceName, Src: p.Src, Dest: pk.DestName, Group: group || pk.Type != nbdgm.DirectUnique,
		Mailslot: w.Name, Path: w.Name[len(smbmail.Prefix):], Data: w.Data, Ifindex: p.Ifindex}
	a.M.Received.Add(1)
	a.router.dispatch(&in, p.Batched)
}

func (d *dgramService) sendError(p *transport.Packet, pk nbdgm.Packet, code uint8) {
	i, ok := d.a.iface(p.Ifindex)
	if !ok {
		return
	}
	e := nbdgm.Packet{Type: nbdgm.Error, Flags: nbdgm.NodeB, ID: pk.ID, SourceIP: i.IP(), SourcePort: transport.DatagramPort, ErrorCode: code}
	b, err := e.Append(nil)
	if err == nil {
		d.a.tr.WriteTo(b, transport.DatagramPort, p.Ifindex, p.Src)
		d.a.M.ErrorsSent.Add(1)
	}
}

// target is where a remote writer's messages go.
type target struct {
	dest    netbios.Name
	group   bool
	addr    netip.Addr // unique: the owner; invalid for group
	self    bool       // the destination is this host
	link    bool       // the destination is reached through the Link
	max     int        // largest payload
	display string     // \\HOST as the user wrote it
}

// maxPayload is the largest payload for mailslot path to a unique or
// group destination: one datagram (name + data <= 443, SMB <= 512) for
// unique names, and Windows' 424 for broadcasts.
func maxPayload(path string, group bool, style smbmail.Style) int {
	name := smbmail.Prefix + path
	n := smbmail.MaxNameAndData - len(name) - 1
	off := 69 + len(name) + 1
	if style == smbmail.Windows {
		off = (off + 3) &^ 3
	}
	if m := smbmail.MaxSMB - off; m < n {
		n = m
	}
	if group && n > BroadcastLimit {
		n = BroadcastLimit
	}
	if n < 0 {
		n = 0
	}
	return n
}

// send puts one write on the wire (see sendBatch).
func (d *dgramService) send(t *target, path string, data []byte) error {
	return d.sendBatch(t, path, [][]byte{data})
}

// message is one write of data to t's mailslot (`\MAILSLOT\...`, built
// once per batch).
func (d *dgramService) message(t *target, mailslot string, data []byte) dgram.Message {
	return dgram.Message{Group: t.group, SourcePort: transport.DatagramPort, Source: d.a.host, Dest: t.dest,
		Mailslot: mailslot, Data: data}
}

// sendBatch sends several messages to one target with one sendmmsg per
// interface when the transport can: to the owner of a unique name, or to
// each interface's directed broadcast for a group name. Writes to this host
// (and this host's share of a write to its own workgroup) are delivered
// here without the network.
func (d *dgramService) sendBatch(t *target, path string, msgs [][]byte) error {
	a := d.a
	for _, p := range msgs {
		if len(p) > t.max {
			return fmt.Errorf("%d bytes exceed the %d-byte limit for %s", len(p), t.max, t.display)
		}
	}
	if t.link {
		return d.sendLink(t, path, msgs)
	}
	if t.self || (t.group && t.dest == a.wg) {
		for _, p := range msgs {
			d.deliverLocally(t, path, p)
		}
		if t.self {
			a.M.Sent.Add(uint64(len(msgs)))
			return nil
		}
	}
	ifs := a.tr.Interfaces()
	if !t.group {
		i, ok := transport.Route(ifs, t.addr)
		if !ok {
			return errors.New("no network interface is up")
		}
		ifs = []transport.Interface{i}
	}
	if len(ifs) == 0 {
		return errors.New("no network interface is up")
	}
	bufs := batchPool.Get().(*[][]byte)
	defer batchPool.Put(bufs)
	mailslot := smbmail.Prefix + path
	var idBuf [32]uint16 // the local server's batches fit: no allocation
	ids := idBuf[:0]     // one DGM_ID per message, the same on every interface
	if len(msgs) > len(idBuf) {
		ids = make([]uint16, 0, len(msgs))
	}
	ids = ids[:len(msgs)]
	for k := range ids {
		ids[k] = uint16(d.id.Add(1))
		if t.group {
			a.linkLocal(t, path, msgs[k], ids[k])
		}
	}
	var firstErr error
	for _, i := range ifs {
		out := (*bufs)[:0]
		for k, p := range msgs {
			m := d.message(t, mailslot, p)
			m.ID, m.SourceIP = ids[k], i.IP()
			var scratch []byte
			if k < cap(out) {
				scratch = out[:k+1][k][:0]
			}
			b, err := m.Append(scratch, a.cfg.Style)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		*bufs = out
		dst := netip.AddrPortFrom(t.addr, transport.DatagramPort)
		if t.group {
			dst = netip.AddrPortFrom(i.Broadcast, transport.DatagramPort)
		}
		if err := d.writeAll(out, i.Index, dst); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	a.M.Sent.Add(uint64(len(msgs)))
	return firstErr
}

func (d *dgramService) writeAll(out [][]byte, ifindex int, dst netip.AddrPort) error {
	if bw, ok := d.a.tr.(transport.BatchWriter); ok {
		return bw.WriteBatch(out, transport.DatagramPort, ifindex, dst)
	}
	for _, b := range out {
		if err := d.a.tr.WriteTo(b, transport.DatagramPort, ifindex, dst); err != nil {
			return err
		}
	}
	return nil
}

// deliverLocally hands a write addressed to this host to the router.
func (d *dgramService) deliverLocally(t *target, path string, data []byte) {
	a := d.a
	in := Inbound{Source: a.host, Dest: t.dest, Group: t.group, Mailslot: smbmail.Prefix + path, Path: path, Data: data}
	if ifs := a.tr.Interfaces(); len(ifs) > 0 {
		in.Src = netip.AddrPortFrom(ifs[0].IP(), transport.DatagramPort)
	}
	a.router.dispatch(&in, false)
}

var batchPool = sync.Pool{New: func() any { b := make([][]byte, 0, 32); return &b }}

func (a *Agent) isOurAddr(ip netip.Addr) bool {
	for _, i := range a.tr.Interfaces() {
		if i.IP() == ip {
			return true
		}
	}
	return false
}

func (a *Agent) iface(idx int) (transport.Interface, bool) {
	for _, i := range a.tr.Interfaces() {
		if i.Index == idx {
			return i, true
		}
	}
	return transport.Interface{}, false
}

func inNetworks(nets []netip.Prefix, ip netip.Addr) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// dedup delivers once a datagram that arrives on several interfaces (or
// sockets) within the window. A copy on the same interface is not a
// duplicate: it is a datagram the network repeated, and mailslots are
// unreliable in both directions, as on Windows.
type dedup struct {
	seed maphash.Seed
	seen *recent.Table
}

func newDedup(size int, window time.Duration) *dedup {
	return &dedup{seed: maphash.MakeSeed(), seen: recent.New(size, window)}
}

func (d *dedup) duplicate(p *transport.Packet, id uint16) bool {
	var h maphash.Hash
	h.SetSeed(d.seed)
	src := p.Src.Addr().As4()
	h.Write(src[:])
	h.Write([]byte{byte(id >> 8), byte(id), byte(p.Src.Port() >> 8), byte(p.Src.Port())})
	h.Write(p.Data)
	return d.seen.Seen(h.Sum64(), p.Ifindex, true)
}

// pathKey folds a mailslot path for comparison (mailslot names are
// case-insensitive; both separators are accepted).
func pathKey(p string) string {
	return strings.ToUpper(strings.ReplaceAll(p, "/", `\`))
}
