// Package dissect turns a raw UDP payload from port 137 or 138 into a tree
// of every layer the wire packages understand, for "mailslot decode".
package dissect

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/messenger"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Result is the decoded layers; absent layers are nil.
type Result struct {
	Port      int         `json:"port"`
	Datagram  *Datagram   `json:"nbdgm,omitempty"`
	SMB       *SMB        `json:"smb,omitempty"`
	Mailslot  *Mailslot   `json:"mailslot,omitempty"`
	Browser   *Browser    `json:"browser,omitempty"`
	Lanman    *Lanman     `json:"lanman,omitempty"`
	Messenger *Messenger  `json:"messenger,omitempty"`
	Names     *nbnsPacket `json:"nbns,omitempty"`
}

type Datagram struct {
	Type       string     `json:"type"`
	TypeCode   uint8      `json:"type_code"`
	Flags      uint8      `json:"flags"`
	First      bool       `json:"first"`
	More       bool       `json:"more"`
	NodeType   uint8      `json:"node_type"` // 0 B, 1 P, 2 M, 3 H/NBDD, as tshark shows it
	ID         uint16     `json:"dgram_id"`
	SourceIP   netip.Addr `json:"source_ip"`
	SourcePort uint16     `json:"source_port"`
	Length     *uint16    `json:"dgram_len,omitempty"`
	Offset     *uint16    `json:"packet_offset,omitempty"`
	Source     string     `json:"source_name,omitempty"`
	Dest       string     `json:"destination_name,omitempty"`
	ErrorCode  *uint8     `json:"error_code,omitempty"`
	Fragment   bool       `json:"fragment"`
}

type SMB struct {
	Command       uint8  `json:"command"`
	Flags         uint8  `json:"flags"`
	Flags2        uint16 `json:"flags2"`
	PID           uint16 `json:"pid"`
	MaxParamCount uint16 `json:"max_param_count"`
	TransFlags    uint16 `json:"trans_flags"`
	Timeout       uint32 `json:"timeout"`
	ParamOffset   uint16 `json:"param_offset"`
	DataCount     int    `json:"data_count"`
	DataOffset    uint16 `json:"data_offset"`
	ByteCount     uint16 `json:"byte_count"`
	Padding       int    `json:"padding"`
}

type Mailslot struct {
	Name     string  `json:"name"`
	Opcode   int     `json:"opcode"`
	Priority uint16  `json:"priority"`
	Class    uint16  `json:"class"`
	Size     int     `json:"size"`
	DataHex  string  `json:"data_hex"`
	Text     *string `json:"text,omitempty"`
}

type Browser struct {
	Command    string   `json:"command"`
	Opcode     uint8    `json:"opcode"`
	Fields     any      `json:"fields"`
	ServerType []string `json:"server_type_names,omitempty"`
}

type Lanman struct {
	*browser.LanmanAnnouncement
	ServerTypeNames []string `json:"server_type_names"`
}

type Messenger struct {
	CodePage string `json:"code_page"`
	messenger.Message
}

type nbnsPacket struct {
	ID                 uint16     `json:"id"`
	Flags              uint16     `json:"flags"`
	Response           bool       `json:"response"`
	Opcode             uint8      `json:"opcode"`
	Authoritative      bool       `json:"authoritative"`
	Truncated          bool       `json:"truncated"`
	RecursionDesired   bool       `json:"recursion_desired"`
	RecursionAvailable bool       `json:"recursion_available"`
	Broadcast          bool       `json:"broadcast"`
	Rcode              int        `json:"rcode"`
	Questions          []question `json:"questions"`
	Answers            []resource `json:"answers"`
	Authority          []resource `json:"authority"`
	Additional         []resource `json:"additional"`
	Trailing           int        `json:"trailing_bytes,omitempty"` // bytes after the last record
}

type question struct {
	Name  string `json:"name"`
	Type  uint16 `json:"type"`
	Class uint16 `json:"class"`
}

type resource struct {
	Name      string     `json:"name"`
	Type      uint16     `json:"type"`
	Class     uint16     `json:"class"`
	TTL       uint32     `json:"ttl"`
	Addresses []address  `json:"addresses,omitempty"`
	Names     []nodeName `json:"node_names,omitempty"`
	UnitID    string     `json:"unit_id,omitempty"`
	DataHex   string     `json:"data_hex,omitempty"`
}

type address struct {
	Flags uint16     `json:"flags"`
	Group bool       `json:"group"`
	IP    netip.Addr `json:"ip"`
}

type nodeName struct {
	Name  string `json:"name"`
	Flags uint16 `json:"flags"`
	Group bool   `json:"group"`
}

const (
	layerDatagram = "NetBIOS datagram"
	layerNames    = "NetBIOS name service"
)

// Error says at which layer decoding stopped.
type Error struct {
	Layer string
	Err   error
}

func (e *Error) Error() string {
	return "decoding stopped at the " + e.Layer + " layer: " + e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// Decode dissects b. port is 137, 138 or 0 to guess (a first byte of
// 0x10-0x16 that decodes as a datagram means 138). The Result holds every
// layer understood, also when an error says where decoding stopped.
func Decode(b []byte, port int) (*Result, error) {
	switch port {
	case 137:
		return decodeNBNS(b)
	case 138:
		return decodeDatagram(b)
	case 0:
		// A datagram starts with its type, 0x10-0x16; anything else, or
		// what fails as a datagram but parses as a name service packet, is
		// taken for port 137.
		if len(b) == 0 || b[0] < 0x10 || b[0] > 0x16 {
			return decodeNBNS(b)
		}
		r, err := decodeDatagram(b)
		var derr *Error
		if errors.As(err, &derr) && derr.Layer == layerDatagram {
			// A name service packet, perhaps with trailing bytes
			// (reported in err2), is the better guess.
			if r2, err2 := decodeNBNS(b); r2.Names != nil {
				return r2, err2
			}
		}
		return r, err
	}
	return nil, fmt.Errorf("port %d is neither 137 nor 138", port)
}

func decodeDatagram(b []byte) (*Result, error) {
	r := &Result{Port: nbdgm.Port}
	p, err := nbdgm.Decode(b)
	if err != nil {
		return r, &Error{layerDatagram, err}
	}
	d := &Datagram{Type: p.Type.String(), TypeCode: uint8(p.Type), Flags: uint8(p.Flags), First: p.Flags&nbdgm.First != 0,
		More: p.Flags&nbdgm.More != 0, NodeType: uint8(p.NodeType() >> 2), ID: p.ID, SourceIP: p.SourceIP, SourcePort: p.SourcePort}
	r.Datagram = d
	switch {
	case p.Type == nbdgm.Error:
		d.ErrorCode = &p.ErrorCode
		return r, nil
	case !p.Type.HasData():
		d.Dest = p.DestName.String()
		return r, nil
	}
	d.Length, d.Offset, d.Source, d.Dest, d.Fragment = &p.Length, &p.Offset, p.SourceName.String(), p.DestName.String(), p.Fragment()
	if d.Fragment || !smbmail.IsSMB(p.Data) {
		return r, nil // user data that is not a whole SMB: nothing more to show
	}
	w, err := smbmail.Decode(p.Data)
	if err != nil {
		return r, &Error{"SMB mailslot write", err}
	}
	r.SMB = &SMB{Command: 0x25, Flags: w.Flags, Flags2: w.Flags2, PID: w.PID, MaxParamCount: w.MaxParamCount, TransFlags: w.TransFlags,
		Timeout: w.Timeout, ParamOffset: w.ParamOffset, DataCount: len(w.Data), DataOffset: w.DataOffset, ByteCount: w.ByteCount, Padding: w.Padding}
	ms := &Mailslot{Name: w.Name, Opcode: smbmail.Opcode, Priority: w.Priority, Class: w.Class, Size: int(w.ByteCount), DataHex: hex.EncodeToString(w.Data)}
	r.Mailslot = ms
	switch strings.ToUpper(w.Name) {
	case strings.ToUpper(browser.Mailslot):
		f, err := browser.Decode(w.Data)
		if err != nil {
			return r, &Error{"browser", err}
		}
		br := &Browser{Command: f.Opcode().String(), Opcode: uint8(f.Opcode()), Fields: f}
		if a, ok := f.(*browser.Announcement); ok {
			br.ServerType = a.Type.Names()
		}
		r.Browser = br
	case strings.ToUpper(browser.LanmanMailslot):
		l, err := browser.DecodeLanman(w.Data)
		if err != nil {
			return r, &Error{"LANMAN", err}
		}
		r.Lanman = &Lanman{l, l.Type.Names()}
	case strings.ToUpper(messenger.Mailslot):
		m, err := messenger.Decode(w.Data, nil)
		if err != nil {
			return r, &Error{"Messenger", err}
		}
		r.Messenger = &Messenger{CodePage: "437", Message: m}
	default:
		if s := string(w.Data); isText(s) {
			ms.Text = &s
		}
	}
	return r, nil
}

func isText(s string) bool {
	return messenger.Sanitize(s) == s && !strings.ContainsRune(s, '\uFFFD') && strings.ToValidUTF8(s, "\uFFFD") == s
}

func decodeNBNS(b []byte) (*Result, error) {
	r := &Result{Port: nbns.Port}
	p, used, err := nbns.DecodePrefix(b)
	if err != nil {
		return r, &Error{layerNames, err}
	}
	n := &nbnsPacket{ID: p.ID, Flags: p.Flags, Response: p.Response(), Opcode: uint8(p.Opcode()),
		Authoritative: p.Flags&nbns.FlagAuthoritative != 0, Truncated: p.Flags&nbns.FlagTruncated != 0,
		RecursionDesired: p.Flags&nbns.FlagRecursionDesired != 0, RecursionAvailable: p.Flags&nbns.FlagRecursionAvailable != 0,
		Broadcast: p.Flags&nbns.FlagBroadcast != 0, Rcode: p.Rcode(),
		Questions: []question{}, Answers: resources(p.Answers), Authority: resources(p.Authority), Additional: resources(p.Additional)}
	for _, q := range p.Questions {
		n.Questions = append(n.Questions, question{q.Name.String(), q.Type, q.Class})
	}
	r.Names = n
	if used < len(b) {
		// Not part of the packet: a sender that pads, or one hiding data.
		n.Trailing = len(b) - used
		return r, &Error{layerNames, fmt.Errorf("%d bytes of trailing data after the last record", n.Trailing)}
	}
	return r, nil
}

func resources(rs []nbns.Resource) []resource {
	out := []resource{}
	for _, rr := range rs {
		x := resource{Name: rr.Name.String(), Type: rr.Type, Class: rr.Class, TTL: rr.TTL}
		for _, a := range rr.Addresses {
			x.Addresses = append(x.Addresses, address{a.Flags, a.Flags&nbns.NBGroup != 0, a.IP})
		}
		if rr.Status != nil {
			for _, nn := range rr.Status.Names {
				x.Names = append(x.Names, nodeName{nn.String(), nn.Flags, nn.Flags&nbns.NBGroup != 0})
			}
			if len(rr.Status.Statistics) >= 6 {
				u := rr.Status.Statistics[:6]
				x.UnitID = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", u[0], u[1], u[2], u[3], u[4], u[5])
			}
		}
		if rr.Data != nil {
			x.DataHex = hex.EncodeToString(rr.Data)
		}
		out = append(out, x)
	}
	return out
}

// ParseHex reads hex with any whitespace, and also the text2pcap/od form in
// which each line starts with an offset: a first token of 4 or more hex
// digits followed by two-digit tokens is skipped.
func ParseHex(s string) ([]byte, error) {
	var all strings.Builder
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && len(f[0]) >= 4 && len(f[1]) == 2 {
			f = f[1:]
		}
		for _, t := range f {
			all.WriteString(t)
		}
	}
	b, err := hex.DecodeString(all.String())
	if err != nil {
		return nil, errors.New("input is not hex: " + err.Error())
	}
	return b, nil
}
