package agent

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"sync/atomic"

	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Link joins the agent to agents beyond its LANs (package natslink). Its
// methods run on the agent's receive and send paths: they must not block
// (queue and return).
type Link interface {
	// Group sees every group write of the agent's workgroup: in.Ifindex is
	// 0 for a write a local program sent (this host is the origin), else
	// the LAN interface it arrived on. id is the datagram's NetBIOS ID. It
	// returns false when in is a copy the link already delivered here (a
	// rebroadcast of a message that came through the link); the agent then
	// drops it.
	Group(in *Inbound, id uint16) bool
	// Locate reports whether host is reachable only through the link (an
	// agent host on no LAN of ours). With ask it may ask the other agents,
	// within ctx; without, it answers from what it knows.
	Locate(ctx context.Context, host netbios.Name, ask bool) bool
	// Unique sends a write to host through the link.
	Unique(host netbios.Name, path string, data []byte) error
	// Forward sees a DIRECT_UNIQUE datagram heard unicast on the LAN of
	// in.Ifindex for a name this host does not own: the reply of a host
	// without an agent to a write the link put on that LAN (a rebroadcast
	// or a relayed write carries this host's address as its UDP source,
	// and the original sender's name). It returns true when it took the
	// datagram (sent it through the link to the agent host that owns the
	// name, or dropped it as a duplicate or over its rate limit); the
	// agent then answers no DATAGRAM ERROR.
	Forward(in *Inbound, id uint16) bool
	// WritePrometheus appends the link's metrics.
	WritePrometheus(w io.Writer)
}

// SetLink installs l; call it before Run. nil removes it.
func (a *Agent) SetLink(l Link) { a.link = l }

// MaxPayload is the largest write to path for a group (broadcast) or a
// unique destination, with the agent's framing.
func (a *Agent) MaxPayload(path string, group bool) int { return maxPayload(path, group, a.cfg.Style) }

// OwnsName reports whether name is one of the agent's active names.
func (a *Agent) OwnsName(name netbios.Name) bool {
	_, ok := a.ns.Owns(name)
	return ok
}

// Rebroadcast puts in on the LAN of interface ifindex as a DIRECT_GROUP
// datagram to in.Dest from this host's address, keeping the original
// SOURCE_NAME and NetBIOS ID (so the agents there recognise the copy), for
// the hosts of that LAN that run no agent.
func (a *Agent) Rebroadcast(in *Inbound, id uint16, ifindex int) error {
	i, ok := a.iface(ifindex)
	if !ok {
		return transport.ErrNoInterface
	}
	return a.relay(in, id, i, i.Broadcast, true)
}

// RelayUnique sends in as a DIRECT_UNIQUE datagram to in.Dest at ip, a
// host on one of this host's LANs that runs no agent, keeping the original
// SOURCE_NAME.
func (a *Agent) RelayUnique(in *Inbound, id uint16, ip netip.Addr) error {
	for _, i := range a.tr.Interfaces() {
		if i.Addr.Masked().Contains(ip) {
			return a.relay(in, id, i, ip, false)
		}
	}
	return transport.ErrNoInterface
}

func (a *Agent) relay(in *Inbound, id uint16, i transport.Interface, dst netip.Addr, group bool) error {
	m := dgram.Message{Group: group, ID: id, SourceIP: i.IP(), SourcePort: transport.DatagramPort, Source: in.Source,
		Dest: in.Dest, Mailslot: smbmail.Prefix + in.Path, Data: in.Data}
	var buf [640]byte // a datagram: name + data <= 443, SMB <= 512
	b, err := m.Append(buf[:0], a.cfg.Style)
	if err != nil {
		return err
	}
	return a.tr.WriteTo(b, transport.DatagramPort, i.Index, netip.AddrPortFrom(dst, transport.DatagramPort))
}

// ResolveLAN resolves the unique name by this host's own means (static,
// cache, WINS, broadcast, DNS) to another host on one of its LANs.
func (a *Agent) ResolveLAN(ctx context.Context, name netbios.Name) (netip.Addr, bool) {
	ans, err := a.ns.Resolve(ctx, name)
	if err != nil || ans.Group || len(ans.Addrs) == 0 {
		return netip.Addr{}, false
	}
	ip := ans.Addrs[0]
	for _, i := range a.tr.Interfaces() {
		if i.Addr.Masked().Contains(ip) && ip != i.IP() {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// linkLAN hands a group datagram heard on a LAN to the link; false means
// drop it.
func (a *Agent) linkLAN(p *transport.Packet, pk *nbdgm.Packet, w *smbmail.Write) bool {
	if a.link == nil || pk.Type == nbdgm.DirectUnique || pk.DestName.Base() != a.wg.Base() {
		return true
	}
	in := Inbound{Source: pk.SourceName, Src: p.Src, Dest: pk.DestName, Group: true, Mailslot: w.Name,
		Path: w.Name[len(smbmail.Prefix):], Data: w.Data, Ifindex: p.Ifindex}
	return a.link.Group(&in, pk.ID)
}

// linkForward offers the link a unique datagram heard on a LAN for a name
// this host does not own; true means the link took it.
func (a *Agent) linkForward(p *transport.Packet, pk *nbdgm.Packet, w *smbmail.Write) bool {
	if a.link == nil {
		return false
	}
	in := Inbound{Source: pk.SourceName, Src: p.Src, Dest: pk.DestName, Mailslot: w.Name,
		Path: w.Name[len(smbmail.Prefix):], Data: w.Data, Ifindex: p.Ifindex}
	return a.link.Forward(&in, pk.ID)
}

// linkLocal hands a group write of a local program to the link (to any
// workgroup: the link reaches that workgroup's agents).
func (a *Agent) linkLocal(t *target, path string, data []byte, id uint16) {
	if a.link == nil {
		return
	}
	in := Inbound{Source: a.host, Dest: t.dest, Group: true, Mailslot: smbmail.Prefix + path, Path: path, Data: data}
	if ifs := a.tr.Interfaces(); len(ifs) > 0 {
		in.Src = netip.AddrPortFrom(ifs[0].IP(), transport.DatagramPort)
	}
	a.link.Group(&in, id)
}

// sendLink sends writes for a host reached through the link.
func (d *dgramService) sendLink(t *target, path string, msgs [][]byte) error {
	var firstErr error
	for _, p := range msgs {
		if err := d.a.link.Unique(t.dest, path, p); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	d.a.M.Sent.Add(uint64(len(msgs)))
	return firstErr
}

// linkTarget reports whether host is to be reached through the link.
func (a *Agent) linkTarget(ctx context.Context, n netbios.Name, ask bool) bool {
	return a.link != nil && a.link.Locate(ctx, n, ask)
}

// WriteCounters writes the atomic.Uint64 fields of the struct counters
// points to in the Prometheus text format, as <prefix><metric tag>_total
// with the help tag: the agent's Metrics and a link's use it.
func WriteCounters(w io.Writer, prefix string, counters any) {
	v := reflect.ValueOf(counters).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		c, ok := v.Field(i).Addr().Interface().(*atomic.Uint64)
		if !ok {
			continue
		}
		name := prefix + f.Tag.Get("metric") + "_total"
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, f.Tag.Get("help"), name, name, c.Load())
	}
}
