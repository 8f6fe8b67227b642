// Package nbns encodes and decodes NetBIOS name service packets (RFC 1002
// §4.2, UDP port 137): name queries, node status (what nbtscan and
// "nmblookup -A" ask), and registration, refresh, release and conflict.
package nbns

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mailslot/mailslot/wire/netbios"
)

// Port is the name service's UDP port.
const Port = 137

// Opcode is the OPCODE field.
type Opcode uint8

const (
	OpQuery        Opcode = 0
	OpRegistration Opcode = 5
	OpRelease      Opcode = 6
	OpWACK         Opcode = 7
	OpRefresh      Opcode = 8 // RFC 1002's diagram says 9; Windows and Samba use 8
	OpMultiHomed   Opcode = 0xF
)

// Header flag bits (the 16-bit word after NAME_TRN_ID).
const (
	FlagResponse           uint16 = 0x8000
	FlagAuthoritative      uint16 = 0x0400
	FlagTruncated          uint16 = 0x0200
	FlagRecursionDesired   uint16 = 0x0100
	FlagRecursionAvailable uint16 = 0x0080
	FlagBroadcast          uint16 = 0x0010
)

// RCODE values.
const (
	RcodeOK       = 0
	RcodeFormat   = 1
	RcodeServer   = 2
	RcodeName     = 3 // NAM_ERR: no such name
	RcodeNotImpl  = 4
	RcodeRefused  = 5
	RcodeActive   = 6 // ACT_ERR: the name is owned by another node
	RcodeConflict = 7
)

// Resource record and question types, and the only class.
const (
	TypeNB     uint16 = 0x0020
	TypeNBSTAT uint16 = 0x0021
	TypeNULL   uint16 = 0x000A
	ClassIN    uint16 = 0x0001
)

// NB_FLAGS / NAME_FLAGS bits.
const (
	NBGroup           uint16 = 0x8000
	NBOwnerMask       uint16 = 0x6000 // node type: B 0x0000, P 0x2000, M 0x4000, H 0x6000
	NameDeregistering uint16 = 0x1000
	NameConflict      uint16 = 0x0800
	NameActive        uint16 = 0x0400
	NamePermanent     uint16 = 0x0200
)

// StatisticsLen is the size of the node status statistics block.
const StatisticsLen = 46

// Packet is one name service packet.
type Packet struct {
	ID         uint16
	Flags      uint16 // the whole flags word: use the accessors
	Questions  []Question
	Answers    []Resource
	Authority  []Resource
	Additional []Resource
}

// Question is a question entry.
type Question struct {
	Name        netbios.Name
	Type, Class uint16
}

// Resource is a resource record. Its RDATA is decoded by type: NB records
// into Addresses, NBSTAT records into Status, anything else into Data.
type Resource struct {
	Name        netbios.Name
	Type, Class uint16
	TTL         uint32
	Addresses   []AddrEntry
	Status      *NodeStatus
	Data        []byte
}

// AddrEntry is one NB RDATA entry.
type AddrEntry struct {
	Flags uint16 // NBGroup | owner node type
	IP    netip.Addr
}

// NodeStatus is the RDATA of a node status response.
type NodeStatus struct {
	Names      []NodeName
	Statistics []byte // 46 bytes when complete; the first 6 are the unit ID (MAC)
}

// NodeName is one entry of a node status name table.
type NodeName struct {
	Name  [16]byte // 15 bytes space padded + suffix, as in netbios.Name.Raw
	Flags uint16   // NBGroup, owner type, NameActive, ...
}

// String formats the entry's name like netbios.Name.
func (n NodeName) String() string { return netbios.Name{Raw: n.Name}.String() }

// Opcode returns the packet's opcode.
func (p *Packet) Opcode() Opcode { return Opcode(p.Flags >> 11 & 0xF) }

// Response reports whether the packet is a response.
func (p *Packet) Response() bool { return p.Flags&FlagResponse != 0 }

// Rcode returns the result code.
func (p *Packet) Rcode() int { return int(p.Flags & 0xF) }

// MakeFlags builds a flags word.
func MakeFlags(op Opcode, bits uint16, rcode int) uint16 {
	return uint16(op)<<11 | bits | uint16(rcode)&0xF
}

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("nbns: malformed packet")

// MaxRecords is the most entries Decode accepts in one section (questions,
// answers, authority, additional), and Append writes. Windows and Samba
// send one; a 64 KiB packet could claim 10,000, each a 2-byte pointer that
// costs a whole decoded record.
const MaxRecords = 16

// ErrTooManyRecords is wrapped by the error for a section of more than
// MaxRecords entries. It wraps ErrMalformed.
var ErrTooManyRecords = fmt.Errorf("%w: too many records", ErrMalformed)

const headerLen = 12

// Append encodes p. A record whose name equals the first question's is
// written as a pointer to it (0xC00C), as Windows and Samba do. The pointer
// is relative to the packet start, so b must be empty (len 0).
func (p *Packet) Append(b []byte) ([]byte, error) {
	if len(b) != 0 {
		return b, errors.New("nbns: Append needs an empty buffer (label pointers are packet-relative)")
	}
	be := binary.BigEndian
	b = be.AppendUint16(b, p.ID)
	b = be.AppendUint16(b, p.Flags)
	for _, n := range []int{len(p.Questions), len(p.Answers), len(p.Authority), len(p.Additional)} {
		if n > MaxRecords {
			return b, fmt.Errorf("nbns: %d records in a section, more than MaxRecords (%d)", n, MaxRecords)
		}
		b = be.AppendUint16(b, uint16(n))
	}
	var err error
	for _, q := range p.Questions {
		if b, err = q.Name.Append(b); err != nil {
			return b, err
		}
		b = be.AppendUint16(b, q.Type)
		b = be.AppendUint16(b, q.Class)
	}
	for _, sec := range [][]Resource{p.Answers, p.Authority, p.Additional} {
		for i := range sec {
			r := &sec[i]
			if len(p.Questions) > 0 && r.Name == p.Questions[0].Name {
				b = append(b, 0xC0, headerLen) // pointer, relative to the packet start
			} else if b, err = r.Name.Append(b); err != nil {
				return b, err
			}
			b = be.AppendUint16(b, r.Type)
			b = be.AppendUint16(b, r.Class)
			b = be.AppendUint32(b, r.TTL)
			lenAt := len(b)
			b = append(b, 0, 0)
			if b, err = r.appendRData(b); err != nil {
				return b, err
			}
			n := len(b) - lenAt - 2
			if n > 0xFFFF {
				return b, fmt.Errorf("nbns: RDATA of %d bytes", n)
			}
			be.PutUint16(b[lenAt:], uint16(n))
		}
	}
	return b, nil
}

func (r *Resource) appendRData(b []byte) ([]byte, error) {
	be := binary.BigEndian
	switch {
	case r.Type == TypeNB && r.Data == nil:
		for _, a := range r.Addresses {
			if !a.IP.Is4() {
				return b, fmt.Errorf("nbns: address %v is not IPv4", a.IP)
			}
			ip := a.IP.As4()
			b = be.AppendUint16(b, a.Flags)
			b = append(b, ip[:]...)
		}
	case r.Type == TypeNBSTAT && r.Status != nil:
		if len(r.Status.Names) > 255 {
			return b, fmt.Errorf("nbns: %d names in a node status", len(r.Status.Names))
		}
		b = append(b, byte(len(r.Status.Names)))
		for _, n := range r.Status.Names {
			b = append(b, n.Name[:]...)
			b = be.AppendUint16(b, n.Flags)
		}
		stats := make([]byte, StatisticsLen)
		copy(stats, r.Status.Statistics)
		b = append(b, stats...)
	default:
		b = append(b, r.Data...)
	}
	return b, nil
}

// Decode parses a UDP payload. Bytes after the last record are ignored;
// DecodePrefix reports how many were used.
//
// Work and memory are bounded by the packet's size: at most MaxRecords
// entries a section, a name behind a label pointer is decoded once for all
// the pointers to it, and every allocation is sized from bytes present.
// The Packet does not alias msg: it stays valid when msg is reused.
func Decode(msg []byte) (Packet, error) {
	p, _, err := DecodePrefix(msg)
	return p, err
}

// sectionNames name the four sections in errors.
var sectionNames = [4]string{"questions", "answers", "authority records", "additional records"}

// DecodePrefix is Decode that also returns the number of bytes the packet
// used: msg[n:] is whatever followed its last record.
func DecodePrefix(msg []byte) (Packet, int, error) {
	var p Packet
	bad := func(format string, a ...any) (Packet, int, error) {
		return Packet{}, 0, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(msg) < headerLen {
		return bad("%d bytes, shorter than the 12-byte header", len(msg))
	}
	be := binary.BigEndian
	p.ID, p.Flags = be.Uint16(msg), be.Uint16(msg[2:])
	counts := [4]int{int(be.Uint16(msg[4:])), int(be.Uint16(msg[6:])), int(be.Uint16(msg[8:])), int(be.Uint16(msg[10:]))}
	for i, n := range counts {
		if n > MaxRecords {
			return Packet{}, 0, fmt.Errorf("%w: %d %s, at most %d accepted", ErrTooManyRecords, n, sectionNames[i], MaxRecords)
		}
	}
	// Every entry takes at least 6 bytes (a pointer name and a type and class):
	// refuse counts the packet cannot hold before allocating for them.
	if (counts[0]+counts[1]+counts[2]+counts[3])*6 > len(msg)-headerLen {
		return bad("record counts %v do not fit in %d bytes", counts, len(msg))
	}
	var names nameCache
	off := headerLen
	if counts[0] > 0 {
		p.Questions = make([]Question, 0, counts[0])
	}
	for i := 0; i < counts[0]; i++ {
		name, next, err := names.decode(msg, off)
		if err != nil {
			return bad("question %d: %v", i, err)
		}
		if next+4 > len(msg) {
			return bad("question %d: truncated", i)
		}
		p.Questions = append(p.Questions, Question{Name: name, Type: be.Uint16(msg[next:]), Class: be.Uint16(msg[next+2:])})
		off = next + 4
	}
	sections := []*[]Resource{&p.Answers, &p.Authority, &p.Additional}
	for s, sec := range sections {
		if counts[s+1] > 0 {
			*sec = make([]Resource, 0, counts[s+1])
		}
		for i := 0; i < counts[s+1]; i++ {
			r, next, err := decodeResource(msg, off, &names)
			if err != nil {
				return bad("record %d of section %d: %v", i, s+1, err)
			}
			*sec = append(*sec, r)
			off = next
		}
	}
	return p, off, nil
}

// nameCache remembers the names found behind label pointers, by target
// offset, so that pointers to one name decode it once and share its scope
// string. The name behind a pointer does not depend on where the pointer
// is (a pointer valid at one place is valid at any later one), so the
// cache is exact.
type nameCache struct {
	n       int
	targets [4 * MaxRecords]int
	names   [4 * MaxRecords]netbios.Name
}

func (c *nameCache) decode(msg []byte, off int) (netbios.Name, int, error) {
	if off+1 >= len(msg) || msg[off]&0xC0 != 0xC0 {
		return netbios.Decode(msg, off)
	}
	target := int(msg[off]&0x3F)<<8 | int(msg[off+1])
	for i := 0; i < c.n; i++ {
		if c.targets[i] == target && target < off {
			return c.names[i], off + 2, nil
		}
	}
	name, next, err := netbios.Decode(msg, off)
	if err == nil && c.n < len(c.targets) {
		c.targets[c.n], c.names[c.n] = target, name
		c.n++
	}
	return name, next, err
}

func decodeResource(msg []byte, off int, names *nameCache) (Resource, int, error) {
	var r Resource
	name, next, err := names.decode(msg, off)
	if err != nil {
		return r, 0, err
	}
	if next+10 > len(msg) {
		return r, 0, errors.New("truncated record header")
	}
	be := binary.BigEndian
	r.Name = name
	r.Type, r.Class, r.TTL = be.Uint16(msg[next:]), be.Uint16(msg[next+2:]), be.Uint32(msg[next+4:])
	rdlen := int(be.Uint16(msg[next+8:]))
	start := next + 10
	if start+rdlen > len(msg) {
		return r, 0, fmt.Errorf("RDLENGTH %d exceeds the %d bytes left", rdlen, len(msg)-start)
	}
	rd := msg[start : start+rdlen]
	switch r.Type {
	case TypeNB:
		if len(rd)%6 != 0 {
			return r, 0, fmt.Errorf("NB RDATA of %d bytes is not a multiple of 6", len(rd))
		}
		if len(rd) > 0 {
			r.Addresses = make([]AddrEntry, 0, len(rd)/6)
		}
		for i := 0; i < len(rd); i += 6 {
			r.Addresses = append(r.Addresses, AddrEntry{Flags: be.Uint16(rd[i:]), IP: netip.AddrFrom4([4]byte(rd[i+2 : i+6]))})
		}
	case TypeNBSTAT:
		if len(rd) < 1 {
			return r, 0, errors.New("empty node status")
		}
		n := int(rd[0])
		if 1+18*n > len(rd) {
			return r, 0, fmt.Errorf("node status lists %d names but has room for %d", n, (len(rd)-1)/18)
		}
		st := &NodeStatus{Names: make([]NodeName, n)}
		for i := range st.Names {
			e := rd[1+18*i:]
			st.Names[i] = NodeName{Name: [16]byte(e[:16]), Flags: be.Uint16(e[16:])}
		}
		// Some senders cut the statistics short; keep what is there.
		st.Statistics = bytes.Clone(rd[1+18*n:])
		r.Status = st
	default:
		r.Data = bytes.Clone(rd)
	}
	return r, start + rdlen, nil
}
