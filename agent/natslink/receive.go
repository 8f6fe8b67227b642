package natslink

import (
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// The receiving side: what arrives on the write subjects (bcast, host,
// relay), in any of the three forms (docs/design.md, "Subjects and
// payload"), checked and handed to the agent. Nothing here publishes.

func (l *Link) onBcast(msg *nats.Msg) { l.receive(msg, kindBcast) }
func (l *Link) onHost(msg *nats.Msg)  { l.receive(msg, kindHost) }
func (l *Link) onRelay(msg *nats.Msg) { l.receive(msg, kindRelay) }

// receive takes the writes of a message received on a subject of kind: an
// envelope of writes, or one write from another program (plain, or with
// Mailslot-* headers).
func (l *Link) receive(msg *nats.Msg, kind string) {
	tok := lastToken(msg.Subject)
	if len(msg.Header) > 0 || !isEnvelope(msg.Data) {
		l.M.Received.Add(1)
		m, err := decode(kind, tok, l.wg, msg.Header, msg.Data)
		if err != nil {
			l.M.Malformed.Add(1)
			return
		}
		key := m.Origin
		if key == "" {
			key = m.Source.Base()
		}
		switch {
		case m.Origin == l.id: // our own publication, echoed
		case !l.limit.allow(key):
			l.M.RateLimited.Add(1)
		default:
			l.accept(&m, kind, smbmail.Prefix+m.Path)
		}
		return
	}
	e, err := parseEnvelope(msg.Data)
	if err != nil {
		l.M.Received.Add(1)
		l.M.Malformed.Add(1)
		return
	}
	l.M.Received.Add(uint64(e.n))
	// The strings of the last origin and path are kept from one record to
	// the next and across envelopes: the writes of a batch, and a stream of
	// batches, usually share them.
	c := &l.recv[kindIndex(kind)]
	if string(e.origin) != c.origin {
		c.origin = string(e.origin)
	}
	if c.origin == l.id {
		return
	}
	// An agent's writes pay the rate limit per envelope, and what exceeds
	// it is dropped from the end; another program's, per record.
	allowed := e.n
	if c.origin != "" {
		allowed = l.limit.take(c.origin, e.n)
		l.M.RateLimited.Add(uint64(e.n - allowed))
	}
	r := &c.r
	for ; allowed > 0 && e.next(r); allowed-- {
		if c.path == "" || string(r.path) != c.path {
			c.path = string(r.path)
			c.mailslot = smbmail.Prefix + c.path
			c.tok = ""
		}
		if c.tok != tok { // the path has not been checked against this subject yet
			c.tok, c.tokOK = tok, kind != kindBcast || tokenMatches(c.path, tok)
		}
		if !c.tokOK {
			l.M.Malformed.Add(1)
			continue
		}
		m := Message{Origin: c.origin, Source: r.source, Addr: r.addr, Path: c.path, Dest: r.dest, DgramID: r.id,
			LANs: r.lans[:r.nlans], Data: r.data}
		if c.origin == "" && !l.limit.allow(m.Source.Base()) {
			l.M.RateLimited.Add(1)
			continue
		}
		l.accept(&m, kind, c.mailslot)
	}
}

// accept checks one write from NATS, which passed the sender's rate
// limit, against the size limit, and hands it on by kind. mailslot is
// `\MAILSLOT\` + m.Path.
func (l *Link) accept(m *Message, kind, mailslot string) {
	if len(m.Data) > l.a.MaxPayload(m.Path, kind == kindBcast) {
		l.M.Oversize.Add(1)
		return
	}
	in := agent.Inbound{Source: m.Source, Src: m.Addr, Dest: m.Dest, Group: true, Mailslot: mailslot,
		Path: m.Path, Data: m.Data}
	switch kind {
	case kindBcast:
		l.bcast(m, &in)
	case kindHost:
		l.unique(m, &in)
	case kindRelay:
		l.relay(m, &in)
	}
}

// bcast takes a group write from NATS: delivered here if the agent
// receives the destination (its names, and those a service overhears, as
// the browser's WG<1d>), rebroadcast on each LAN we are the gateway of and
// that did not get it already, never published again.
func (l *Link) bcast(m *Message, in *agent.Inbound) {
	if [15]byte(m.Dest.Raw[:15]) != l.wgRaw {
		l.M.Malformed.Add(1)
		return
	}
	if l.seen.Seen(MessageID(m.Source, m.Dest, m.DgramID, m.Path, m.Data), 0, false) {
		l.M.Duplicates.Add(1)
		return
	}
	if l.a.Receives(m.Dest) {
		l.a.Router().Dispatch(in)
	}
	for _, i := range l.a.Interfaces() {
		if containsLAN(m.LANs, i.Addr.Masked()) || !l.gateway(i.Index) {
			continue
		}
		if err := l.a.Rebroadcast(in, m.DgramID, i.Index); err == nil {
			l.M.Rebroadcast.Add(1)
		}
	}
}

// unique takes a write to this host from NATS: to its name, or to a
// user's <03> name it holds (`net send USER` across sites).
func (l *Link) unique(m *Message, in *agent.Inbound) {
	in.Group = false
	switch {
	case [15]byte(m.Dest.Raw[:15]) == [15]byte(l.host.Raw[:15]):
		in.Dest = l.host
		if m.Dest.Suffix() == netbios.Messenger { // `net send HOST` across sites
			in.Dest = netbios.MustNew(l.host.Base(), netbios.Messenger)
		}
	case m.Dest.Suffix() == netbios.Messenger && l.a.OwnsName(m.Dest):
		in.Dest = m.Dest
	default:
		l.M.Malformed.Add(1)
		return
	}
	l.a.Router().Dispatch(in)
}

type recvCache struct {
	r                      record // decoded here, not on the stack: its subnets end up in the Message, which escapes
	origin, path, mailslot string
	tok                    string // the subject token c.path was checked against
	tokOK                  bool
}

func kindIndex(kind string) int {
	switch kind {
	case kindBcast:
		return 0
	case kindHost:
		return 1
	}
	return 2
}

func lastToken(subject string) string { return subject[strings.LastIndexByte(subject, '.')+1:] }
