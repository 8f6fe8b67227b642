// Package ctlmsg is the handshake a local mailslot sends on every connection
// it accepts, before anything else and without reading a byte from the
// client.
//
// A client that the slot does not admit gets a Hello with Admitted false and
// only the slot's name: nothing about its queue. An admitted client gets the
// slot's limits and a snapshot of its state, and (out of band, SCM_RIGHTS)
// the slot's quota page and its wake channel; the connection then carries
// its messages, one SOCK_SEQPACKET record each. Writer.Info and List use the same handshake
// and hang up.
package ctlmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// version 3: an admission carries the quota page and its wake channel.
const version = 3

// headerLen is the fixed part of an encoded Hello.
const headerLen = 1 + 1 + 4 + 8 + 8 + 4 + 4

// MaxNameLen bounds the name carried in a Hello.
const MaxNameLen = 4096

// MaxLen is the largest encoded Hello.
const MaxLen = headerLen + MaxNameLen

// Hello is a slot's first record on a connection.
type Hello struct {
	Admitted       bool   // the client may write; the fields below are zero otherwise
	Busy           bool   // refused because the client's user holds too many connections
	MaxMessageSize int    // 0 = any
	Quota          int64  // bytes of MessageCost the slot holds at most
	ReadTimeoutMS  int64  // -1 = wait forever
	MessageCount   int    // queued messages when the connection was accepted
	NextSize       int    // size of the head message, -1 = none
	Name           string // `\\.\mailslot\...` as created (a claim: see List)
}

// Flag values (the second byte).
const (
	flagAdmitted = 1
	flagBusy     = 2
)

// ErrMalformed is returned for records that cannot be decoded.
var ErrMalformed = errors.New("ctlmsg: malformed hello record")

// Append encodes h onto b. A denied Hello carries the name only.
func (h *Hello) Append(b []byte) []byte {
	var flags byte
	x := *h
	switch {
	case x.Admitted:
		flags = flagAdmitted
	case x.Busy:
		flags = flagBusy
		x = Hello{Name: h.Name}
	default:
		x = Hello{Name: h.Name}
	}
	b = append(b, version, flags)
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(x.MaxMessageSize)))
	b = binary.LittleEndian.AppendUint64(b, uint64(x.Quota))
	b = binary.LittleEndian.AppendUint64(b, uint64(x.ReadTimeoutMS))
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(x.MessageCount)))
	b = binary.LittleEndian.AppendUint32(b, uint32(int32(x.NextSize)))
	name := x.Name
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen]
	}
	return append(b, name...)
}

// Decode parses an encoded Hello.
func Decode(b []byte) (Hello, error) {
	var h Hello
	if len(b) < headerLen {
		return h, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(b), headerLen)
	}
	if b[0] != version {
		return h, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	if b[1] != 0 && b[1] != flagAdmitted && b[1] != flagBusy {
		return h, fmt.Errorf("%w: flags %#x", ErrMalformed, b[1])
	}
	if len(b)-headerLen > MaxNameLen {
		return h, fmt.Errorf("%w: name too long", ErrMalformed)
	}
	u32 := func(off int) int { return int(int32(binary.LittleEndian.Uint32(b[off:]))) }
	h.Admitted, h.Busy = b[1] == flagAdmitted, b[1] == flagBusy
	h.MaxMessageSize = u32(2)
	h.Quota = int64(binary.LittleEndian.Uint64(b[6:]))
	h.ReadTimeoutMS = int64(binary.LittleEndian.Uint64(b[14:]))
	h.MessageCount, h.NextSize = u32(22), u32(26)
	h.Name = string(b[headerLen:])
	if !h.Admitted && (h != Hello{Name: h.Name, Busy: h.Busy}) {
		return Hello{}, fmt.Errorf("%w: a denial carries state", ErrMalformed)
	}
	if h.MaxMessageSize < 0 || h.Quota < 0 || h.MessageCount < 0 || h.NextSize < -1 || h.ReadTimeoutMS < -1 {
		return Hello{}, fmt.Errorf("%w: negative field", ErrMalformed)
	}
	return h, nil
}
