// Package dgram builds and parses complete remote mailslot messages: a
// NetBIOS datagram (package nbdgm) whose user data is an SMB mailslot write
// (package smbmail).
package dgram

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Message is one mailslot message as it travels between hosts.
type Message struct {
	Group      bool // destination is a group name: DIRECT_GROUP (0x11), else DIRECT_UNIQUE (0x10)
	ID         uint16
	SourceIP   netip.Addr
	SourcePort uint16 // 0 means 138
	Source     netbios.Name
	Dest       netbios.Name
	Mailslot   string // `\MAILSLOT\...`
	Data       []byte
	Priority   uint16
	Timeout    uint32
}

// Errors.
var (
	ErrFragment = errors.New("dgram: fragmented datagram (mailslots do not use fragmentation)")
	ErrNotSMB   = errors.New("dgram: datagram does not carry an SMB")
)

// Append encodes m. The style picks the SMB conventions and the node type:
// smbmail.Windows sends as an h-node (FLAGS 0x0E), smbmail.Samba as an
// m-node (0x0A), as each does.
func (m *Message) Append(b []byte, style smbmail.Style) ([]byte, error) {
	p := nbdgm.Packet{Type: nbdgm.DirectUnique, Flags: nbdgm.NodeH, ID: m.ID, SourceIP: m.SourceIP, SourcePort: m.SourcePort,
		SourceName: m.Source, DestName: m.Dest}
	if m.Group {
		p.Type = nbdgm.DirectGroup
	}
	if style == smbmail.Samba {
		p.Flags = nbdgm.NodeM
	}
	if p.SourcePort == 0 {
		p.SourcePort = nbdgm.Port
	}
	// Write the datagram without user data, append the SMB in place, then
	// set DGM_LENGTH to cover it: this saves building the SMB separately.
	start := len(b)
	b, err := p.Append(b)
	if err != nil {
		return b[:start], err
	}
	w := smbmail.Write{Name: m.Mailslot, Data: m.Data, Priority: m.Priority, Timeout: m.Timeout}
	if b, err = w.Append(b, style); err != nil {
		return b[:start], err
	}
	length := len(b) - start - nbdgm.HeaderLen
	if length > 0xFFFF {
		return b[:start], fmt.Errorf("dgram: datagram of %d bytes too long", length)
	}
	binary.BigEndian.PutUint16(b[start+10:], uint16(length))
	return b, nil
}

// Parse decodes a UDP payload from port 138 that carries a mailslot write.
// It refuses fragments and datagrams without an SMB.
func Parse(b []byte) (nbdgm.Packet, smbmail.Write, error) {
	p, err := nbdgm.Decode(b)
	if err != nil {
		return p, smbmail.Write{}, err
	}
	if !p.Type.HasData() {
		return p, smbmail.Write{}, fmt.Errorf("%w: message type %v", ErrNotSMB, p.Type)
	}
	if p.Fragment() {
		return p, smbmail.Write{}, ErrFragment
	}
	if !smbmail.IsSMB(p.Data) {
		return p, smbmail.Write{}, ErrNotSMB
	}
	w, err := smbmail.Decode(p.Data)
	return p, w, err
}
