// Package wincase upper-cases text as Windows does when it compares names:
// with the Windows 8 Upper Case Mapping Table (MS-FSA §3.1.5.3,
// MS-UCODEREF §3.1.5.3), not with Unicode's case mapping. The two differ:
// Windows keeps ı and I, ſ and S, µ and Μ, ς and Σ, ǅ and Ǆ, Georgian
// Mkhedruli and Mtavruli, Cherokee small and capital letters, and every
// pair outside the BMP apart, where unicode.ToUpper joins them.
//
// The table maps each UTF-16 code unit on its own, and only BMP code units
// to BMP code units, so upper-casing never changes a string's length in
// UTF-16 code units (it may change its length in UTF-8 bytes: ɐ is 2 bytes,
// its upper case Ɐ 3).
package wincase

import (
	"strings"
	"unicode/utf8"
)

//go:generate go run ./gen -in gen/upcase.txt -out table.go

// ToUpper returns the upper case of r in the Windows table, or r itself
// when the table has no entry for it.
func ToUpper(r rune) rune {
	switch {
	case r < utf8.RuneSelf:
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	case r > 0xFFFF:
		return r // the table has no surrogates: astral characters stay
	}
	p := pageOf[r>>8]
	if p == 0 {
		return r
	}
	if u := pages[p-1][r&0xFF]; u != 0 {
		return rune(u)
	}
	return r
}

// Fold returns s with every character upper-cased by ToUpper. Bytes that
// are not valid UTF-8 are kept as they are. It returns s itself, without
// allocating, when nothing changes, and allocates once otherwise.
func Fold(s string) string {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				return fold(s, i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if ToUpper(r) != r {
			return fold(s, i)
		}
		i += n
	}
	return s
}

// fold upper-cases s from byte i on, where the first change is.
func fold(s string, i int) string {
	var b strings.Builder
	// A mapping grows a character by at most one byte (2 to 3 bytes, as
	// ɐ to Ɐ), so this is the only allocation.
	b.Grow(len(s) + (len(s)-i)/2)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			b.WriteByte(byte(ToUpper(rune(c))))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(c)
		} else {
			b.WriteRune(ToUpper(r))
		}
		i += n
	}
	return b.String()
}
