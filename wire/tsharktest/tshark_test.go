package tsharktest

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/messenger"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// dissect turns UDP payloads into a pcap with text2pcap and returns the
// requested tshark fields, one row per packet. It fails the test if tshark
// flags any packet as malformed or raises a warning about it. tshark must
// be installed (make test installs it): a missing tshark fails, never skips.
func dissect(t *testing.T, port int, packets [][]byte, fields ...string) [][]string {
	t.Helper()
	for _, tool := range []string{"tshark", "text2pcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required for the interoperability tests (run make test, which installs it): %v", tool, err)
		}
	}
	dir := t.TempDir()
	var in bytes.Buffer
	for _, p := range packets {
		fmt.Fprintf(&in, "0000 % x\n", p)
	}
	txt, pcap := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.pcap")
	if err := os.WriteFile(txt, in.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ports := strconv.Itoa(port) + "," + strconv.Itoa(port)
	if out, err := exec.Command("text2pcap", "-q", "-4", "192.0.2.20,192.0.2.255", "-u", ports, txt, pcap).CombinedOutput(); err != nil {
		t.Fatalf("text2pcap: %v: %s", err, out)
	}
	tshark := func(args ...string) string {
		cmd := exec.Command("tshark", append([]string{"-r", pcap}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("tshark %q: %v: %s", args, err, stderr.String())
		}
		return stdout.String()
	}
	// Severity 0x00600000 is "warning".
	if bad := tshark("-Y", "_ws.malformed || _ws.expert.severity >= 0x00600000", "-T", "fields", "-e", "frame.number", "-e", "_ws.expert.message"); strings.TrimSpace(bad) != "" {
		t.Fatalf("tshark reports problems (frame, message):\n%s", bad)
	}
	args := []string{"-T", "fields", "-E", "separator=/t", "-E", "aggregator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(tshark(args...), "\n"), "\n") {
		rows = append(rows, strings.Split(line, "\t"))
	}
	if len(rows) != len(packets) {
		t.Fatalf("tshark dissected %d packets, we wrote %d", len(rows), len(packets))
	}
	return rows
}

// expect compares one row with the wanted values, field by field.
func expect(t *testing.T, what string, fields []string, row []string, want ...string) {
	t.Helper()
	if len(want) != len(fields) {
		t.Fatalf("%s: %d expectations for %d fields", what, len(want), len(fields))
	}
	for i, f := range fields {
		if row[i] != want[i] {
			t.Errorf("%s: %s = %q, want %q", what, f, row[i], want[i])
		}
	}
}

func hex8(v uint8) string   { return fmt.Sprintf("0x%02x", v) }
func hex16(v uint16) string { return fmt.Sprintf("0x%04x", v) }
func hex32(v uint32) string { return fmt.Sprintf("0x%08x", v) }
func dec[T ~uint8 | ~uint16 | ~uint32 | ~int](v T) string {
	return strconv.FormatUint(uint64(v), 10)
}

var srcIP = netip.MustParseAddr("192.0.2.20")

func TestMailslotWritesBothStyles(t *testing.T) {
	ann := browser.NewHostAnnouncement("GOHOST", 720000, browser.Workstation|browser.Server|browser.NT|browser.PotentialBrowser, "go host")
	annData, err := ann.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []dgram.Message{
		{Group: true, ID: 0x1234, SourceIP: srcIP, Source: netbios.MustNew("GOHOST", 0), Dest: netbios.MustNew("TESTGRP", 0x1d),
			Mailslot: browser.Mailslot, Data: annData},
		{Group: false, ID: 0xBEEF, SourceIP: srcIP, SourcePort: 50000, Source: netbios.MustNew("CLIENT", 0), Dest: netbios.MustNew("SERVER", 0),
			Mailslot: samples.WindowsClientName, Data: samples.WindowsClientData, Priority: 3},
	}
	fields := []string{"nbdgm.type", "nbdgm.flags", "nbdgm.first", "nbdgm.next", "nbdgm.node_type", "nbdgm.dgram_id", "nbdgm.src.ip",
		"nbdgm.src.port", "nbdgm.dgram_len", "nbdgm.pkt_offset", "nbdgm.source_name", "nbdgm.destination_name",
		"smb.cmd", "smb.flags", "smb.flags2", "smb.pid", "smb.wct", "smb.tdc", "smb.mpc", "smb.dc", "smb.data_offset", "smb.po",
		"smb.sc", "smb.bcc", "smb.trans_name", "mailslot.opcode", "mailslot.priority", "mailslot.class", "mailslot.size", "mailslot.name"}
	for _, style := range []smbmail.Style{smbmail.Windows, smbmail.Samba} {
		var packets [][]byte
		for i := range msgs {
			b, err := msgs[i].Append(nil, style)
			if err != nil {
				t.Fatal(err)
			}
			packets = append(packets, b)
		}
		rows := dissect(t, 138, packets, fields...)
		for i, m := range msgs {
			p, w, err := dgram.Parse(packets[i])
			if err != nil {
				t.Fatal(err)
			}
			// What we meant, computed from the message and the style.
			flags, node, mpc, po, smbFlags, flags2, pid := uint8(0x0e), 3, 2, w.DataOffset, uint8(0x18), uint16(4), uint16(0xFEFF)
			if style == smbmail.Samba {
				flags, node, mpc, po, smbFlags, flags2, pid = 0x0a, 2, 0, 0, 0, 0, 0
			}
			typ := uint8(nbdgm.DirectUnique)
			if m.Group {
				typ = uint8(nbdgm.DirectGroup)
			}
			port := m.SourcePort
			if port == 0 {
				port = 138
			}
			dataOffset := 69 + len(m.Mailslot) + 1
			if style == smbmail.Windows {
				dataOffset = (dataOffset + 3) &^ 3
			}
			byteCount := dataOffset - 69 + len(m.Data) // name, padding and data
			expect(t, fmt.Sprintf("style %d packet %d", style, i), fields, rows[i],
				dec(typ), hex8(flags), "1", "0", strconv.Itoa(node), hex16(m.ID), m.SourceIP.String(),
				dec(port), dec(len(packets[i])-14), "0", m.Source.String(), m.Dest.String(),
				"0x25", hex8(smbFlags), hex16(flags2), dec(pid), "17", dec(len(m.Data)), strconv.Itoa(mpc), dec(len(m.Data)),
				dec(dataOffset), dec(po), "3", dec(byteCount), m.Mailslot,
				"1", dec(m.Priority), "2", dec(byteCount), m.Mailslot)
			if int(p.Length) != len(packets[i])-14 {
				t.Errorf("our DGM_LENGTH %d", p.Length)
			}
		}
	}
}

func TestBrowserFrames(t *testing.T) {
	type check struct {
		frame  browser.Frame
		fields []string
		want   []string
	}
	checks := []check{
		{browser.NewHostAnnouncement("GOHOST", 720000, 0x00011003, "go host"),
			[]string{"browser.server", "browser.period", "browser.os_major", "browser.server_type", "browser.proto_major", "browser.proto_minor", "browser.sig", "browser.comment"},
			[]string{"GOHOST", "720000", "10", hex32(0x00011003), "15", "1", "0xaa55", "go host"}},
		{&browser.Announcement{Op: browser.OpLocalMasterAnnouncement, Periodicity: 60000, ServerName: "LMB", Type: browser.MasterBrowser, BrowserMajor: 15, BrowserMinor: 1, Signature: 0xAA55},
			[]string{"browser.server", "browser.period", "browser.server_type"}, []string{"LMB", "60000", hex32(uint32(browser.MasterBrowser))}},
		{&browser.Announcement{Op: browser.OpDomainAnnouncement, ServerName: "TESTGRP", Type: browser.DomainEnum | browser.NT, Comment: "SAMBASRV"},
			[]string{"browser.server", "browser.mb_server", "browser.server_type"}, []string{"TESTGRP", "SAMBASRV", hex32(0x80001000)}},
		{&browser.AnnouncementRequest{ResponseName: "ASKER"}, []string{"browser.response_computer_name"}, []string{"ASKER"}},
		{&browser.RequestElection{Version: 1, Criteria: 0x41010f0a, Uptime: 6000, ServerName: "SAMBASRV"},
			[]string{"browser.election.version", "browser.election.criteria", "browser.uptime", "browser.server"}, []string{"1", "0x41010f0a", "6000", "SAMBASRV"}},
		{&browser.GetBackupListRequest{RequestedCount: 4, Token: 7}, []string{"browser.backup.count", "browser.backup.token"}, []string{"4", "7"}},
		{&browser.GetBackupListResponse{Token: 9, Servers: []string{"ALPHA", "BETA"}},
			[]string{"browser.backup.count", "browser.backup.token", "browser.backup.server"}, []string{"2", "9", "ALPHA|BETA"}},
		{&browser.NameFrame{Op: browser.OpBecomeBackup, Name: "PROMOTE"}, []string{"browser.browser_to_promote"}, []string{"PROMOTE"}},
		{&browser.NameFrame{Op: browser.OpMasterAnnouncement, Name: "MASTER"}, []string{"browser.mb_server"}, []string{"MASTER"}},
		{&browser.ResetStateRequest{Type: 0x02}, []string{"browser.reset_cmd"}, []string{"0x02"}},
	}
	var packets [][]byte
	for _, c := range checks {
		data, err := c.frame.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		m := dgram.Message{Group: true, SourceIP: srcIP, Source: netbios.MustNew("GOHOST", 0), Dest: netbios.MustNew("TESTGRP", 0x1e),
			Mailslot: browser.Mailslot, Data: data}
		b, err := m.Append(nil, smbmail.Samba)
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, b)
	}
	// One tshark run for all frames: the union of the fields.
	fields := []string{"browser.command"}
	index := map[string]int{"browser.command": 0}
	for _, c := range checks {
		for _, f := range c.fields {
			if _, ok := index[f]; !ok {
				index[f] = len(fields)
				fields = append(fields, f)
			}
		}
	}
	rows := dissect(t, 138, packets, fields...)
	for i, c := range checks {
		name := c.frame.Opcode().String()
		if got, want := rows[i][0], hex8(uint8(c.frame.Opcode())); got != want {
			t.Errorf("%s: browser.command = %q, want %q", name, got, want)
		}
		for j, f := range c.fields {
			if got := rows[i][index[f]]; got != c.want[j] {
				t.Errorf("%s: %s = %q, want %q", name, f, got, c.want[j])
			}
		}
	}
}

func TestLanmanAndMessenger(t *testing.T) {
	l := &browser.LanmanAnnouncement{Op: 1, Type: browser.Workstation | browser.Server, OSMajor: 36, Periodicity: 720, ServerName: "OS2BOX", Comment: "lanman"}
	ld, _ := l.Append(nil)
	md, _ := (&messenger.Message{From: "ALICE", To: "BOB", Text: "Lunch at noon?"}).Append(nil, nil)
	var packets [][]byte
	for _, m := range []dgram.Message{
		{Group: true, SourceIP: srcIP, Source: netbios.MustNew("OS2BOX", 0), Dest: netbios.MustNew("TESTGRP", 0), Mailslot: browser.LanmanMailslot, Data: ld},
		{SourceIP: srcIP, Source: netbios.MustNew("ALICE", 0), Dest: netbios.MustNew("BOB", netbios.Messenger), Mailslot: messenger.Mailslot, Data: md},
	} {
		b, err := m.Append(nil, smbmail.Windows)
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, b)
	}
	fields := []string{"mailslot.name", "browser.server", "browser.period", "browser.os_major", "browser.comment", "data.data"}
	rows := dissect(t, 138, packets, fields...)
	// tshark shows the LANMAN periodicity (seconds on the wire) in ms.
	expect(t, "LANMAN", fields, rows[0], browser.LanmanMailslot, "OS2BOX", "720000", "36", "lanman", "")
	expect(t, "Messenger", fields, rows[1], messenger.Mailslot, "", "", "", "", hex.EncodeToString(md))
}

func TestOtherDatagramTypes(t *testing.T) {
	var packets [][]byte
	for _, p := range []nbdgm.Packet{
		{Type: nbdgm.Error, ID: 5, SourceIP: srcIP, SourcePort: 138, ErrorCode: nbdgm.ErrDestinationNotPresent},
		{Type: nbdgm.QueryRequest, ID: 6, SourceIP: srcIP, SourcePort: 138, DestName: netbios.MustNew("TESTGRP", 0x1d)},
		{Type: nbdgm.Broadcast, ID: 7, SourceIP: srcIP, SourcePort: 138, SourceName: netbios.MustNew("A", 0), DestName: netbios.Wildcard, Data: []byte("raw")},
		{Type: nbdgm.DirectGroup, ID: 8, SourceIP: srcIP, SourcePort: 138, SourceName: netbios.MustNew("A", 0),
			DestName: netbios.Name{Raw: netbios.MSBrowse.Raw, Scope: "corp.example"}, Data: []byte("x")},
	} {
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, b)
	}
	fields := []string{"nbdgm.type", "nbdgm.dgram_id", "nbdgm.error_code", "nbdgm.destination_name"}
	rows := dissect(t, 138, packets, fields...)
	expect(t, "error", fields, rows[0], "19", "0x0005", "0x82", "")
	expect(t, "query", fields, rows[1], "20", "0x0006", "", "TESTGRP<1d>")
	expect(t, "broadcast", fields, rows[2], "18", "0x0007", "", netbios.Wildcard.String())
	expect(t, "scope", fields, rows[3], "17", "0x0008", "", "<01><02>__MSBROWSE__<02><01>.corp.example")
}

func TestNameService(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.10")
	foo := netbios.MustNew("FOO", 0)
	stats := make([]byte, nbns.StatisticsLen)
	copy(stats, []byte{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01})
	names := []nbns.NodeName{{Name: foo.Raw, Flags: nbns.NameActive}, {Name: netbios.MustNew("WG", 0x1e).Raw, Flags: nbns.NameActive | nbns.NBGroup}}
	packets := []*nbns.Packet{
		nbns.NameQuery(1, foo, true),
		nbns.PositiveQueryResponse(2, foo, 259200, nbns.Entry(false, ip)),
		nbns.NegativeQueryResponse(3, foo),
		nbns.NodeStatusRequest(4, netbios.Wildcard),
		nbns.NodeStatusResponse(5, netbios.Wildcard, names, stats),
		nbns.Registration(6, netbios.MustNew("WG", 0), 0, nbns.Entry(true, ip), true),
		nbns.Refresh(7, foo, 300, nbns.Entry(false, ip), true),
		nbns.Release(8, foo, nbns.Entry(false, ip), true),
		nbns.Conflict(9, foo, nbns.Entry(false, ip)),
	}
	var raw [][]byte
	for _, p := range packets {
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	fields := []string{"nbns.id", "nbns.flags", "nbns.flags.opcode", "nbns.flags.rcode", "nbns.count.queries", "nbns.count.answers", "nbns.count.add_rr",
		"nbns.type", "nbns.ttl", "nbns.addr", "nbns.nb_flags", "nbns.number_of_names", "nbns.netbios_name", "nbns.name_flags", "nbns.unit_id"}
	rows := dissect(t, 137, raw, fields...)
	for i, p := range packets {
		var types, ttls, addrs, nbflags []string
		for _, q := range p.Questions {
			types = append(types, dec(q.Type))
		}
		var status *nbns.NodeStatus
		for _, sec := range [][]nbns.Resource{p.Answers, p.Additional} {
			for _, r := range sec {
				types, ttls = append(types, dec(r.Type)), append(ttls, dec(r.TTL))
				for _, a := range r.Addresses {
					addrs, nbflags = append(addrs, a.IP.String()), append(nbflags, hex16(a.Flags))
				}
				if r.Status != nil {
					status = r.Status
				}
			}
		}
		rcode := "" // tshark shows RCODE only in responses
		if p.Response() {
			rcode = dec(p.Rcode())
		}
		var count, nnames, nflags, unit string
		if status != nil {
			count = dec(len(status.Names))
			var ns, fs []string
			for _, n := range status.Names {
				ns = append(ns, netbios.Name{Raw: n.Name}.Base())
				fs = append(fs, hex16(n.Flags))
			}
			nnames, nflags = strings.Join(ns, "|"), strings.Join(fs, "|")
			u := status.Statistics[:6]
			unit = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", u[0], u[1], u[2], u[3], u[4], u[5])
		}
		expect(t, fmt.Sprintf("nbns packet %d", i), fields, rows[i],
			hex16(p.ID), hex16(p.Flags), dec(uint8(p.Opcode())), rcode, dec(len(p.Questions)), dec(len(p.Answers)), dec(len(p.Additional)),
			strings.Join(types, "|"), strings.Join(ttls, "|"), strings.Join(addrs, "|"), strings.Join(nbflags, "|"), count, nnames, nflags, unit)
	}
}

// The real captures dissect as what they are, too.
func TestRealCaptures(t *testing.T) {
	fields := []string{"nbdgm.source_name", "nbdgm.destination_name", "browser.server", "browser.comment", "browser.server_type"}
	row := dissect(t, 138, [][]byte{samples.SambaHostAnnouncement}, fields...)[0]
	expect(t, "Samba HostAnnouncement", fields, row, "SAMBASRV<00>", "TESTGRP<1d>", "SAMBASRV", "test nmbd", "0x00819a03")
}
