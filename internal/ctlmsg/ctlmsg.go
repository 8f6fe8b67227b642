// Package ctlmsg is the control protocol between local mailslot processes.
//
// A control request is a datagram sent to a slot's socket with one reply
// socket attached (SCM_RIGHTS); data messages never carry descriptors, so no
// header is needed on the data path. The request payload is one opcode byte.
// The slot answers with one Stat record on the reply socket and closes it.
package ctlmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// OpStat asks for the slot's state and whether the requester may write.
const OpStat byte = 1

const version = 1

// headerLen is the fixed part of an encoded Stat.
const headerLen = 1 + 1 + 4*3 + 4 + 8 + 4 + 4 + 4 + 4

// MaxNameLen bounds the name carried in a Stat.
const MaxNameLen = 4096

// MaxLen is the largest encoded Stat.
const MaxLen = headerLen + MaxNameLen

// Stat is a slot's answer to OpStat.
type Stat struct {
	Admitted       bool  // the requester may write
	PID, UID, GID  int   // the reader process
	MaxMessageSize int   // 0 = any
	ReadTimeoutMS  int64 // -1 = wait forever
	MessageCount   int
	NextSize       int // -1 = no message
	Quota          int
	Dropped        int    // messages refused from writers that were not admitted
	Name           string // `\\.\mailslot\...` as created
}

// ErrMalformed is returned for records that cannot be decoded.
var ErrMalformed = errors.New("ctlmsg: malformed stat record")

// Append encodes s onto b.
func (s *Stat) Append(b []byte) []byte {
	var flags byte
	if s.Admitted {
		flags = 1
	}
	b = append(b, version, flags)
	for _, v := range []int{s.PID, s.UID, s.GID, s.MaxMessageSize} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(s.ReadTimeoutMS))
	for _, v := range []int{s.MessageCount, s.NextSize, s.Quota, s.Dropped} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	name := s.Name
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen]
	}
	return append(b, name...)
}

// Decode parses an encoded Stat.
func Decode(b []byte) (Stat, error) {
	var s Stat
	if len(b) < headerLen {
		return s, fmt.Errorf("%w: %d bytes, want at least %d", ErrMalformed, len(b), headerLen)
	}
	if b[0] != version {
		return s, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	if b[1]&^1 != 0 {
		return s, fmt.Errorf("%w: flags %#x", ErrMalformed, b[1])
	}
	if len(b)-headerLen > MaxNameLen {
		return s, fmt.Errorf("%w: name too long", ErrMalformed)
	}
	s.Admitted = b[1] == 1
	u32 := func(off int) int { return int(int32(binary.LittleEndian.Uint32(b[off:]))) }
	s.PID, s.UID, s.GID, s.MaxMessageSize = u32(2), int(binary.LittleEndian.Uint32(b[6:])), int(binary.LittleEndian.Uint32(b[10:])), u32(14)
	s.ReadTimeoutMS = int64(binary.LittleEndian.Uint64(b[18:]))
	s.MessageCount, s.NextSize, s.Quota, s.Dropped = u32(26), u32(30), u32(34), u32(38)
	s.Name = string(b[headerLen:])
	return s, nil
}
