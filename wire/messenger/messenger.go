// Package messenger encodes and decodes Messenger service popups sent to
// \MAILSLOT\MESSNGR ("net send"): three NUL-terminated strings From, To and
// Text in an OEM code page (MS-MSRP §3.2.4.1), with no type byte.
package messenger

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/encoding/charmap"
)

// Mailslot is the Messenger service's mailslot.
const Mailslot = `\MAILSLOT\MESSNGR`

// DefaultCodePage is the OEM code page of US Windows (437). Western European
// systems use charmap.CodePage850.
var DefaultCodePage = charmap.CodePage437

// Message is one popup.
type Message struct {
	From string `json:"from"` // sending user or computer
	To   string `json:"to"`   // recipient name, or the workgroup for a broadcast
	Text string `json:"text"`
}

// Errors.
var (
	ErrMalformed = errors.New("messenger: malformed message")
	ErrEncode    = errors.New("messenger: cannot encode")
)

// Append encodes m in code page cp (nil means DefaultCodePage). Characters
// the code page cannot represent are an error, as is a NUL in a field.
func (m *Message) Append(b []byte, cp *charmap.Charmap) ([]byte, error) {
	if cp == nil {
		cp = DefaultCodePage
	}
	enc := cp.NewEncoder()
	for _, f := range []struct{ name, s string }{{"from", m.From}, {"to", m.To}, {"text", m.Text}} {
		if strings.IndexByte(f.s, 0) >= 0 {
			return b, fmt.Errorf("%w: NUL in %s", ErrEncode, f.name)
		}
		oem, err := enc.Bytes([]byte(f.s))
		if err != nil {
			return b, fmt.Errorf("%w: %s %q is not representable in %v: %v", ErrEncode, f.name, f.s, cp, err)
		}
		b = append(append(b, oem...), 0)
	}
	return b, nil
}

// Decode parses a Messenger payload in code page cp (nil means
// DefaultCodePage). The final NUL may be missing; bytes after the third NUL
// are ignored. The strings are safe to print: control characters (other
// than tab and newline) come out as visible escapes such as \x1b, and CRLF
// becomes a newline.
func Decode(b []byte, cp *charmap.Charmap) (Message, error) {
	if cp == nil {
		cp = DefaultCodePage
	}
	fields := bytes.SplitN(b, []byte{0}, 4)
	if len(fields) < 3 {
		return Message{}, fmt.Errorf("%w: want From\\0To\\0Text, found %d NUL-terminated fields", ErrMalformed, len(fields)-1)
	}
	dec := cp.NewDecoder()
	var out [3]string
	for i := range out {
		s, err := dec.Bytes(fields[i])
		if err != nil {
			return Message{}, fmt.Errorf("%w: field %d: %v", ErrMalformed, i+1, err)
		}
		out[i] = Sanitize(string(s))
	}
	return Message{From: out[0], To: out[1], Text: out[2]}, nil
}

// Sanitize makes text safe for a terminal: CRLF becomes LF, and every other
// control character except tab and LF is replaced by a Go-style escape.
func Sanitize(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !unsafeRune(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func unsafeRune(r rune) bool {
	return r != '\t' && r != '\n' && (unicode.IsControl(r) || r == unicode.ReplacementChar ||
		unicode.In(r, unicode.Bidi_Control) || r == '\u2028' || r == '\u2029')
}
