// Package nbdgm encodes and decodes NetBIOS datagram service packets
// (RFC 1002 §4.4, UDP port 138), the carrier of remote mailslot writes.
package nbdgm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mailslot/mailslot/wire/netbios"
)

// Port is the datagram service's UDP port.
const Port = 138

// Type is MSG_TYPE.
type Type uint8

const (
	DirectUnique          Type = 0x10
	DirectGroup           Type = 0x11
	Broadcast             Type = 0x12
	Error                 Type = 0x13
	QueryRequest          Type = 0x14
	PositiveQueryResponse Type = 0x15
	NegativeQueryResponse Type = 0x16
)

func (t Type) String() string {
	switch t {
	case DirectUnique:
		return "direct_unique"
	case DirectGroup:
		return "direct_group"
	case Broadcast:
		return "broadcast"
	case Error:
		return "error"
	case QueryRequest:
		return "query_request"
	case PositiveQueryResponse:
		return "positive_query_response"
	case NegativeQueryResponse:
		return "negative_query_response"
	}
	return fmt.Sprintf("type_%#02x", uint8(t))
}

// HasData reports whether packets of this type carry names and user data.
func (t Type) HasData() bool { return t >= DirectUnique && t <= Broadcast }

// Flags is the FLAGS byte.
type Flags uint8

const (
	More     Flags = 0x01 // M: more fragments follow
	First    Flags = 0x02 // F: first fragment
	NodeMask Flags = 0x0C // SNT: sending node type
	NodeB    Flags = 0x00
	NodeP    Flags = 0x04
	NodeM    Flags = 0x08
	NodeH    Flags = 0x0C // NBDD in RFC 1002; h-node for Microsoft
)

// Error codes of a DATAGRAM ERROR packet.
const (
	ErrDestinationNotPresent uint8 = 0x82
	ErrInvalidSourceName     uint8 = 0x83
	ErrInvalidDestName       uint8 = 0x84
)

// HeaderLen is the fixed header of data packets (0x10–0x12).
const HeaderLen = 14

// MaxDatagram is RFC 1002's MAX_DATAGRAM_LENGTH, which Samba also enforces on
// user data.
const MaxDatagram = 576

// Packet is one datagram service packet. Which fields are used depends on
// Type: data packets use everything but ErrorCode; DATAGRAM ERROR uses the
// first five fields and ErrorCode; the query packets add DestName.
type Packet struct {
	Type       Type
	Flags      Flags
	ID         uint16
	SourceIP   netip.Addr // IPv4
	SourcePort uint16

	// Decoded DGM_LENGTH and PACKET_OFFSET (data packets). Append computes
	// the length and always writes an unfragmented datagram.
	Length, Offset uint16

	SourceName netbios.Name
	DestName   netbios.Name
	Data       []byte // USER_DATA (the SMB for a mailslot write); aliases the input on Decode

	ErrorCode uint8
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("nbdgm: malformed datagram")

// Fragment reports whether a decoded data packet is only part of a NetBIOS
// datagram (the mailslot layer drops those: MS-MAIL does no segmentation).
func (p *Packet) Fragment() bool {
	return p.Flags&First == 0 || p.Flags&More != 0 || p.Offset != 0
}

// NodeType returns the sending node type (NodeB ... NodeH).
func (p *Packet) NodeType() Flags { return p.Flags & NodeMask }

// Append encodes p onto b. Data packets are always written unfragmented:
// F set, M clear, PACKET_OFFSET 0, whatever p says; the node type is kept.
func (p *Packet) Append(b []byte) ([]byte, error) {
	if !p.SourceIP.Is4() {
		return b, fmt.Errorf("nbdgm: source IP %v is not IPv4", p.SourceIP)
	}
	flags := p.Flags & NodeMask
	if p.Type.HasData() {
		flags |= First
	}
	ip := p.SourceIP.As4()
	b = append(b, byte(p.Type), byte(flags))
	b = binary.BigEndian.AppendUint16(b, p.ID)
	b = append(b, ip[:]...)
	b = binary.BigEndian.AppendUint16(b, p.SourcePort)
	var err error
	switch {
	case p.Type.HasData():
		length := p.SourceName.WireLen() + p.DestName.WireLen() + len(p.Data)
		if length > 0xFFFF {
			return b, fmt.Errorf("nbdgm: datagram of %d bytes too long", length)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(length))
		b = binary.BigEndian.AppendUint16(b, 0)
		if b, err = p.SourceName.Append(b); err != nil {
			return b, err
		}
		if b, err = p.DestName.Append(b); err != nil {
			return b, err
		}
		b = append(b, p.Data...)
	case p.Type == Error:
		b = append(b, p.ErrorCode)
	case p.Type >= QueryRequest && p.Type <= NegativeQueryResponse:
		b, err = p.DestName.Append(b)
	default:
		err = fmt.Errorf("nbdgm: unknown message type %#02x", uint8(p.Type))
	}
	return b, err
}

// Decode parses a UDP payload. Data aliases b.
func Decode(b []byte) (Packet, error) {
	var p Packet
	bad := func(format string, a ...any) (Packet, error) {
		return Packet{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) < 10 {
		return bad("%d bytes, shorter than the 10-byte header", len(b))
	}
	p.Type, p.Flags = Type(b[0]), Flags(b[1])
	if p.Type < DirectUnique || p.Type > NegativeQueryResponse {
		return bad("unknown message type %#02x", b[0])
	}
	if p.Flags&0xF0 != 0 {
		return bad("reserved flag bits set (%#02x)", b[1])
	}
	p.ID = binary.BigEndian.Uint16(b[2:])
	p.SourceIP = netip.AddrFrom4([4]byte(b[4:8]))
	p.SourcePort = binary.BigEndian.Uint16(b[8:])
	switch {
	case p.Type == Error:
		if len(b) < 11 {
			return bad("datagram error packet without an error code")
		}
		p.ErrorCode = b[10]
		return p, nil
	case !p.Type.HasData():
		name, _, err := netbios.Decode(b, 10)
		if err != nil {
			return bad("destination name: %v", err)
		}
		p.DestName = name
		return p, nil
	}
	if len(b) < HeaderLen {
		return bad("%d bytes, shorter than the 14-byte header", len(b))
	}
	p.Length = binary.BigEndian.Uint16(b[10:])
	p.Offset = binary.BigEndian.Uint16(b[12:])
	// DGM_LENGTH counts the names and user data, not the 14-byte header.
	end := HeaderLen + int(p.Length)
	if end > len(b) {
		return bad("DGM_LENGTH %d exceeds the %d bytes present after the header", p.Length, len(b)-HeaderLen)
	}
	msg := b[:end]
	var (
		err error
		off int
	)
	if p.SourceName, off, err = netbios.Decode(msg, HeaderLen); err != nil {
		return bad("source name: %v", err)
	}
	if p.DestName, off, err = netbios.Decode(msg, off); err != nil {
		return bad("destination name: %v", err)
	}
	p.Data = msg[off:]
	return p, nil
}
