// Package browser encodes and decodes the Browser protocol frames carried on
// \MAILSLOT\BROWSE (MS-BRWS §2.2: all ten opcodes) and the LAN Manager
// announcement carried on \MAILSLOT\LANMAN.
package browser

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Mailslot names.
const (
	Mailslot       = `\MAILSLOT\BROWSE`
	LanmanMailslot = `\MAILSLOT\LANMAN`
)

// Opcode is the first byte of a browser frame.
type Opcode uint8

const (
	OpHostAnnouncement        Opcode = 0x01
	OpAnnouncementRequest     Opcode = 0x02
	OpRequestElection         Opcode = 0x08
	OpGetBackupListRequest    Opcode = 0x09
	OpGetBackupListResponse   Opcode = 0x0A
	OpBecomeBackup            Opcode = 0x0B
	OpDomainAnnouncement      Opcode = 0x0C
	OpMasterAnnouncement      Opcode = 0x0D
	OpResetStateRequest       Opcode = 0x0E
	OpLocalMasterAnnouncement Opcode = 0x0F
)

var opNames = map[Opcode]string{
	OpHostAnnouncement: "HostAnnouncement", OpAnnouncementRequest: "AnnouncementRequest",
	OpRequestElection: "RequestElection", OpGetBackupListRequest: "GetBackupListRequest",
	OpGetBackupListResponse: "GetBackupListResponse", OpBecomeBackup: "BecomeBackup",
	OpDomainAnnouncement: "DomainAnnouncement", OpMasterAnnouncement: "MasterAnnouncement",
	OpResetStateRequest: "ResetStateRequest", OpLocalMasterAnnouncement: "LocalMasterAnnouncement",
}

func (o Opcode) String() string {
	if s, ok := opNames[o]; ok {
		return s
	}
	return fmt.Sprintf("Opcode(%#02x)", uint8(o))
}

// ServerType is the SV_TYPE_* bit set (MS-RAP §2.5.5.2.1).
type ServerType uint32

const (
	Workstation      ServerType = 0x00000001
	Server           ServerType = 0x00000002
	SQLServer        ServerType = 0x00000004
	DomainCtrl       ServerType = 0x00000008
	DomainBakCtrl    ServerType = 0x00000010
	TimeSource       ServerType = 0x00000020
	AFP              ServerType = 0x00000040
	Novell           ServerType = 0x00000080
	DomainMember     ServerType = 0x00000100
	PrintQServer     ServerType = 0x00000200
	DialinServer     ServerType = 0x00000400
	ServerUnix       ServerType = 0x00000800
	NT               ServerType = 0x00001000
	WFW              ServerType = 0x00002000
	ServerMFPN       ServerType = 0x00004000
	ServerNT         ServerType = 0x00008000
	PotentialBrowser ServerType = 0x00010000
	BackupBrowser    ServerType = 0x00020000
	MasterBrowser    ServerType = 0x00040000
	DomainMaster     ServerType = 0x00080000
	ServerOSF        ServerType = 0x00100000
	ServerVMS        ServerType = 0x00200000
	Windows          ServerType = 0x00400000
	DFS              ServerType = 0x00800000
	AlternateXport   ServerType = 0x20000000
	LocalListOnly    ServerType = 0x40000000
	DomainEnum       ServerType = 0x80000000
)

var typeNames = []struct {
	bit  ServerType
	name string
}{
	{Workstation, "WORKSTATION"}, {Server, "SERVER"}, {SQLServer, "SQLSERVER"}, {DomainCtrl, "DOMAIN_CTRL"},
	{DomainBakCtrl, "DOMAIN_BAKCTRL"}, {TimeSource, "TIME_SOURCE"}, {AFP, "AFP"}, {Novell, "NOVELL"},
	{DomainMember, "DOMAIN_MEMBER"}, {PrintQServer, "PRINTQ_SERVER"}, {DialinServer, "DIALIN_SERVER"},
	{ServerUnix, "SERVER_UNIX"}, {NT, "NT"}, {WFW, "WFW"}, {ServerMFPN, "SERVER_MFPN"}, {ServerNT, "SERVER_NT"},
	{PotentialBrowser, "POTENTIAL_BROWSER"}, {BackupBrowser, "BACKUP_BROWSER"}, {MasterBrowser, "MASTER_BROWSER"},
	{DomainMaster, "DOMAIN_MASTER"}, {ServerOSF, "SERVER_OSF"}, {ServerVMS, "SERVER_VMS"}, {Windows, "WINDOWS"},
	{DFS, "DFS"}, {AlternateXport, "ALTERNATE_XPORT"}, {LocalListOnly, "LOCAL_LIST_ONLY"}, {DomainEnum, "DOMAIN_ENUM"},
}

// Names returns the names of the set bits, unknown bits as hex.
func (t ServerType) Names() []string {
	var out []string
	rest := t
	for _, n := range typeNames {
		if t&n.bit != 0 {
			out = append(out, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		out = append(out, fmt.Sprintf("%#08x", uint32(rest)))
	}
	return out
}

func (t ServerType) String() string {
	if t == 0 {
		return "0"
	}
	return strings.Join(t.Names(), "|")
}

// Frame is one browser frame.
type Frame interface {
	Opcode() Opcode
	// Append encodes the frame.
	Append(b []byte) ([]byte, error)
}

// Errors.
var (
	ErrMalformed = errors.New("browser: malformed frame")
	ErrField     = errors.New("browser: field does not fit")
)

// Announcement is HostAnnouncement (0x01), LocalMasterAnnouncement (0x0F)
// or DomainAnnouncement (0x0C): they share one layout. In a
// DomainAnnouncement ServerName holds the workgroup, Comment the local master
// browser's name, and the four version/signature bytes are one unused field.
type Announcement struct {
	Op           Opcode     `json:"op"`
	UpdateCount  uint8      `json:"update_count"`
	Periodicity  uint32     `json:"periodicity"` // milliseconds
	ServerName   string     `json:"server_name"` // ≤ 15 bytes, NUL-padded to 16 on the wire
	OSMajor      uint8      `json:"os_major"`
	OSMinor      uint8      `json:"os_minor"`
	Type         ServerType `json:"type"`
	BrowserMajor uint8      `json:"browser_major"` // 0x0F
	BrowserMinor uint8      `json:"browser_minor"` // 0x01
	Signature    uint16     `json:"signature"`     // 0xAA55
	Comment      string     `json:"comment"`       // ≤ 43 bytes
}

// NewHostAnnouncement fills the constant fields as Windows does.
func NewHostAnnouncement(server string, periodicityMS uint32, t ServerType, comment string) *Announcement {
	return &Announcement{Op: OpHostAnnouncement, Periodicity: periodicityMS, ServerName: server, OSMajor: 10,
		Type: t, BrowserMajor: 0x0F, BrowserMinor: 0x01, Signature: 0xAA55, Comment: comment}
}

func (a *Announcement) Opcode() Opcode { return a.Op }

func (a *Announcement) Append(b []byte) ([]byte, error) {
	if a.Op != OpHostAnnouncement && a.Op != OpLocalMasterAnnouncement && a.Op != OpDomainAnnouncement {
		return b, fmt.Errorf("%w: opcode %v is not an announcement", ErrField, a.Op)
	}
	if err := check("server name", a.ServerName, 15); err != nil {
		return b, err
	}
	if err := check("comment", a.Comment, 43); err != nil {
		return b, err
	}
	le := binary.LittleEndian
	b = append(b, byte(a.Op), a.UpdateCount)
	b = le.AppendUint32(b, a.Periodicity)
	var name [16]byte
	copy(name[:], a.ServerName)
	b = append(b, name[:]...)
	b = append(b, a.OSMajor, a.OSMinor)
	b = le.AppendUint32(b, uint32(a.Type))
	b = append(b, a.BrowserMajor, a.BrowserMinor)
	b = le.AppendUint16(b, a.Signature)
	b = append(b, a.Comment...)
	return append(b, 0), nil
}

// AnnouncementRequest (0x02) asks servers to announce themselves.
type AnnouncementRequest struct {
	Reserved     uint8  `json:"reserved"`      // 0; Samba puts 0x01 here
	ResponseName string `json:"response_name"` // ≤ 15 bytes
}

func (*AnnouncementRequest) Opcode() Opcode { return OpAnnouncementRequest }

func (r *AnnouncementRequest) Append(b []byte) ([]byte, error) {
	if err := check("response name", r.ResponseName, 15); err != nil {
		return b, err
	}
	b = append(b, byte(OpAnnouncementRequest), r.Reserved)
	b = append(b, r.ResponseName...)
	return append(b, 0), nil
}

// RequestElection (0x08) starts or takes part in a browser election.
type RequestElection struct {
	Version    uint8  `json:"version"` // 1
	Criteria   uint32 `json:"criteria"`
	Uptime     uint32 `json:"uptime"` // MS-BRWS says seconds; Samba sends milliseconds
	Unused     uint32 `json:"unused"`
	ServerName string `json:"server_name"`
}

func (*RequestElection) Opcode() Opcode { return OpRequestElection }

func (r *RequestElection) Append(b []byte) ([]byte, error) {
	if err := check("server name", r.ServerName, 15); err != nil {
		return b, err
	}
	le := binary.LittleEndian
	b = append(b, byte(OpRequestElection), r.Version)
	b = le.AppendUint32(b, r.Criteria)
	b = le.AppendUint32(b, r.Uptime)
	b = le.AppendUint32(b, r.Unused)
	b = append(b, r.ServerName...)
	return append(b, 0), nil
}

// GetBackupListRequest (0x09) asks the master browser for backup browsers.
type GetBackupListRequest struct {
	RequestedCount uint8  `json:"requested_count"` // Windows asks for 4
	Token          uint32 `json:"token"`
}

func (*GetBackupListRequest) Opcode() Opcode { return OpGetBackupListRequest }

func (r *GetBackupListRequest) Append(b []byte) ([]byte, error) {
	b = append(b, byte(OpGetBackupListRequest), r.RequestedCount)
	return binary.LittleEndian.AppendUint32(b, r.Token), nil
}

// GetBackupListResponse (0x0A) lists backup browsers.
type GetBackupListResponse struct {
	Token   uint32   `json:"token"` // echoed from the request
	Servers []string `json:"servers"`
}

func (*GetBackupListResponse) Opcode() Opcode { return OpGetBackupListResponse }

func (r *GetBackupListResponse) Append(b []byte) ([]byte, error) {
	if len(r.Servers) > 255 {
		return b, fmt.Errorf("%w: %d servers", ErrField, len(r.Servers))
	}
	b = append(b, byte(OpGetBackupListResponse), byte(len(r.Servers)))
	b = binary.LittleEndian.AppendUint32(b, r.Token)
	for _, s := range r.Servers {
		if err := check("server name", s, 15); err != nil {
			return b, err
		}
		b = append(append(b, s...), 0)
	}
	return b, nil
}

// NameFrame is a frame that carries one name: BecomeBackup (0x0B, the
// browser to promote) or MasterAnnouncement (0x0D, the master browser).
type NameFrame struct {
	Op   Opcode `json:"op"`
	Name string `json:"name"`
}

func (f *NameFrame) Opcode() Opcode { return f.Op }

func (f *NameFrame) Append(b []byte) ([]byte, error) {
	if f.Op != OpBecomeBackup && f.Op != OpMasterAnnouncement {
		return b, fmt.Errorf("%w: opcode %v does not carry a single name", ErrField, f.Op)
	}
	if err := check("name", f.Name, 15); err != nil {
		return b, err
	}
	b = append(b, byte(f.Op))
	b = append(b, f.Name...)
	return append(b, 0), nil
}

// ResetStateRequest (0x0E) tells a browser to stop being one.
type ResetStateRequest struct {
	Type uint8 `json:"type"` // 0x01 stop being master, 0x02 clear all, 0x04 stop browsing
}

func (*ResetStateRequest) Opcode() Opcode { return OpResetStateRequest }

func (r *ResetStateRequest) Append(b []byte) ([]byte, error) {
	return append(b, byte(OpResetStateRequest), r.Type), nil
}

func check(what, s string, max int) error {
	if len(s) > max || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s %q (at most %d bytes, no NUL)", ErrField, what, s, max)
	}
	return nil
}

// Decode parses the mailslot data of a \MAILSLOT\BROWSE message. Strings
// end at their NUL or at the end of the frame (some senders omit it).
func Decode(b []byte) (Frame, error) {
	bad := func(format string, a ...any) (Frame, error) {
		return nil, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) == 0 {
		return bad("empty")
	}
	le := binary.LittleEndian
	op := Opcode(b[0])
	need := func(n int) bool { return len(b) >= n }
	switch op {
	case OpHostAnnouncement, OpLocalMasterAnnouncement, OpDomainAnnouncement:
		a := new(Announcement)
		if err := DecodeAnnouncement(b, a); err != nil {
			return nil, err
		}
		return a, nil
	case OpAnnouncementRequest:
		if !need(2) {
			return bad("truncated AnnouncementRequest")
		}
		// Samba writes the name one byte late: skip leading NULs.
		return &AnnouncementRequest{Reserved: b[1], ResponseName: cstring(bytes.TrimLeft(b[2:], "\x00"))}, nil
	case OpRequestElection:
		if !need(14) {
			return bad("RequestElection of %d bytes, want at least 14", len(b))
		}
		return &RequestElection{Version: b[1], Criteria: le.Uint32(b[2:]), Uptime: le.Uint32(b[6:]), Unused: le.Uint32(b[10:]),
			ServerName: cstring(b[14:])}, nil
	case OpGetBackupListRequest:
		if !need(6) {
			return bad("GetBackupListRequest of %d bytes, want 6", len(b))
		}
		return &GetBackupListRequest{RequestedCount: b[1], Token: le.Uint32(b[2:])}, nil
	case OpGetBackupListResponse:
		if !need(6) {
			return bad("GetBackupListResponse of %d bytes, want at least 6", len(b))
		}
		r := &GetBackupListResponse{Token: le.Uint32(b[2:])}
		rest := b[6:]
		for i := 0; i < int(b[1]); i++ {
			if len(rest) == 0 {
				return bad("GetBackupListResponse lists %d servers but holds %d", b[1], i)
			}
			n := bytes.IndexByte(rest, 0)
			if n < 0 {
				n = len(rest)
			}
			r.Servers = append(r.Servers, string(rest[:n]))
			rest = rest[min(n+1, len(rest)):]
		}
		return r, nil
	case OpBecomeBackup, OpMasterAnnouncement:
		return &NameFrame{Op: op, Name: cstring(b[1:])}, nil
	case OpResetStateRequest:
		if !need(2) {
			return bad("truncated ResetStateRequest")
		}
		return &ResetStateRequest{Type: b[1]}, nil
	}
	return bad("unknown opcode %#02x", b[0])
}

// DecodeAnnouncement decodes a HostAnnouncement, LocalMasterAnnouncement or
// DomainAnnouncement into a, for callers that reuse one Announcement.
func DecodeAnnouncement(b []byte, a *Announcement) error {
	if len(b) < 32 {
		return fmt.Errorf("%w: announcement of %d bytes, want at least 32", ErrMalformed, len(b))
	}
	op := Opcode(b[0])
	if op != OpHostAnnouncement && op != OpLocalMasterAnnouncement && op != OpDomainAnnouncement {
		return fmt.Errorf("%w: opcode %v is not an announcement", ErrMalformed, op)
	}
	le := binary.LittleEndian
	*a = Announcement{Op: op, UpdateCount: b[1], Periodicity: le.Uint32(b[2:]), ServerName: cstring(b[6:22]),
		OSMajor: b[22], OSMinor: b[23], Type: ServerType(le.Uint32(b[24:])), BrowserMajor: b[28], BrowserMinor: b[29],
		Signature: le.Uint16(b[30:]), Comment: cstring(b[32:])}
	return nil
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// LanmanAnnouncement is the \MAILSLOT\LANMAN frame of LAN Manager 2.x: a
// host announcement (opcode 1) or announcement request (2).
type LanmanAnnouncement struct {
	Op          uint16     `json:"op"`
	Type        ServerType `json:"type"`
	OSMajor     uint8      `json:"os_major"`
	OSMinor     uint8      `json:"os_minor"`
	Periodicity uint16     `json:"periodicity"` // seconds
	ServerName  string     `json:"server_name"`
	Comment     string     `json:"comment"`
}

// Append encodes the frame.
func (l *LanmanAnnouncement) Append(b []byte) ([]byte, error) {
	if err := check("server name", l.ServerName, 15); err != nil {
		return b, err
	}
	if err := check("comment", l.Comment, 43); err != nil {
		return b, err
	}
	le := binary.LittleEndian
	b = le.AppendUint16(b, l.Op)
	b = le.AppendUint32(b, uint32(l.Type))
	b = append(b, l.OSMajor, l.OSMinor)
	b = le.AppendUint16(b, l.Periodicity)
	b = append(append(b, l.ServerName...), 0)
	return append(append(b, l.Comment...), 0), nil
}

// DecodeLanman parses a \MAILSLOT\LANMAN frame.
func DecodeLanman(b []byte) (*LanmanAnnouncement, error) {
	if len(b) < 10 {
		return nil, fmt.Errorf("%w: LANMAN frame of %d bytes, want at least 10", ErrMalformed, len(b))
	}
	le := binary.LittleEndian
	l := &LanmanAnnouncement{Op: le.Uint16(b), Type: ServerType(le.Uint32(b[2:])), OSMajor: b[6], OSMinor: b[7], Periodicity: le.Uint16(b[8:])}
	rest := b[10:]
	l.ServerName = cstring(rest)
	if i := bytes.IndexByte(rest, 0); i >= 0 {
		l.Comment = cstring(rest[i+1:])
	}
	return l, nil
}
