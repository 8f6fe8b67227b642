// Package safetext makes text chosen by others safe to show on a terminal.
// Mailslot names and messages come from other users and other hosts; raw,
// a C1 CSI (U+009B) or ESC sequence could recolour, move the cursor, set
// the window title or answer back, and a bidi override (U+202E) or isolate
// could make "txt.exe" read as "exe.txt". Everything the command prints
// from such sources goes through this package.
//
// A rune is safe when it is printable in unicode.IsPrint's sense (letters,
// marks, numbers, punctuation, symbols and the ASCII space) or a tab. Every
// other rune (C0 and C1 controls, DEL, format characters such as bidi
// controls and zero-width joiners, line and paragraph separators, private
// use, unassigned) and every byte that is not UTF-8 is shown as a Go escape.
package safetext

import (
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// safe reports whether r may reach a terminal as it is.
func safe(r rune) bool { return r == '\t' || unicode.IsPrint(r) }

// IsSafe reports whether s is valid UTF-8 made only of safe runes.
func IsSafe(s string) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if !safe(rune(c)) {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !safe(r) {
			return false
		}
		i += n
	}
	return true
}

// Quote returns s itself when it is safe, else s Go-quoted (strconv.Quote),
// which escapes every unsafe rune and invalid byte. It suits values shown
// on their own: a name, a message.
func Quote(s string) string {
	if IsSafe(s) {
		return s
	}
	return strconv.Quote(s)
}

// Escape returns s with each unsafe rune replaced by its Go escape (\x1b,
// \u202e, \U000e0001) and each invalid byte by \xNN, the rest untouched. It
// suits whole lines, such as error messages, that quoting would obscure.
func Escape(s string) string {
	if IsSafe(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\x`...)
			b = append(b, hex[s[i]>>4], hex[s[i]&0xF])
		case safe(r):
			b = append(b, s[i:i+n]...)
		default:
			q := strconv.AppendQuoteRune(nil, r) // '\u202e'
			b = append(b, q[1:len(q)-1]...)
		}
		i += n
	}
	return string(b)
}

const hex = "0123456789abcdef"

// JSON returns encoded JSON with every rune that is not safe, other than
// ASCII, written as a \uXXXX escape (a surrogate pair outside the BMP).
// encoding/json already escapes C0 controls inside strings but writes DEL,
// C1 controls such as U+009B and bidi controls such as U+202E raw. Outside
// strings JSON is ASCII, so only string contents change, and they decode
// to the same text. Bytes that are not UTF-8 become \ufffd, as
// encoding/json would have written them. b is returned as is when nothing
// needs escaping.
func JSON(b []byte) []byte {
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf && b[i] != 0x7f {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || !safe(r) {
			break
		}
		i += n
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	out = append(out, b[:i]...)
	for i < len(b) {
		if b[i] < utf8.RuneSelf && b[i] != 0x7f {
			out = append(out, b[i])
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			r = utf8.RuneError
		} else if safe(r) {
			out = append(out, b[i:i+n]...)
			i += n
			continue
		}
		if r > 0xFFFF {
			hi, lo := utf16.EncodeRune(r)
			out = appendU(appendU(out, hi), lo)
		} else {
			out = appendU(out, r)
		}
		i += n
	}
	return out
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hex[r>>12&0xF], hex[r>>8&0xF], hex[r>>4&0xF], hex[r&0xF])
}
