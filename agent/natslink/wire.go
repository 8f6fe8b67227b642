package natslink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/wire/netbios"
)

// Subjects. Every token is escaped with Token.
//
//	mailslot.<WG>.bcast.<SLOT>  a group write to workgroup WG (any suffix)
//	mailslot.<WG>.host.<NAME>   a write to the host NAME of workgroup WG
//	mailslot.<WG>.agents        the directory: agents announce themselves
//	mailslot.<WG>.who.<NAME>    request: the agent of NAME replies with its announcement
//	mailslot.<WG>.relay.<ID>    writes for a host without an agent, to the agent ID relays them
//
// Agents publish writes as envelopes (EnvelopeMagic); other programs may
// also publish one write per message, plain or with these headers.
const subjectRoot = "mailslot"

// Headers of the header format: one write per message, the body is the
// mailslot message itself. All are optional for a publisher that is not
// an agent (Path is required on host and relay subjects, Dest on relay).
const (
	HdrOrigin   = "Mailslot-Origin"      // id of the agent that published it
	HdrSource   = "Mailslot-Source"      // the sender's NetBIOS name (default "NATS")
	HdrAddr     = "Mailslot-Addr"        // the sender's IP:port
	HdrPath     = "Mailslot-Path"        // the exact mailslot path (default: the subject's SLOT token)
	HdrDest     = "Mailslot-Dest"        // destination NetBIOS name, NAME<xx> (default: WG<00> or NAME<00>)
	HdrDgramID  = "Mailslot-Datagram-Id" // the NetBIOS datagram ID on the origin LAN (decimal)
	HdrLANs     = "Mailslot-Lan"         // comma-separated subnets that already got it by broadcast
	defaultFrom = "NATS"
)

// Token escapes s for use as one subject token: mailslot names are
// case-insensitive, so it is upper-cased; `\` becomes `/`; '.', '*', '>',
// '%', spaces, controls and non-ASCII bytes become %XX.
func Token(s string) string { return string(appendToken(nil, s)) }

// appendToken appends Token(s) to b; the publishing path builds subjects
// in a buffer on its stack with it.
func appendToken[S string | []byte](b []byte, s S) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			b = append(b, c-('a'-'A'))
		case c == '\\':
			b = append(b, '/')
		case c <= ' ' || c >= 0x7f || c == '.' || c == '*' || c == '>' || c == '%':
			b = append(b, '%', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return b
}

// tokenMatches reports whether tok is Token(path), up to the case of its
// letters, without allocating.
func tokenMatches(path, tok string) bool {
	var buf [3 * maxPath]byte
	if len(path) > maxPath {
		return false
	}
	want := appendToken(buf[:0], path)
	if len(want) != len(tok) {
		return false
	}
	for i, c := range want {
		t := tok[i]
		if t >= 'a' && t <= 'z' {
			t -= 'a' - 'A'
		}
		if c != t {
			return false
		}
	}
	return true
}

// untoken reverses Token (up to case): `/` becomes `\`.
func untoken(t string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; c {
		case '%':
			if i+2 >= len(t) {
				return "", errors.New("natslink: bad escape in subject token")
			}
			v, err := strconv.ParseUint(t[i+1:i+3], 16, 8)
			if err != nil {
				return "", errors.New("natslink: bad escape in subject token")
			}
			b.WriteByte(byte(v))
			i += 2
		case '/':
			b.WriteByte('\\')
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// BcastSubject is the subject of group writes to workgroup wg, mailslot path.
func BcastSubject(wg, path string) string { return string(appendSubject(nil, wg, kindBcast, path)) }

// HostSubject is the subject of writes to host of workgroup wg.
func HostSubject(wg, host string) string { return string(appendSubject(nil, wg, kindHost, host)) }

func agentsSubject(wg string) string { return subjectRoot + "." + Token(wg) + ".agents" }

func whoSubject(wg, host string) string { return string(appendSubject(nil, wg, "who", host)) }

// The subjects that carry writes: mailslot.<WG>.<kind>.<token>.
const (
	kindBcast = "bcast"
	kindHost  = "host"
	kindRelay = "relay"
)

// appendSubject appends mailslot.<WG>.<kind>.<Token(name)> to b.
func appendSubject[W, S string | []byte](b []byte, wg W, kind string, name S) []byte {
	b = append(b, subjectRoot+"."...)
	b = appendToken(b, wg)
	b = append(b, '.')
	b = append(b, kind...)
	b = append(b, '.')
	return appendToken(b, name)
}

// MessageID is the dedup key of a write: FNV-64a over the source and
// destination names (16 bytes each, padded as on the wire), the NetBIOS
// datagram ID (big-endian), the upper-cased path and the data. Every agent
// that sees the same datagram, on a LAN or through NATS, computes the same
// key. It runs for every write, so it hashes in place.
func MessageID(source, dest netbios.Name, dgramID uint16, path string, data []byte) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for _, c := range source.Raw {
		h = (h ^ uint64(c)) * prime
	}
	for _, c := range dest.Raw {
		h = (h ^ uint64(c)) * prime
	}
	h = (h ^ uint64(dgramID>>8)) * prime
	h = (h ^ uint64(dgramID&0xff)) * prime
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c >= 0x80: // strings.ToUpper's Unicode rules, rarely
			return messageIDSlow(source, dest, dgramID, path, data)
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '/':
			c = '\\'
		}
		h = (h ^ uint64(c)) * prime
	}
	for _, c := range data {
		h = (h ^ uint64(c)) * prime
	}
	return h
}

// messageIDSlow is MessageID for any path.
func messageIDSlow(source, dest netbios.Name, dgramID uint16, path string, data []byte) uint64 {
	h := fnv.New64a()
	h.Write(source.Raw[:])
	h.Write(dest.Raw[:])
	var id [2]byte
	binary.BigEndian.PutUint16(id[:], dgramID)
	h.Write(id[:])
	h.Write([]byte(strings.ToUpper(strings.ReplaceAll(path, "/", `\`))))
	h.Write(data)
	return h.Sum64()
}

// Message is one mailslot write as it travels through NATS.
type Message struct {
	Origin  string
	Source  netbios.Name
	Addr    netip.AddrPort
	Path    string
	Dest    netbios.Name
	DgramID uint16
	LANs    []netip.Prefix
	Data    []byte
}

// Limits on what decode accepts from the wire.
const (
	maxLANs   = 16
	maxHeader = 256 // bytes of any one header value
	maxPath   = 255 // a mailslot path, as the SMB name field allows
)

// errBadMessage is wrapped by every decode error.
var errBadMessage = errors.New("natslink: bad message")

func bad(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadMessage, fmt.Sprintf(format, a...))
}

// decode parses a message in the header format (or plain) received on a
// subject of kind
// whose last token is tok, for workgroup wg. Missing headers get their
// defaults; malformed ones fail. It never panics.
func decode(kind, tok, wg string, h nats.Header, data []byte) (Message, error) {
	var m Message
	get := func(k string) (string, error) {
		var v string
		if l := h[k]; len(l) > 0 { // the client canonicalised the keys
			v = l[0]
		}
		if len(v) > maxHeader {
			return "", bad("%s too long", k)
		}
		return v, nil
	}
	var err error
	var v string
	if m.Origin, err = get(HdrOrigin); err != nil {
		return m, err
	}
	src := defaultFrom
	if v, err = get(HdrSource); err != nil {
		return m, err
	} else if v != "" {
		src = v
	}
	if m.Source, err = netbios.New(src, netbios.Workstation); err != nil {
		return m, bad("%s: %v", HdrSource, err)
	}
	if v, err = get(HdrAddr); err != nil {
		return m, err
	} else if v != "" {
		if m.Addr, err = netip.ParseAddrPort(v); err != nil || !m.Addr.Addr().Is4() {
			return m, bad("%s %q", HdrAddr, v)
		}
	}
	if m.Path, err = get(HdrPath); err != nil {
		return m, err
	}
	dest := wg
	switch {
	case kind == kindHost || kind == kindRelay: // mailslot.<WG>.host.<NAME>: the path is a header
		if kind == kindRelay { // mailslot.<WG>.relay.<ID>: so is the destination
			dest = ""
			if len(h[HdrDest]) == 0 {
				return m, bad("%s missing", HdrDest)
			}
		} else if dest, err = untoken(tok); err != nil {
			return m, err
		}
		if m.Path == "" {
			return m, bad("%s missing", HdrPath)
		}
	case m.Path == "": // mailslot.<WG>.bcast.<SLOT>
		if m.Path, err = untoken(tok); err != nil {
			return m, err
		}
	case !strings.EqualFold(Token(m.Path), tok):
		return m, bad("path %q does not match the subject", m.Path)
	}
	if m.Path == "" || len(m.Path) > maxPath {
		return m, bad("bad path %q", m.Path)
	}
	if v, err = get(HdrDest); err != nil {
		return m, err
	} else if v != "" {
		if m.Dest, err = netbios.Parse(v); err != nil {
			return m, bad("%s: %v", HdrDest, err)
		}
	} else if m.Dest, err = netbios.New(dest, netbios.Workstation); err != nil {
		return m, bad("destination: %v", err)
	}
	if v, err = get(HdrDgramID); err != nil {
		return m, err
	} else if v != "" {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return m, bad("%s %q", HdrDgramID, v)
		}
		m.DgramID = uint16(n)
	}
	if v, err = get(HdrLANs); err != nil {
		return m, err
	} else if v != "" {
		for _, s := range strings.SplitN(v, ",", maxLANs+1) {
			p, err := netip.ParsePrefix(strings.TrimSpace(s))
			if err != nil || len(m.LANs) == maxLANs {
				return m, bad("%s %q", HdrLANs, v)
			}
			m.LANs = append(m.LANs, p.Masked())
		}
	}
	m.Data = data
	return m, nil
}
