//go:build linux

package netns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// A LAN host speaking the protocols byte by byte (wire codecs on raw
// sockets) gets the answers RFC 1002 prescribes, and cannot take the
// agent's name away.
func TestRawPeer(t *testing.T) {
	t.Parallel()
	lab := netnstest.New(t)
	echo, peer := lab.AddHost("echo"), lab.AddHost("peer")
	startAgent(t, echo, "ECHO")
	waitName(t, peer, "ECHO", echo.Addr)
	ns, err := peer.ListenUDP(peer.Addr.String() + ":0") // an ephemeral port, as nmblookup
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	ds, err := peer.ListenUDP(peer.Addr.String() + ":138")
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Close()
	echoName := netbios.MustNew("ECHO", 0)
	nsAddr := &net.UDPAddr{IP: echo.Addr.AsSlice(), Port: 137}

	ask := func(t *testing.T, p *nbns.Packet, to *net.UDPAddr) *nbns.Packet {
		t.Helper()
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		for try := 0; try < 3; try++ {
			if _, err := ns.WriteTo(b, to); err != nil {
				t.Fatal(err)
			}
			if a := readNBNS(t, ns, p.ID, echo.Addr.String(), 2*time.Second); a != nil {
				return a
			}
		}
		return nil
	}

	t.Run("UnicastQuery", func(t *testing.T) {
		a := ask(t, nbns.NameQuery(0x7001, echoName, false), nsAddr)
		if a == nil {
			t.Fatal("no answer to a unicast query for ECHO<00> (sent from an ephemeral port)")
		}
		if !a.Response() || a.Rcode() != nbns.RcodeOK || len(a.Answers) != 1 || len(a.Answers[0].Addresses) != 1 ||
			a.Answers[0].Addresses[0].IP != echo.Addr {
			t.Errorf("answer %+v, want a positive response with %v", *a, echo.Addr)
		}
	})

	t.Run("NodeStatusByName", func(t *testing.T) {
		// nbtscan asks for "*"; Windows' nbtstat -a asks for the name.
		a := ask(t, nbns.NodeStatusRequest(0x7002, echoName), nsAddr)
		if a == nil || len(a.Answers) != 1 || a.Answers[0].Status == nil {
			t.Fatalf("node status for ECHO<00>: %+v", a)
		}
		found := false
		for _, n := range a.Answers[0].Status.Names {
			found = found || n.String() == "ECHO<00>"
		}
		if !found {
			t.Errorf("node status lists %v, want ECHO<00>", a.Answers[0].Status.Names)
		}
	})

	t.Run("ReleaseByOtherHost", func(t *testing.T) {
		// B-node names are not authenticated, but a release only speaks
		// for its sender: the owner keeps its name.
		for _, ip := range []string{peer.Addr.String(), echo.Addr.String()} {
			rel := nbns.Release(0x7003, echoName, nbns.Entry(false, mustAddr(t, ip)), true)
			b, err := rel.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ns.WriteTo(b, &net.UDPAddr{IP: peer.Broadcast.AsSlice(), Port: 137}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(500 * time.Millisecond)
		if a := ask(t, nbns.NameQuery(0x7004, echoName, true), &net.UDPAddr{IP: peer.Broadcast.AsSlice(), Port: 137}); a == nil {
			t.Fatal("after a forged release ECHO<00> no longer answers")
		}
	})

	t.Run("DatagramErrorForUnknownName", func(t *testing.T) {
		// RFC 1002 §4.4.3: a DIRECT_UNIQUE datagram for a name the node
		// does not own is answered with DATAGRAM ERROR 0x82.
		m := dgram.Message{ID: 0x7005, SourceIP: peer.Addr, Source: netbios.MustNew("PEER", 0), Dest: netbios.MustNew("NOTECHO", 0),
			Mailslot: `\MAILSLOT\LAB\X`, Data: []byte("x")}
		b, err := m.Append(nil, smbmail.Windows)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ds.WriteTo(b, &net.UDPAddr{IP: echo.Addr.AsSlice(), Port: 138}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 600)
		ds.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			n, from, err := ds.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("no DATAGRAM ERROR for a datagram to NOTECHO<00>: %v", err)
			}
			p, err := nbdgm.Decode(buf[:n])
			if err != nil || !from.IP.Equal(echo.Addr.AsSlice()) {
				continue
			}
			if p.Type != nbdgm.Error || p.ID != 0x7005 || p.ErrorCode != nbdgm.ErrDestinationNotPresent || p.SourceIP != echo.Addr || p.SourcePort != 138 {
				t.Errorf("got %+v, want DATAGRAM ERROR 0x82 for id 0x7005 from %v:138", p, echo.Addr)
			}
			break
		}
	})
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
