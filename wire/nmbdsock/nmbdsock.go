// Package nmbdsock encodes and decodes the messages of Samba nmbd's
// "unexpected packet" socket (source3/libsmb/unexpected.c): the AF_UNIX
// stream socket, by default /run/samba/nmbd/unexpected, through which nmbd
// hands the datagrams it does not consume itself to other programs.
//
// The conversation has three parts:
//
//   - the client writes one Query (struct nb_packet_query: 24 bytes, then
//     the mailslot name it filters on);
//   - nmbd answers with one byte, 0x00 (Ack);
//   - nmbd then writes frames for ever: a 32-byte Header (struct
//     nb_packet_client_header) and Header.Len bytes of packet. The client
//     must never write again: any further byte makes nmbd drop it.
//
// The structs are nmbd's native C layout. This package implements the
// layout of 64-bit little-endian Linux (x86-64, arm64), the one Samba
// builds on every platform the mailslot agent supports; the fields are
// little-endian except the IPv4 address, which is a struct in_addr in
// network byte order. The port is the UDP source port of the datagram, in
// host order; the address is its UDP source address.
//
// Decoding never panics and never allocates more than the caller's buffer:
// ReadFrame refuses a length over MaxPacket, which only a desynchronised
// or hostile stream sends.
package nmbdsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// PacketType is nmbd's enum packet_type.
type PacketType int32

// Packet types.
const (
	NMB   PacketType = 0 // a name service packet (UDP 137)
	Dgram PacketType = 1 // a datagram service packet (UDP 138)
)

func (t PacketType) String() string {
	switch t {
	case NMB:
		return "NMB"
	case Dgram:
		return "DGRAM"
	}
	return fmt.Sprintf("PacketType(%d)", int32(t))
}

// Sizes and limits.
const (
	QuerySize  = 24 // struct nb_packet_query without the name
	HeaderSize = 32 // struct nb_packet_client_header
	// MaxName is the longest mailslot filter nmbd accepts; a longer one
	// makes it close the connection.
	MaxName = 1024
	// MaxDgram is nmbd's receive buffer (MAX_DGRAM_SIZE): a datagram longer
	// than this reaches the socket cut to exactly this many bytes (or not
	// at all, when it is addressed to one of nmbd's own names).
	MaxDgram = 576
	// MaxPacket bounds a frame's packet. nmbd re-serialises what it read
	// into at most MaxDgram bytes; name service packets it builds can be a
	// little longer. Anything beyond this is not nmbd talking.
	MaxPacket = 4096
	// Ack is nmbd's one-byte answer to a Query.
	Ack = 0x00
)

// Errors.
var (
	ErrShort    = errors.New("nmbdsock: message too short")
	ErrNameLen  = errors.New("nmbdsock: mailslot name longer than 1024 bytes")
	ErrTooLong  = errors.New("nmbdsock: frame longer than MaxPacket")
	ErrBadType  = errors.New("nmbdsock: unknown packet type")
	ErrBadAck   = errors.New("nmbdsock: nmbd refused the query (ack is not 0x00)")
	ErrTrailing = errors.New("nmbdsock: bytes after the query's mailslot name")
)

// AnyTrnID is the TrnID that receives NMB responses of any transaction ID.
const AnyTrnID = -1

// Query subscribes to one kind of packet.
type Query struct {
	Type PacketType
	// TrnID filters NMB responses by transaction ID (AnyTrnID: all); nmbd
	// ignores it for Dgram.
	TrnID int32
	// Mailslot filters datagrams by exact, case-sensitive mailslot name
	// (e.g. `\MAILSLOT\TEST\X`); empty receives every datagram nmbd hands
	// out.
	Mailslot string
}

// Append appends the wire form of q to b.
func (q *Query) Append(b []byte) ([]byte, error) {
	if len(q.Mailslot) > MaxName {
		return b, ErrNameLen
	}
	var h [QuerySize]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(q.Type))
	// h[4:8] is padding.
	binary.LittleEndian.PutUint64(h[8:], uint64(len(q.Mailslot)))
	binary.LittleEndian.PutUint32(h[16:], uint32(q.TrnID))
	// h[20:24] is padding.
	b = append(b, h[:]...)
	return append(b, q.Mailslot...), nil
}

// ParseQuery decodes a whole query (what a server reads). Padding is
// ignored, as nmbd does.
func ParseQuery(b []byte) (Query, error) {
	if len(b) < QuerySize {
		return Query{}, ErrShort
	}
	q := Query{Type: PacketType(binary.LittleEndian.Uint32(b[0:])), TrnID: int32(binary.LittleEndian.Uint32(b[16:]))}
	n := binary.LittleEndian.Uint64(b[8:])
	if n > MaxName {
		return Query{}, ErrNameLen
	}
	switch rest := uint64(len(b) - QuerySize); {
	case rest < n:
		return Query{}, ErrShort
	case rest > n:
		return Query{}, ErrTrailing
	}
	q.Mailslot = string(b[QuerySize:])
	return q, nil
}

// Header precedes each packet nmbd hands out.
type Header struct {
	Len       uint64         // length of the packet that follows
	Type      PacketType     // NMB or Dgram
	Timestamp int64          // Unix seconds when nmbd read the packet
	Src       netip.AddrPort // the packet's UDP source
}

// Time is the timestamp as a time.Time.
func (h *Header) Time() time.Time { return time.Unix(h.Timestamp, 0) }

// ParseHeader decodes a frame header. It checks the type and the length
// bound, so that a reader can trust Len before reading that many bytes.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrShort
	}
	h := Header{
		Len:       binary.LittleEndian.Uint64(b[0:]),
		Type:      PacketType(binary.LittleEndian.Uint32(b[8:])),
		Timestamp: int64(binary.LittleEndian.Uint64(b[16:])),
	}
	// b[12:16] is padding. The address is a struct in_addr: network order.
	ip := netip.AddrFrom4([4]byte(b[24:28]))
	port := int32(binary.LittleEndian.Uint32(b[28:]))
	if port < 0 || port > 65535 {
		port = 0 // not a UDP port: unknown
	}
	h.Src = netip.AddrPortFrom(ip, uint16(port))
	if h.Type != NMB && h.Type != Dgram {
		return h, fmt.Errorf("%w %d", ErrBadType, int32(h.Type))
	}
	if h.Len > MaxPacket {
		return h, fmt.Errorf("%w: %d bytes", ErrTooLong, h.Len)
	}
	return h, nil
}

// Append appends the wire form of h to b (tests and fake servers use it).
func (h *Header) Append(b []byte) []byte {
	var w [HeaderSize]byte
	binary.LittleEndian.PutUint64(w[0:], h.Len)
	binary.LittleEndian.PutUint32(w[8:], uint32(h.Type))
	binary.LittleEndian.PutUint64(w[16:], uint64(h.Timestamp))
	a := h.Src.Addr().Unmap()
	if a.Is4() {
		ip := a.As4()
		copy(w[24:28], ip[:])
	}
	binary.LittleEndian.PutUint32(w[28:], uint32(h.Src.Port()))
	return append(b, w[:]...)
}

// Frame is one packet handed out by nmbd.
type Frame struct {
	Header
	// Packet is the whole NetBIOS datagram (from MSG_TYPE on) or NMB
	// packet, as nmbd re-serialised it. It aliases the buffer given to
	// ReadFrame.
	Packet []byte
}

// Cut reports whether the packet may have been cut by nmbd's 576-byte
// receive buffer: a datagram of exactly MaxDgram bytes is either whole or
// the first MaxDgram bytes of a longer one, which only its content tells.
func (f *Frame) Cut() bool { return f.Type == Dgram && len(f.Packet) >= MaxDgram }

// ReadAck reads nmbd's answer to a Query.
func ReadAck(r io.Reader) error {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if b[0] != Ack {
		return ErrBadAck
	}
	return nil
}

// ReadFrame reads one frame from r into buf, which must hold HeaderSize +
// MaxPacket bytes (BufferSize). A header error leaves the stream out of
// step: the caller must close the connection.
func ReadFrame(r io.Reader, buf []byte) (Frame, error) {
	if len(buf) < BufferSize {
		return Frame{}, errors.New("nmbdsock: ReadFrame buffer smaller than BufferSize")
	}
	if _, err := io.ReadFull(r, buf[:HeaderSize]); err != nil {
		return Frame{}, err
	}
	h, err := ParseHeader(buf[:HeaderSize])
	if err != nil {
		return Frame{}, err
	}
	p := buf[HeaderSize : HeaderSize+int(h.Len)]
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Frame{}, err
	}
	return Frame{Header: h, Packet: p}, nil
}

// BufferSize is the buffer ReadFrame needs.
const BufferSize = HeaderSize + MaxPacket
