package natslink

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"github.com/mailslot/mailslot/wire/netbios"
)

// The envelope is how agents carry writes through NATS: one NATS message
// without headers holds one or more writes published to the same subject
// (docs/design.md, "Subjects and payload", has the byte layout). Agents
// batch the writes that are pending when their publisher wakes up, so a
// burst costs one NATS message per batch, and a lone write is sent at
// once, alone. All integers are big-endian.
//
//	envelope: magic "\x89MSL" | version 1 | origin length (0..64) | origin | record...
//	record:   source name (16) | destination name (16) | datagram ID (2) |
//	          sender IPv4 (4) | sender port (2) | subnet count (0..16) |
//	          subnets (IPv4 (4) | prefix length (1))... |
//	          path length (1..255) | path | data length (0..1024) | data

// EnvelopeMagic starts every envelope. A message without headers whose
// body does not start with it is one plain write (the body is the data).
const EnvelopeMagic = "\x89MSL"

// EnvelopeVersion is the envelope version this package writes and reads;
// an envelope of another version is refused (counted as malformed).
const EnvelopeVersion = 1

// Limits of the envelope.
const (
	maxOrigin     = 64   // bytes of the publishing agent's id
	maxRecordData = 1024 // bytes of data in one record: more than any mailslot datagram
	maxRecords    = 4096 // records in one envelope
	// maxEnvelope bounds the envelopes this package writes (and the
	// server's max_payload bounds them further); the reader is bounded by
	// what the client accepts.
	maxEnvelope  = 64 << 10
	envHeaderLen = len(EnvelopeMagic) + 2 // + the origin
	recordFixed  = 16 + 16 + 2 + 4 + 2 + 1
	// maxRecordLen is the largest record.
	maxRecordLen = recordFixed + 5*maxLANs + 1 + maxPath + 2 + maxRecordData
)

// isEnvelope reports whether body is meant as an envelope (of any version).
func isEnvelope(body []byte) bool { return bytes.HasPrefix(body, []byte(EnvelopeMagic)) }

// appendEnvelopeHeader starts an envelope from the agent with id origin
// (at most maxOrigin bytes; longer is cut).
func appendEnvelopeHeader(b []byte, origin string) []byte {
	origin = origin[:min(len(origin), maxOrigin)]
	b = append(b, EnvelopeMagic...)
	b = append(b, EnvelopeVersion, byte(len(origin)))
	return append(b, origin...)
}

// recordLen is the size of m's record; 0 when m cannot be one (a path or
// data too long, too many subnets): the caller drops it.
func (m *Message) recordLen() int {
	if len(m.Path) == 0 || len(m.Path) > maxPath || len(m.Data) > maxRecordData || len(m.LANs) > maxLANs {
		return 0
	}
	return recordFixed + 5*len(m.LANs) + 1 + len(m.Path) + 2 + len(m.Data)
}

// appendRecord appends m as one record; m.recordLen() must be non-zero.
// An address or subnet that is not IPv4 is written as none / 0.0.0.0/0.
func (m *Message) appendRecord(b []byte) []byte {
	b = append(b, m.Source.Raw[:]...)
	b = append(b, m.Dest.Raw[:]...)
	b = binary.BigEndian.AppendUint16(b, m.DgramID)
	var ip [4]byte
	var port uint16
	if m.Addr.Addr().Is4() {
		ip, port = m.Addr.Addr().As4(), m.Addr.Port()
	}
	b = append(b, ip[:]...)
	b = binary.BigEndian.AppendUint16(b, port)
	b = append(b, byte(len(m.LANs)))
	for _, p := range m.LANs {
		var a [4]byte
		bits := 0
		if p.Addr().Is4() {
			a, bits = p.Addr().As4(), p.Bits()
		}
		b = append(append(b, a[:]...), byte(bits))
	}
	b = append(b, byte(len(m.Path)))
	b = append(b, m.Path...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Data)))
	return append(b, m.Data...)
}

// envError is a decoding error of the envelope: a constant, so that
// refusing garbage allocates nothing either. It wraps errBadMessage.
type envError string

func (e envError) Error() string { return "natslink: bad envelope: " + string(e) }
func (envError) Unwrap() error   { return errBadMessage }

// record is one decoded record; its slices alias the envelope.
type record struct {
	source, dest netbios.Name
	id           uint16
	addr         netip.AddrPort
	lans         [maxLANs]netip.Prefix
	nlans        int
	path, data   []byte
}

// envelopeRecords checks the envelope header of body and returns the
// origin and the records, not yet checked.
func envelopeRecords(body []byte) (origin, records []byte, err error) {
	if len(body) < envHeaderLen || !isEnvelope(body) {
		return nil, nil, envError("short envelope")
	}
	if body[len(EnvelopeMagic)] != EnvelopeVersion {
		return nil, nil, envError("unknown version")
	}
	n := int(body[len(EnvelopeMagic)+1])
	if n > maxOrigin || len(body) < envHeaderLen+n {
		return nil, nil, envError("bad origin length")
	}
	return body[envHeaderLen : envHeaderLen+n], body[envHeaderLen+n:], nil
}

// envelope is an envelope whose every record has been checked.
type envelope struct {
	origin, records []byte
	n               int // records
}

// parseEnvelope checks the whole envelope body: a malformed one is
// refused whole. It never panics and allocates nothing; its work is
// bounded by len(body) and maxRecords.
func parseEnvelope(body []byte) (envelope, error) {
	origin, recs, err := envelopeRecords(body)
	if err != nil {
		return envelope{}, err
	}
	var r record
	n := 0
	for b := recs; len(b) > 0; n++ {
		if n == maxRecords {
			return envelope{}, envError("too many records")
		}
		if b, err = r.decode(b); err != nil {
			return envelope{}, err
		}
	}
	if n == 0 {
		return envelope{}, envError("no records")
	}
	return envelope{origin: origin, records: recs, n: n}, nil
}

// next decodes the next record into r (the caller's, so that it stays on
// its stack); false when there are no more.
func (e *envelope) next(r *record) bool {
	if len(e.records) == 0 {
		return false
	}
	e.records, _ = r.decode(e.records)
	return true
}

// decode reads one record from the start of b and returns the rest.
func (r *record) decode(b []byte) ([]byte, error) {
	if len(b) < recordFixed {
		return nil, envError("short record")
	}
	var ok bool
	if r.source, ok = rawName(b[0:16]); !ok {
		return nil, envError("bad source name")
	}
	if r.dest, ok = rawName(b[16:32]); !ok {
		return nil, envError("bad destination name")
	}
	r.id = binary.BigEndian.Uint16(b[32:34])
	ip := netip.AddrFrom4([4]byte(b[34:38]))
	port := binary.BigEndian.Uint16(b[38:40])
	switch {
	case ip.IsUnspecified() && port != 0:
		return nil, envError("port without address")
	case ip.IsUnspecified():
		r.addr = netip.AddrPort{}
	default:
		r.addr = netip.AddrPortFrom(ip, port)
	}
	r.nlans = int(b[40])
	b = b[recordFixed:]
	if r.nlans > maxLANs || len(b) < 5*r.nlans {
		return nil, envError("bad subnet count")
	}
	for i := range r.nlans {
		if b[4] > 32 { // checked here: Prefix's error would allocate
			return nil, envError("bad prefix length")
		}
		p, _ := netip.AddrFrom4([4]byte(b[:4])).Prefix(int(b[4]))
		r.lans[i], b = p, b[5:]
	}
	if len(b) < 1 {
		return nil, envError("short record")
	}
	n := int(b[0])
	if n == 0 || len(b) < 1+n {
		return nil, envError("bad path length")
	}
	r.path, b = b[1:1+n], b[1+n:]
	if bytes.IndexByte(r.path, 0) >= 0 {
		return nil, envError("NUL in path")
	}
	if len(b) < 2 {
		return nil, envError("short record")
	}
	n = int(binary.BigEndian.Uint16(b))
	if n > maxRecordData || len(b) < 2+n {
		return nil, envError("bad data length")
	}
	r.data = b[2 : 2+n]
	return b[2+n:], nil
}

// rawName takes a NetBIOS name as 16 bytes (15 space-padded, then the
// suffix), upper-casing its letters as netbios.New does; the name must
// not be empty.
func rawName(b []byte) (netbios.Name, bool) {
	var n netbios.Name
	copy(n.Raw[:], b)
	if n.Raw[0] == ' ' {
		return n, false
	}
	for i, c := range n.Raw[:15] {
		if c >= 'a' && c <= 'z' {
			n.Raw[i] = c - ('a' - 'A')
		}
	}
	return n, true
}
