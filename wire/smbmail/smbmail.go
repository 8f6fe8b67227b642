// Package smbmail encodes and decodes the SMB_COM_TRANSACTION "mailslot
// write" (MS-MAIL §2.2.1, MS-CIFS §2.2.4.33) that carries a remote mailslot
// message inside a NetBIOS datagram.
package smbmail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mailslot/mailslot/winerr"
)

// Style selects the header conventions of an encoded write. Receivers must
// accept both (MS-MAIL §3.2.5.1); the choice matters only to match a peer.
type Style int

const (
	// Windows pads the data to a 4-byte boundary and sets Flags 0x18,
	// Flags2 0x0004, PID 0xFEFF, MaxParameterCount 2, transaction Flags
	// 0x0002 and ParameterOffset = DataOffset, as the MS-MAIL §4 client does.
	Windows Style = iota
	// Samba writes no padding and zero header fields, as nmbd does.
	Samba
)

const (
	headerLen   = 32
	wordCount   = 17
	nameOffset  = headerLen + 1 + 2*wordCount + 2 // 69
	commandCode = 0x25

	// MaxSMB is the largest mailslot write Windows sends (MS-MAIL <2>).
	MaxSMB = 512
	// MaxNameAndData bounds the mailslot name (with its NUL) plus the data
	// over NetBIOS over TCP (MS-MAIL §2.1): 512 - 69.
	MaxNameAndData = MaxSMB - nameOffset
	// Prefix starts every mailslot name on the wire.
	Prefix = `\MAILSLOT\`

	// Opcode is MailSlotOpcode 1, "write mailslot".
	Opcode = 1
	// ClassUnreliable is class 2 (second class, may be broadcast), what
	// Windows and Samba send. ClassReliable (1) is never broadcast.
	ClassUnreliable = 2
	ClassReliable   = 1
)

// Write is one mailslot write.
type Write struct {
	Name     string // `\MAILSLOT\NAME`; the prefix is case-insensitive on input
	Data     []byte // aliases the input on Decode
	Priority uint16
	Class    uint16 // 0 on encode means ClassUnreliable
	Timeout  uint32 // milliseconds; ignored by receivers

	// Header fields, filled by Decode (ignored by Append, which takes them
	// from the Style).
	Flags         uint8
	Flags2        uint16
	PID           uint16 // PIDLow
	TransFlags    uint16
	MaxParamCount uint16
	ParamOffset   uint16
	DataOffset    uint16
	ByteCount     uint16
	Padding       int // bytes between the name's NUL and the data
}

// Errors.
var (
	ErrMalformed = errors.New("smbmail: malformed mailslot write")
	ErrName      = errors.New(`smbmail: mailslot name must be ASCII \MAILSLOT\NAME`)
)

// SizeError reports a message too large for a network mailslot write. It
// carries ERROR_BAD_NETPATH (53), what Windows returns for broadcast writes
// over 424 bytes.
type SizeError struct {
	Name      string
	Size, Max int
	Rule      string
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("smbmail: %d bytes of data for %s exceed %s (%d)", e.Size, e.Name, e.Rule, e.Max)
}

// Win32Code returns ERROR_BAD_NETPATH.
func (e *SizeError) Win32Code() winerr.Errno { return winerr.ERROR_BAD_NETPATH }

// WireName returns the name as sent: the `\MAILSLOT\` prefix upper-cased
// (tshark only recognises that form; Windows keeps the rest as given).
func WireName(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	if name[:len(Prefix)] == Prefix {
		return name, nil
	}
	return Prefix + name[len(Prefix):], nil
}

// checkName validates a mailslot name without allocating.
func checkName(name string) error {
	if len(name) <= len(Prefix) || !strings.EqualFold(name[:len(Prefix)], Prefix) {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 || name[i] >= 0x80 {
			return fmt.Errorf("%w: %q", ErrName, name)
		}
	}
	return nil
}

// wellKnown are the names Decode returns without allocating.
var wellKnown = []string{`\MAILSLOT\BROWSE`, `\MAILSLOT\LANMAN`, `\MAILSLOT\MESSNGR`, `\MAILSLOT\NET\NETLOGON`, `\MAILSLOT\NET\NTLOGON`}

func internName(b []byte) string {
	for _, n := range wellKnown {
		if string(b) == n {
			return n
		}
	}
	return string(b)
}

// MaxPayload is Windows' limit on the data of one write to name (MS-MAIL
// <2>): 432 minus the length of the name after `\MAILSLOT\`, rounded up to
// 4. For \MAILSLOT\BROWSE and \MAILSLOT\MESSNGR it is 424.
func MaxPayload(name string) int {
	n := len(name) - len(Prefix)
	if n < 0 {
		n = 0
	}
	return 432 - (n+3)&^3
}

// CheckPayload applies the Windows payload rule; it returns a *SizeError.
func CheckPayload(name string, size int) error {
	if max := MaxPayload(name); size > max {
		return &SizeError{Name: name, Size: size, Max: max, Rule: "the Windows limit for this name (432 - roundup4(name))"}
	}
	return nil
}

// Append encodes w in the given style. It enforces the wire limits (name +
// data ≤ 443 bytes, whole SMB ≤ 512) with a *SizeError; the stricter
// Windows payload rule is CheckPayload's, for callers that want it.
func (w *Write) Append(b []byte, style Style) ([]byte, error) {
	name, err := WireName(w.Name)
	if err != nil {
		return b, err
	}
	dataOffset := nameOffset + len(name) + 1
	if style == Windows {
		dataOffset = (dataOffset + 3) &^ 3
	}
	if n := len(name) + 1 + len(w.Data); n > MaxNameAndData {
		return b, &SizeError{Name: name, Size: len(w.Data), Max: MaxNameAndData - len(name) - 1, Rule: "the 443-byte name+data limit"}
	}
	if total := dataOffset + len(w.Data); total > MaxSMB {
		return b, &SizeError{Name: name, Size: len(w.Data), Max: MaxSMB - dataOffset, Rule: "the 512-byte SMB limit"}
	}
	class := w.Class
	if class == 0 {
		class = ClassUnreliable
	}
	var flags uint8
	var flags2, pid, maxParam, transFlags, paramOffset uint16
	if style == Windows {
		flags, flags2, pid, maxParam, transFlags, paramOffset = 0x18, 0x0004, 0xFEFF, 2, 0x0002, uint16(dataOffset)
	}
	le := binary.LittleEndian
	b = append(b, 0xFF, 'S', 'M', 'B', commandCode, 0, 0, 0, 0, flags)
	b = le.AppendUint16(b, flags2)
	b = append(b, make([]byte, 2+8+2+2)...) // PIDHigh, SecurityFeatures, Reserved, TID
	b = le.AppendUint16(b, pid)
	b = append(b, 0, 0, 0, 0) // UID, MID
	b = append(b, wordCount)
	for _, v := range []uint16{0, uint16(len(w.Data)), maxParam, 0} { // TotalParam, TotalData, MaxParam, MaxData
		b = le.AppendUint16(b, v)
	}
	b = append(b, 0, 0) // MaxSetupCount, Reserved1
	b = le.AppendUint16(b, transFlags)
	b = le.AppendUint32(b, w.Timeout)
	for _, v := range []uint16{0, 0, paramOffset, uint16(len(w.Data)), uint16(dataOffset)} { // Reserved2, ParamCount, ParamOffset, DataCount, DataOffset
		b = le.AppendUint16(b, v)
	}
	b = append(b, 3, 0) // SetupCount, Reserved3
	for _, v := range []uint16{Opcode, w.Priority, class} {
		b = le.AppendUint16(b, v)
	}
	pad := dataOffset - (nameOffset + len(name) + 1)
	b = le.AppendUint16(b, uint16(len(name)+1+pad+len(w.Data)))
	b = append(b, name...)
	b = append(b, 0)
	b = append(b, make([]byte, pad)...)
	return append(b, w.Data...), nil
}

// IsSMB reports whether b starts with the SMB1 signature.
func IsSMB(b []byte) bool { return len(b) >= 4 && string(b[:4]) == "\xffSMB" }

// Decode parses a mailslot write. It finds the data by DataOffset and
// DataCount, never by assuming padding, and checks every bound.
func Decode(b []byte) (Write, error) {
	var w Write
	bad := func(format string, a ...any) (Write, error) {
		return Write{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) < headerLen+1 {
		return bad("%d bytes, shorter than an SMB header", len(b))
	}
	if !IsSMB(b) {
		return bad(`no \xffSMB signature`)
	}
	if b[4] != commandCode {
		return bad("command %#02x is not SMB_COM_TRANSACTION (0x25)", b[4])
	}
	le := binary.LittleEndian
	w.Flags = b[9]
	w.Flags2 = le.Uint16(b[10:])
	w.PID = le.Uint16(b[26:])
	if b[headerLen] != wordCount {
		return bad("WordCount %d, want 17", b[headerLen])
	}
	if len(b) < nameOffset {
		return bad("truncated parameter words")
	}
	p := b[headerLen+1:]
	w.MaxParamCount = le.Uint16(p[4:])
	w.TransFlags = le.Uint16(p[10:])
	w.Timeout = le.Uint32(p[12:])
	w.ParamOffset = le.Uint16(p[20:])
	dataCount := le.Uint16(p[22:])
	w.DataOffset = le.Uint16(p[24:])
	if p[26] != 3 {
		return bad("SetupCount %d, want 3", p[26])
	}
	if op := le.Uint16(p[28:]); op != Opcode {
		return bad("MailSlotOpcode %d, want 1 (write)", op)
	}
	w.Priority = le.Uint16(p[30:])
	w.Class = le.Uint16(p[32:])
	w.ByteCount = le.Uint16(b[nameOffset-2:])
	nul := bytes.IndexByte(b[nameOffset:], 0)
	if nul < 0 {
		return bad("mailslot name has no terminating NUL")
	}
	name := internName(b[nameOffset : nameOffset+nul])
	if err := checkName(name); err != nil {
		return bad("%v", err)
	}
	w.Name = name
	nameEnd := nameOffset + nul + 1
	start, end := int(w.DataOffset), int(w.DataOffset)+int(dataCount)
	if start < nameEnd {
		return bad("DataOffset %d points into the mailslot name (which ends at %d)", start, nameEnd)
	}
	if end > len(b) {
		return bad("DataOffset %d + DataCount %d exceed the %d bytes present", start, dataCount, len(b))
	}
	w.Padding = start - nameEnd
	w.Data = b[start:end]
	return w, nil
}
