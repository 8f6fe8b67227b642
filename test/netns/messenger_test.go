//go:build linux

package netns

import (
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// popup is one line of `mailslot messages --json`.
type popup struct {
	From, To, Text, Host, Addr, User string
	Group                            bool
}

func popups(t *testing.T, h *netnstest.Host) []popup {
	t.Helper()
	r := mustMS(t, h, "messages", "--json")
	var out []popup
	for _, l := range netnstest.Lines(r.stdout) {
		var p popup
		if err := json.Unmarshal([]byte(l), &p); err != nil {
			t.Fatalf("messages --json printed %q: %v", l, err)
		}
		out = append(out, p)
	}
	return out
}

// waitPopup waits until h's history holds a popup with this text and
// returns every one with it.
func waitPopup(t *testing.T, h *netnstest.Host, text string) []popup {
	t.Helper()
	deadline := time.Now().Add(deliverTimeout)
	for {
		var got []popup
		for _, p := range popups(t, h) {
			if p.Text == text {
				got = append(got, p)
			}
		}
		if len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: popup %q not in the history within %v", h, text, deliverTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func messengerStats(t *testing.T, h *netnstest.Host) map[string]uint64 {
	t.Helper()
	var st map[string]uint64
	if err := json.Unmarshal([]byte(mustMS(t, h, "messages", "--stats").stdout), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitResolvable waits until name (NAME#xx) answers a broadcast query.
func waitResolvable(t *testing.T, from *netnstest.Host, name, ip string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		out, err := from.Run(cmdTimeout, "nmblookup", "-B", from.Broadcast.String(), name)
		if err == nil && strings.Contains(out, ip+" ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not resolvable from %s: %v\n%s", name, from, err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sendPopup runs `mailslot net send to text` on from, the agent host
// fromName, and checks that to shows it once: a popup from ROOT to TO
// (upper-cased), sent by fromName from its own address.
func sendPopup(t *testing.T, from, to *netnstest.Host, fromName, toName, text string) {
	t.Helper()
	r := mustMS(t, from, append([]string{"net", "send", toName}, strings.Fields(text)...)...)
	if !strings.Contains(r.stdout, "successfully sent to "+toName) {
		t.Errorf("net send said %q", r.stdout)
	}
	p := waitPopup(t, to, text)
	if len(p) != 1 || p[0].From != "ROOT" || p[0].To != strings.ToUpper(toName) || p[0].Host != fromName || p[0].Group ||
		p[0].Addr != from.Addr.String()+":138" {
		t.Errorf("%s: %+v", to, p)
	}
}

// win98Popup is a Windows 98 `net send` from WIN98USER on host WIN98 (at
// src) to the workgroup, as reference §6.1 captured it: DIRECT_GROUP to
// WG<00>, data at offset 88 after one pad byte 0x42.
func win98Popup(t *testing.T, src netip.Addr, id uint16, text string) []byte {
	t.Helper()
	m := dgram.Message{Group: true, ID: id, SourceIP: src, Source: netbios.MustNew("WIN98", 0),
		Dest: netbios.MustNew(workgroup, 0), Mailslot: `\MAILSLOT\MESSNGR`,
		Data: []byte("WIN98USER\x00" + workgroup + "\x00" + text + "\x00")}
	b, err := m.Append(nil, smbmail.Windows)
	if err != nil {
		t.Fatal(err)
	}
	const smbStart, dataOff = 82, 88
	if b[smbStart+dataOff-2] != 0 || string(b[smbStart+dataOff:smbStart+dataOff+9]) != "WIN98USER" {
		t.Fatalf("layout: % x", b[smbStart+70:])
	}
	b[smbStart+dataOff-1] = 0x42
	return b
}

// Messenger: net send between agents by name, to a user and to the
// workgroup; a Windows 98 popup from a raw socket; the anti-spam policy on
// the wire; a popup on a terminal; tshark judges every MESSNGR frame.
func TestMessenger(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmblookup", "tshark", "dumpcap")
	lab := netnstest.New(t)
	alpha, bravo, charlie, peer := lab.AddHost("alpha"), lab.AddHost("bravo"), lab.AddHost("charlie"), lab.AddHost("peer")
	capture := lab.Capture()
	startAgent(t, alpha, "ALPHA")
	// BRAVO refuses CHARLIE's network and takes a burst of 6 popups per
	// source, then about one every 17 minutes: the test never waits for a
	// token to come back. ALPHA sends BRAVO 5 popups in all.
	startAgent(t, bravo, "BRAVO", "--messenger-deny-net", charlie.Addr.String()+"/32",
		"--messenger-burst", "6", "--messenger-rate", "0.001")
	startAgent(t, charlie, "CHARLIE")
	pty := netnstest.OpenPTY(t)
	msgr := bravo.Start(mailslotBin, "messenger", "--no-desktop", "--tty", pty.Path)
	if _, err := msgr.WaitOutput(`messenger ready.*name=ROOT`, startTimeout); err != nil {
		t.Fatal(err)
	}
	waitResolvable(t, peer, "BRAVO#03", bravo.Addr.String())
	waitResolvable(t, peer, "ROOT#03", bravo.Addr.String())
	waitName(t, peer, "CHARLIE", charlie.Addr)

	t.Run("ByName", func(t *testing.T) {
		sendPopup(t, alpha, bravo, "ALPHA", "bravo", "hello from alpha")
		got := pty.ReadUntil("hello from alpha", deliverTimeout)
		if !strings.Contains(got, "Message from ROOT to BRAVO on ALPHA") || !strings.Contains(got, "hello from alpha") {
			t.Errorf("terminal got %q", got)
		}
	})

	t.Run("ToUser", func(t *testing.T) {
		mustMS(t, alpha, "net", "send", "root", "for root only")
		if p := waitPopup(t, bravo, "for root only"); p[0].User != "ROOT" || p[0].To != "ROOT" {
			t.Errorf("%+v", p)
		}
	})

	t.Run("Workgroup", func(t *testing.T) {
		mustMS(t, alpha, "net", "send", "*", "hello everyone")
		for _, h := range []*netnstest.Host{bravo, charlie, alpha} {
			if p := waitPopup(t, h, "hello everyone"); len(p) != 1 || p[0].To != workgroup || !p[0].Group {
				t.Errorf("%s: %+v", h, p)
			}
		}
		mustMS(t, alpha, "net", "send", "/domain:"+workgroup, "domain form")
		waitPopup(t, charlie, "domain form")
	})

	t.Run("TooLong", func(t *testing.T) {
		before := messengerStats(t, alpha)["sent"]
		r := ms(alpha, "net", "send", "BRAVO", strings.Repeat("x", 480))
		if r.code != 1 || !strings.Contains(r.stderr, "too long") {
			t.Errorf("%v", r)
		}
		if after := messengerStats(t, alpha)["sent"]; after != before {
			t.Errorf("sent went from %d to %d", before, after)
		}
		if r := ms(alpha, "net", "send", "NOSUCHHOST", "x"); r.code != 1 {
			t.Errorf("unresolvable: %v", r)
		}
	})

	t.Run("Win98RawSocket", func(t *testing.T) {
		c, err := peer.ListenUDP(peer.Addr.String() + ":138")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		b := win98Popup(t, peer.Addr, 0x0198, "HELLO WORLD")
		if _, err := c.WriteTo(b, &net.UDPAddr{IP: peer.Broadcast.AsSlice(), Port: 138}); err != nil {
			t.Fatal(err)
		}
		p := waitPopup(t, bravo, "HELLO WORLD")
		if len(p) != 1 || p[0].From != "WIN98USER" || p[0].To != workgroup || p[0].Host != "WIN98" || !p[0].Group {
			t.Errorf("%+v", p)
		}
		waitPopup(t, charlie, "HELLO WORLD")

		// The rate limit: the burst of 6 per source has one token spent;
		// of seven more popups from the same source five are shown and
		// two refused (counted, never shown).
		before := messengerStats(t, bravo)
		for i := 0; i < 7; i++ {
			m := dgram.Message{ID: uint16(0x0200 + i), SourceIP: peer.Addr, Source: netbios.MustNew("WIN98", 0),
				Dest: netbios.MustNew("BRAVO", 3), Mailslot: `\MAILSLOT\MESSNGR`,
				Data: []byte("WIN98USER\x00BRAVO\x00flood " + string(rune('0'+i)) + "\x00")}
			b, err := m.Append(nil, smbmail.Windows)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.WriteTo(b, &net.UDPAddr{IP: bravo.Addr.AsSlice(), Port: 138}); err != nil {
				t.Fatal(err)
			}
		}
		waitPopup(t, bravo, "flood 4")
		deadline := time.Now().Add(deliverTimeout)
		for messengerStats(t, bravo)["refused_rate"]-before["refused_rate"] < 2 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		after := messengerStats(t, bravo)
		if got := after["refused_rate"] - before["refused_rate"]; got != 2 {
			t.Errorf("refused_rate +%d, want +2", got)
		}
		if got := after["shown"] - before["shown"]; got != 5 {
			t.Errorf("shown +%d, want +5", got)
		}
		for _, p := range popups(t, bravo) {
			if p.Text == "flood 5" || p.Text == "flood 6" {
				t.Errorf("over-rate popup shown: %+v", p)
			}
		}
	})

	t.Run("DeniedSource", func(t *testing.T) {
		before := messengerStats(t, bravo)["refused_network"]
		mustMS(t, charlie, "net", "send", "BRAVO", "from a denied network")
		// Then a popup from an allowed source: once it is shown, the
		// denied one was processed before it (same path, earlier).
		mustMS(t, alpha, "net", "send", "BRAVO", "after the denied one")
		waitPopup(t, bravo, "after the denied one")
		deadline := time.Now().Add(deliverTimeout)
		for messengerStats(t, bravo)["refused_network"] == before && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if got := messengerStats(t, bravo)["refused_network"] - before; got != 1 {
			t.Errorf("refused_network +%d, want +1", got)
		}
		for _, p := range popups(t, bravo) {
			if p.Text == "from a denied network" {
				t.Errorf("denied popup shown: %+v", p)
			}
		}
		if got := pty.ReadUntil("after the denied one", deliverTimeout); strings.Contains(got, "denied network") {
			t.Errorf("the terminal showed the denied popup: %q", got)
		}
	})

	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	const filter = `mailslot.name == "\\MAILSLOT\\MESSNGR"`
	rows, err := netnstest.Fields(capture.File, filter, "nbdgm.type", "nbdgm.destination_name", "data.data")
	if err != nil {
		t.Fatal(err)
	}
	var unique, group, win98 int
	for _, r := range rows {
		switch {
		case r[0] == "16" && r[1] == "BRAVO<03>":
			unique++
		case r[0] == "17" && r[1] == workgroup+"<00>":
			group++
		}
		if r[2] == hex.EncodeToString([]byte("WIN98USER\x00"+workgroup+"\x00HELLO WORLD\x00")) {
			win98++
		}
	}
	if unique < 3 || group < 2 || win98 != 1 {
		t.Errorf("capture: %d unique to BRAVO<03>, %d group, %d Win98 frames in %d MESSNGR frames:\n%v", unique, group, win98, len(rows), rows)
	}
	problems, err := netnstest.Problems(capture.File, filter)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Errorf("tshark flags MESSNGR frames:\n%s", strings.Join(problems, "\n"))
	}
}
