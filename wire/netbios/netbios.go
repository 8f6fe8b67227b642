// Package netbios encodes and decodes NetBIOS names (RFC 1001 §14, RFC 1002
// §4.1): 16-byte names with a suffix, first-level encoding, and the
// second-level wire form with an optional scope and the label pointers the
// name service uses.
package netbios

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Name is a NetBIOS name: 15 bytes of name, space padded, and a suffix byte
// (the resource type), plus an optional scope ("corp.example").
type Name struct {
	Raw   [16]byte
	Scope string
}

// Well-known suffixes.
const (
	Workstation   byte = 0x00 // computer or workgroup name
	Messenger     byte = 0x03
	Server        byte = 0x20
	DomainMaster  byte = 0x1B
	DomainControl byte = 0x1C
	MasterBrowser byte = 0x1D // local master browser of a workgroup (unique)
	BrowserElect  byte = 0x1E // browser servers of a workgroup (group)
)

// Wildcard is "*" followed by 15 NUL bytes: the name a node status
// request asks for.
var Wildcard = Name{Raw: [16]byte{'*'}}

// MSBrowse is "\x01\x02__MSBROWSE__\x02\x01", the group name of all local
// master browsers (suffix 0x01 is part of the 16 bytes).
var MSBrowse = Name{Raw: [16]byte{1, 2, '_', '_', 'M', 'S', 'B', 'R', 'O', 'W', 'S', 'E', '_', '_', 2, 1}}

// ErrName is wrapped by every error about a malformed name.
var ErrName = errors.New("netbios: invalid name")

// New makes a name from up to 15 bytes, upper-cased and space padded.
func New(name string, suffix byte) (Name, error) {
	if len(name) == 0 || len(name) > 15 {
		return Name{}, fmt.Errorf("%w: %q must be 1 to 15 bytes", ErrName, name)
	}
	var n Name
	copy(n.Raw[:15], strings.ToUpper(name))
	for i := len(name); i < 15; i++ {
		n.Raw[i] = ' '
	}
	n.Raw[15] = suffix
	return n, nil
}

// MustNew is New for names known to be valid; it panics otherwise.
func MustNew(name string, suffix byte) Name {
	n, err := New(name, suffix)
	if err != nil {
		panic(err)
	}
	return n
}

// Suffix returns the resource type byte.
func (n Name) Suffix() byte { return n.Raw[15] }

// Base returns the name without padding or suffix ("SAMBASRV").
func (n Name) Base() string { return strings.TrimRight(string(n.Raw[:15]), " ") }

// String formats the name as tshark does: bytes that are not printable
// ASCII as <xx>, trailing spaces dropped, then the suffix as <xx>, then
// ".scope" if any. For example SAMBASRV<00> and TESTGRP<1d>.corp.example.
func (n Name) String() string {
	var b strings.Builder
	name := n.Raw[:15]
	end := len(name)
	for end > 0 && name[end-1] == ' ' {
		end--
	}
	for _, c := range name[:end] {
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "<%02x>", c)
		}
	}
	fmt.Fprintf(&b, "<%02x>", n.Raw[15])
	if n.Scope != "" {
		b.WriteString("." + n.Scope)
	}
	return b.String()
}

// Parse parses the String form: NAME<xx>[.scope], with <xx> escapes allowed
// anywhere in the name. The suffix is the last <xx> that ends the string or
// is followed by ".scope" (so a scope cannot contain <xx> sequences).
// Letters are upper-cased and the name is space padded; "*<00>" is the
// wildcard (NUL padded, as the wire form requires).
func Parse(s string) (Name, error) {
	bad := func(why string) (Name, error) { return Name{}, fmt.Errorf("%w: %q: %s", ErrName, s, why) }
	at := -1
	for j := len(s) - 4; j >= 0; j-- {
		if _, ok := hexEscape(s[j:]); ok && (j+4 == len(s) || s[j+4] == '.') {
			at = j
			break
		}
	}
	if at < 0 {
		return bad("want NAME<xx> with a two-digit hex suffix")
	}
	suffix, _ := hexEscape(s[at:])
	scope := ""
	if at+4 < len(s) {
		scope = s[at+5:]
		if err := checkScope(scope); err != nil {
			return bad(err.Error())
		}
	}
	var name []byte
	for i := 0; i < at; {
		if c, ok := hexEscape(s[i:at]); ok {
			name = append(name, c)
			i += 4
			continue
		}
		name = append(name, s[i])
		i++
	}
	if len(name) > 15 {
		return bad("longer than 15 bytes")
	}
	// An empty name part is 15 spaces: String trims trailing spaces.
	var n Name
	pad := byte(' ')
	if string(name) == "*" {
		pad = 0
	}
	for j := 0; j < 15; j++ {
		n.Raw[j] = pad
		if j < len(name) {
			c := name[j]
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			n.Raw[j] = c
		}
	}
	n.Raw[15] = suffix
	n.Scope = scope
	return n, nil
}

func hexEscape(s string) (byte, bool) {
	if len(s) < 4 || s[0] != '<' || s[3] != '>' {
		return 0, false
	}
	hi, ok1 := unhex(s[1])
	lo, ok2 := unhex(s[2])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MaxScope is the longest scope accepted, in bytes with its dots.
const MaxScope = 200

func checkScope(scope string) error {
	if len(scope) > MaxScope {
		return errors.New("scope too long")
	}
	for _, l := range strings.Split(scope, ".") {
		if l == "" || len(l) > 63 {
			return errors.New("scope labels must be 1 to 63 bytes")
		}
	}
	return nil
}

// FirstLevel returns the 32-byte first-level encoding of the 16 raw bytes
// (each half-byte as 'A'+nibble).
func (n Name) FirstLevel() string {
	return string(n.appendFirstLevel(nil))
}

func (n Name) appendFirstLevel(b []byte) []byte {
	for _, c := range n.Raw {
		b = append(b, 'A'+c>>4, 'A'+c&0x0f)
	}
	return b
}

// WireLen is the length of the second-level form.
func (n Name) WireLen() int {
	l := 1 + 32 + 1
	if n.Scope != "" {
		l += len(n.Scope) + 1
	}
	return l
}

// Append appends the second-level (wire) form: 0x20, the 32 encoded bytes,
// the scope labels, and a terminating zero.
func (n Name) Append(b []byte) ([]byte, error) {
	if n.Scope != "" {
		if err := checkScope(n.Scope); err != nil {
			return b, fmt.Errorf("%w: scope %q: %v", ErrName, n.Scope, err)
		}
	}
	b = append(b, 32)
	b = n.appendFirstLevel(b)
	if n.Scope != "" {
		for _, l := range strings.Split(n.Scope, ".") {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
	}
	return append(b, 0), nil
}

// maxPointers bounds how many label pointers one name may follow.
const maxPointers = 8

// Decode reads a second-level name at msg[off:] and returns it with the
// offset just past it in msg. msg is the whole packet, so that label
// pointers (0xC0 0x0C) can be followed; they must point backwards.
//
// The work is bounded whatever the input: at most maxPointers jumps, the
// scope checked against MaxScope label by label, and one allocation (the
// scope string, none without a scope). The name does not alias msg.
func Decode(msg []byte, off int) (Name, int, error) {
	bad := func(format string, a ...any) (Name, int, error) {
		return Name{}, 0, fmt.Errorf("%w at offset %d: %s", ErrName, off, fmt.Sprintf(format, a...))
	}
	if off < 0 || off >= len(msg) {
		return bad("truncated")
	}
	var (
		n       Name
		scope   [MaxScope]byte // the scope, dotted, built in place
		sl      int            // its length so far
		end     = -1           // where the name ends in the original position
		pos     = off
		jumps   = 0
		labelNo = 0
	)
	for {
		if pos >= len(msg) {
			return bad("truncated")
		}
		l := int(msg[pos])
		switch {
		case l == 0:
			if labelNo == 0 {
				return bad("empty name")
			}
			if end < 0 {
				end = pos + 1
			}
			if sl > 0 {
				n.Scope = string(scope[:sl])
			}
			return n, end, nil
		case l&0xC0 == 0xC0:
			if pos+1 >= len(msg) {
				return bad("truncated pointer")
			}
			target := (l&0x3F)<<8 | int(msg[pos+1])
			if end < 0 {
				end = pos + 2
			}
			if target >= pos || jumps == maxPointers {
				return bad("label pointer to %d does not point backwards", target)
			}
			jumps++
			pos = target
			continue
		case l&0xC0 != 0:
			return bad("reserved label type %#x", l)
		}
		if pos+1+l > len(msg) {
			return bad("truncated label")
		}
		label := msg[pos+1 : pos+1+l]
		if labelNo == 0 {
			if l != 32 {
				return bad("first label is %d bytes, want 32", l)
			}
			for i := 0; i < 16; i++ {
				hi, lo := label[2*i]-'A', label[2*i+1]-'A'
				if hi > 15 || lo > 15 {
					return bad("byte %q outside A-P in the encoded name", label[2*i:2*i+2])
				}
				n.Raw[i] = hi<<4 | lo
			}
		} else {
			if bytes.IndexByte(label, '.') >= 0 {
				return bad("scope label %q contains a dot", label)
			}
			dot := 0
			if sl > 0 {
				dot = 1
			}
			if sl+dot+l > MaxScope {
				return bad("scope: longer than %d bytes", MaxScope)
			}
			if dot == 1 {
				scope[sl] = '.'
			}
			sl += dot + copy(scope[sl+dot:], label)
		}
		labelNo++
		pos += 1 + l
	}
}
