// Package agentproto is the local protocol between mailslot programs and the
// host's network agent ("mailslot agent"). It runs over an abstract
// SOCK_SEQPACKET socket, @mailslot/<namespace>/agent, so every frame is one
// message and the kernel tells each side who the other is (SO_PEERCRED).
//
// Every frame starts with a version byte and an opcode byte. Clients send
// Register (a slot opting in to network deliveries), Open (a remote writer)
// followed by Write frames, or Query (the names, lookup and status tools).
// The agent answers with Result, Deliver (one network message for a
// registered slot) and JSON frames. Decode never panics and never allocates
// more than the frame it is given.
package agentproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Version is the protocol version carried in every frame.
const Version = 1

// MaxFrame bounds every frame on the socket. Network payloads are far
// smaller (a NetBIOS datagram carries at most 576 bytes of user data), and
// names and queries are short; the bound keeps both sides' buffers fixed.
const MaxFrame = 4096

// Op is a frame's opcode.
type Op byte

const (
	OpRegister Op = 'R' // client: deliver network messages for this mailslot to me
	OpOpen     Op = 'O' // client: I will write to \\HOST\mailslot\PATH
	OpWrite    Op = 'W' // client: one message for the opened target
	OpQuery    Op = 'Q' // client: names, lookup or status
	OpReady    Op = 'a' // client: after Register, my receive path is ready for deliveries
	OpResult   Op = 'r' // agent: outcome of Register, Open or Query
	OpDeliver  Op = 'D' // agent: one network message for a registered slot
	OpJSON     Op = 'j' // agent: a query's answer as JSON
)

// Query kinds.
const (
	QueryNames  byte = 'n' // the agent's own name table
	QueryLookup byte = 'l' // resolve a NetBIOS name
	QueryStatus byte = 's' // node status of a host
)

// Frame is one decoded frame. Which fields are set depends on Op.
type Frame struct {
	Op Op

	// Register: the mailslot path below "mailslot\" (as the slot was
	// created) and the source networks it accepts (empty = any).
	// Open: Host and Path of \\HOST\mailslot\PATH, and how long the agent
	// may take to resolve Host.
	Host     string
	Path     string
	Networks []netip.Prefix
	Timeout  uint32 // milliseconds

	// Query: the kind and its argument (a name for lookup, a host or IP for
	// status).
	Kind byte
	Arg  string

	// Result: a Win32 error code (0 = success), a message, and for Open
	// the largest payload one Write may carry to this target.
	Code       uint32
	Message    string
	MaxPayload uint16

	// Deliver: the sender's NetBIOS name (16 raw bytes), address and port.
	// Write and Deliver: the message. JSON: the document.
	FromName [16]byte
	From     netip.AddrPort
	Data     []byte // aliases the decoded buffer
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("agentproto: malformed frame")

// ErrTooLarge is returned by Append for a frame over MaxFrame.
var ErrTooLarge = errors.New("agentproto: frame larger than MaxFrame")

// Append encodes f onto b.
func (f *Frame) Append(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, Version, byte(f.Op))
	var err error
	switch f.Op {
	case OpRegister:
		b = appendString(b, f.Path)
		if len(f.Networks) > 255 {
			return b[:start], fmt.Errorf("agentproto: %d networks (at most 255)", len(f.Networks))
		}
		b = append(b, byte(len(f.Networks)))
		for _, p := range f.Networks {
			if !p.Addr().Is4() {
				return b[:start], fmt.Errorf("agentproto: network %v is not IPv4", p)
			}
			a := p.Addr().As4()
			b = append(b, a[:]...)
			b = append(b, byte(p.Bits()))
		}
	case OpOpen:
		b = appendString(b, f.Host)
		b = appendString(b, f.Path)
		b = binary.BigEndian.AppendUint32(b, f.Timeout)
	case OpQuery:
		b = append(b, f.Kind)
		b = appendString(b, f.Arg)
	case OpResult:
		b = binary.BigEndian.AppendUint32(b, f.Code)
		b = binary.BigEndian.AppendUint16(b, f.MaxPayload)
		b = appendString(b, f.Message)
	case OpDeliver:
		if !f.From.Addr().Is4() {
			return b[:start], fmt.Errorf("agentproto: sender %v is not IPv4", f.From)
		}
		b = append(b, f.FromName[:]...)
		a := f.From.Addr().As4()
		b = append(b, a[:]...)
		b = binary.BigEndian.AppendUint16(b, f.From.Port())
		b = append(b, f.Data...)
	case OpWrite, OpJSON:
		b = append(b, f.Data...)
	case OpReady:
	default:
		err = fmt.Errorf("agentproto: unknown op %q", f.Op)
	}
	if err == nil && len(b)-start > MaxFrame {
		err = ErrTooLarge
	}
	if err != nil {
		return b[:start], err
	}
	return b, nil
}

// appendString writes a 16-bit length and the bytes; strings longer than
// MaxFrame are cut (Append then reports ErrTooLarge anyway).
func appendString(b []byte, s string) []byte {
	if len(s) > MaxFrame {
		s = s[:MaxFrame]
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// reader walks a frame; after the first error every read is a no-op.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated %s", ErrMalformed, what)
	}
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != nil || n > len(r.b) {
		r.fail(what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(what string) byte {
	if v := r.bytes(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if v := r.bytes(2, what); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(what string) uint32 {
	if v := r.bytes(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) str(what string) string {
	return string(r.bytes(int(r.u16(what+" length")), what))
}

// Decode parses one frame. Data aliases b.
func Decode(b []byte) (Frame, error) {
	var f Frame
	if len(b) > MaxFrame {
		return f, fmt.Errorf("%w: %d bytes, over %d", ErrMalformed, len(b), MaxFrame)
	}
	if len(b) < 2 {
		return f, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return f, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[0], Version)
	}
	f.Op = Op(b[1])
	r := reader{b: b[2:]}
	switch f.Op {
	case OpRegister:
		f.Path = r.str("path")
		n := int(r.u8("network count"))
		for i := 0; i < n && r.err == nil; i++ {
			a := r.bytes(4, "network")
			bits := int(r.u8("prefix length"))
			if r.err != nil {
				break
			}
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte(a)), bits)
			if !p.IsValid() {
				return Frame{}, fmt.Errorf("%w: prefix length %d", ErrMalformed, bits)
			}
			f.Networks = append(f.Networks, p)
		}
	case OpOpen:
		f.Host = r.str("host")
		f.Path = r.str("path")
		f.Timeout = r.u32("timeout")
	case OpQuery:
		f.Kind = r.u8("kind")
		f.Arg = r.str("argument")
	case OpResult:
		f.Code = r.u32("code")
		f.MaxPayload = r.u16("max payload")
		f.Message = r.str("message")
	case OpDeliver:
		copy(f.FromName[:], r.bytes(16, "sender name"))
		a := r.bytes(4, "sender address")
		port := r.u16("sender port")
		if r.err == nil {
			f.From = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a)), port)
			f.Data = r.b
			r.b = nil
		}
	case OpWrite, OpJSON:
		f.Data = r.b
		r.b = nil
	case OpReady:
	default:
		return Frame{}, fmt.Errorf("%w: unknown op %#x", ErrMalformed, byte(f.Op))
	}
	if r.err != nil {
		return Frame{}, r.err
	}
	if len(r.b) != 0 {
		return Frame{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b))
	}
	return f, nil
}

// The JSON documents of the query answers (OpJSON).

// NameTable answers QueryNames: the agent's identity and names.
type NameTable struct {
	Name       string      `json:"name"`
	Workgroup  string      `json:"workgroup"`
	Interfaces []Interface `json:"interfaces"`
	Names      []NameEntry `json:"names"`
}

// Interface is one interface the agent serves.
type Interface struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // address/prefix length
}

// NameEntry is one of the agent's names.
type NameEntry struct {
	Name     string `json:"name"` // NAME<xx>
	Group    bool   `json:"group"`
	State    string `json:"state"` // registering, active, conflict, released
	Defender string `json:"defender,omitempty"`
}

// LookupResult answers QueryLookup.
type LookupResult struct {
	Name   string   `json:"name"`
	Addrs  []string `json:"addrs"`
	Group  bool     `json:"group"`
	Source string   `json:"source"`
}

// StatusResult answers QueryStatus: a host's node status.
type StatusResult struct {
	Host  string        `json:"host"`
	Addr  string        `json:"addr"`
	MAC   string        `json:"mac,omitempty"`
	Names []StatusEntry `json:"names"`
}

// StatusEntry is one name of a node status answer.
type StatusEntry struct {
	Name     string `json:"name"`
	Group    bool   `json:"group"`
	Active   bool   `json:"active"`
	Conflict bool   `json:"conflict"`
}
