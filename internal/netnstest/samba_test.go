//go:build linux

package netnstest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// The nmbd recipe works in the lab: nmbd registers its names and answers
// broadcast queries and node status from another host, and the capture on
// the bridge sees and decodes it all.
func TestNmbdRecipe(t *testing.T) {
	Tool(t, "nmbd", "nmblookup", "nbtscan")
	l := New(t)
	smb, peer := l.AddHost("smb"), l.AddHost("peer")
	capture := l.Capture()
	n := StartNmbd(smb, NmbdConfig{Name: "SAMBASRV", Workgroup: "TESTGRP"})
	if err := n.WaitNames(peer, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := peer.Run(10*time.Second, "nmblookup", "-B", peer.Broadcast.String(), "SAMBASRV")
	if err != nil || !strings.Contains(out, smb.Addr.String()+" SAMBASRV<00>") {
		t.Errorf("broadcast nmblookup: %v\n%s", err, out)
	}
	out, err = peer.Run(10*time.Second, "nmblookup", "-A", smb.Addr.String())
	if err != nil || !strings.Contains(out, "SAMBASRV        <20>") || !strings.Contains(out, "TESTGRP         <00> - <GROUP>") {
		t.Errorf("nmblookup -A: %v\n%s", err, out)
	}
	out, err = peer.Run(10*time.Second, "nbtscan", "-v", "-s", ":", smb.Addr.String())
	if err != nil || !strings.Contains(out, "SAMBASRV") {
		t.Errorf("nbtscan: %v\n%s", err, out)
	}

	// A Windows-style mailslot write from port 138 of the peer.
	c, err := peer.ListenUDP(peer.Addr.String() + ":138")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := dgram.Message{ID: 0x4242, SourceIP: peer.Addr, Source: netbios.MustNew("WINPEER", 0), Dest: netbios.MustNew("SAMBASRV", 0),
		Mailslot: `\MAILSLOT\LAB\PROBE`, Data: []byte("probe")}
	b, err := m.Append(nil, smbmail.Windows)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(b, &net.UDPAddr{IP: smb.Addr.AsSlice(), Port: 138}); err != nil {
		t.Fatal(err)
	}
	// And a truncated one from another port: the problem check must see it.
	bad, err := peer.ListenUDP(peer.Addr.String() + ":4444")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.WriteTo(b[:100], &net.UDPAddr{IP: smb.Addr.AsSlice(), Port: 138}); err != nil {
		t.Fatal(err)
	}
	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}

	rows, err := Fields(capture.File, `nbns.flags == 0x2910 && ip.src == `+smb.Addr.String(), "nbns.name", "nbns.nb_flags", "nbns.addr")
	if err != nil {
		t.Fatal(err)
	}
	if !hasRow(rows, "SAMBASRV<00>", "0x0000", smb.Addr.String()) {
		t.Errorf("no registration of SAMBASRV<00> seen; registrations: %q", rows)
	}
	rows, err = Fields(capture.File, `nbdgm && udp.srcport == 138 && ip.src == `+peer.Addr.String(),
		"nbdgm.type", "nbdgm.src.ip", "nbdgm.src.port", "nbdgm.source_name", "nbdgm.destination_name", "smb.flags", "smb.flags2", "smb.pid", "mailslot.name", "data.data")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"16", peer.Addr.String(), "138", "WINPEER<00>", "SAMBASRV<00>", "0x18", "0x0004", "65279", `\MAILSLOT\LAB\PROBE`, "70726f6265"}
	if len(rows) != 1 || !hasRow(rows, want...) {
		t.Errorf("datagram fields %q, want %q", rows, want)
	}
	probs, err := Problems(capture.File, "udp.srcport == 4444")
	if err != nil || len(probs) == 0 {
		t.Errorf("the truncated datagram was not flagged: %v", err)
	}
	probs, err = Problems(capture.File, "ip.src == "+peer.Addr.String()+" && udp.srcport != 4444")
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) > 0 {
		t.Errorf("tshark flags our packets:\n%s", strings.Join(probs, "\n"))
	}
}

func hasRow(rows [][]string, want ...string) bool {
	for _, r := range rows {
		if len(r) < len(want) {
			continue
		}
		ok := true
		for i, w := range want {
			ok = ok && r[i] == w
		}
		if ok {
			return true
		}
	}
	return false
}
