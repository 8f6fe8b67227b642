package mailslot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mailslot/mailslot/internal/wincase"
)

// MaxPathLength is the longest mailslot path (the part after "mailslot\")
// accepted, in UTF-16 code units as Windows counts names: a character
// outside the BMP counts two. Counting code units keeps one limit for every
// spelling of a name, since the Windows upper-case table never changes the
// count (in UTF-8 bytes ɐ is 2 and its upper case Ɐ 3). It does not depend
// on Unix socket path limits: local slots are addressed by a hash of the
// name.
const MaxPathLength = 1024

// Name is a parsed mailslot name: \\Host\mailslot\Path.
type Name struct {
	// Host is "." for the local machine, "*" for the primary workgroup
	// (broadcast), else a computer or workgroup name.
	Host string
	// Path is the name below "mailslot", components separated by `\`,
	// in the case the caller wrote it (names compare case-insensitively).
	Path string
}

// IsLocal reports whether the name refers to this machine (Host ".").
func (n Name) IsLocal() bool { return n.Host == "." }

// String returns the Win32 form, e.g. `\\.\mailslot\a\b`.
func (n Name) String() string { return `\\` + n.Host + `\mailslot\` + n.Path }

// Key is the case-folded form used to compare names: two names denote the
// same mailslot exactly when their Keys are equal.
func (n Name) Key() string { return foldName(n.Host) + `\` + foldName(n.Path) }

// Equal reports whether two names denote the same mailslot.
func (n Name) Equal(m Name) bool { return n.Key() == m.Key() }

// foldName upper-cases with the Windows upper-case table, as Windows' name
// comparison does (not with Unicode's mapping: Windows keeps ı and I apart).
func foldName(s string) string {
	return wincase.Fold(s)
}

// utf16Len is the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}

// ParseName parses `\\host\mailslot\path` in Win32 form. Forward slashes are
// accepted in place of backslashes (`//./mailslot/a/b`) and "mailslot" is
// case-insensitive. Errors wrap ErrInvalidName.
func ParseName(s string) (Name, error) {
	bad := func(why string) (Name, error) {
		return Name{}, fmt.Errorf("%w %q: %s", ErrInvalidName, s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	t := strings.ReplaceAll(s, "/", `\`)
	if !strings.HasPrefix(t, `\\`) {
		return bad(`must start with \\HOST\mailslot\`)
	}
	t = t[2:]
	host, rest, ok := strings.Cut(t, `\`)
	if !ok || host == "" {
		return bad(`missing host (use \\.\mailslot\NAME for a local slot)`)
	}
	if err := checkHost(host); err != "" {
		return bad(err)
	}
	kw, path, ok := strings.Cut(rest, `\`)
	if !ok || !strings.EqualFold(kw, "mailslot") {
		return bad(`the second component must be "mailslot"`)
	}
	if path == "" {
		return bad("empty mailslot name")
	}
	// A code unit takes at most 3 UTF-8 bytes: the first test spares
	// counting huge inputs.
	if len(path) > 3*MaxPathLength || utf16Len(path) > MaxPathLength {
		return bad(fmt.Sprintf("longer than %d UTF-16 code units", MaxPathLength))
	}
	for _, part := range strings.Split(path, `\`) {
		if part == "" {
			return bad("empty path component")
		}
	}
	for _, r := range path {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`*?"<>|`, r) {
			return bad(fmt.Sprintf("character %q not allowed", r))
		}
	}
	return Name{Host: host, Path: path}, nil
}

func checkHost(h string) string {
	if h == "." || h == "*" {
		return ""
	}
	// NetBIOS computer and workgroup names: at most 15 characters.
	if len(h) > 15 {
		return "host name longer than 15 characters (NetBIOS limit)"
	}
	for _, r := range h {
		if r < 0x21 || r == 0x7f || strings.ContainsRune(`\/:*?"<>|.`, r) {
			return fmt.Sprintf("character %q not allowed in a host name", r)
		}
	}
	return ""
}
