package natslink

import (
	"net/netip"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/wire/netbios"
)

func TestTokenRoundTrip(t *testing.T) {
	for _, c := range []struct{ in, tok, back string }{
		{`app\x`, "APP/X", `APP\X`},
		{"BROWSE", "BROWSE", "BROWSE"},
		{`net\netlogon`, "NET/NETLOGON", `NET\NETLOGON`},
		{"a.b*c>d%e f", "A%2EB%2AC%3ED%25E%20F", "A.B*C>D%E F"},
		{"é", "%C3%A9", "é"},
	} {
		if got := Token(c.in); got != c.tok {
			t.Errorf("Token(%q) = %q, want %q", c.in, got, c.tok)
		}
		if back, err := untoken(c.tok); err != nil || back != c.back {
			t.Errorf("untoken(%q) = %q, %v; want %q", c.tok, back, err, c.back)
		}
	}
	for _, bad := range []string{"%", "%4", "%ZZ"} {
		if _, err := untoken(bad); err == nil {
			t.Errorf("untoken(%q) succeeded", bad)
		}
	}
}

func TestEncodeDecode(t *testing.T) {
	m := Message{Origin: "AGENT1", Source: netbios.MustNew("ALPHA", 0), Addr: netip.MustParseAddrPort("192.0.2.11:138"),
		Path: `App\X`, Dest: netbios.MustNew("TESTGRP", 0x1d), DgramID: 4242,
		LANs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Data: []byte("hi")}
	msg := m.encode(BcastSubject("TESTGRP", m.Path))
	if msg.Subject != `mailslot.TESTGRP.bcast.APP/X` {
		t.Fatalf("subject %q", msg.Subject)
	}
	got, err := decode("bcast", "APP/X", "TESTGRP", msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != m.Origin || got.Source != m.Source || got.Addr != m.Addr || got.Path != m.Path || got.Dest != m.Dest ||
		got.DgramID != m.DgramID || len(got.LANs) != 1 || got.LANs[0] != m.LANs[0] || string(got.Data) != "hi" {
		t.Fatalf("got %+v", got)
	}
	// Defaults for a plain publisher.
	got, err = decode("bcast", "APP/X", "TESTGRP", nil, []byte("plain"))
	if err != nil || got.Source.Base() != "NATS" || got.Path != `APP\X` || got.Dest != netbios.MustNew("TESTGRP", 0) {
		t.Fatalf("%+v %v", got, err)
	}
	for name, h := range map[string]nats.Header{
		"path differs from subject": {HdrPath: {"other"}},
		"bad address":               {HdrAddr: {"nowhere"}},
		"IPv6 address":              {HdrAddr: {"[2001:db8::1]:138"}},
		"bad datagram id":           {HdrDgramID: {"70000"}},
		"bad source":                {HdrSource: {"A NAME LONGER THAN 15"}},
		"bad dest":                  {HdrDest: {"NOSUFFIX"}},
		"bad LAN":                   {HdrLANs: {"192.0.2.0/24,x"}},
		"long header":               {HdrOrigin: {string(make([]byte, maxHeader+1))}},
	} {
		if _, err := decode("bcast", "APP/X", "TESTGRP", h, nil); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := decode("host", "BRAVO", "TESTGRP", nil, nil); err == nil {
		t.Error("a host write without a path decoded")
	}
}

func TestNameString(t *testing.T) {
	for _, n := range []netbios.Name{netbios.MustNew("TESTGRP", 0x1d), netbios.MustNew("A", 0), netbios.MSBrowse,
		netbios.MustNew("X<Y", 0x20)} {
		if got, want := nameString(n), n.String(); got != want {
			t.Errorf("nameString = %q, want %q", got, want)
		}
		if back, err := netbios.Parse(nameString(n)); n != netbios.MSBrowse && (err != nil || back != n) {
			t.Errorf("%q does not parse back: %v", nameString(n), err)
		}
	}
}

func TestMessageIDIgnoresCaseOfPath(t *testing.T) {
	a, b := netbios.MustNew("A", 0), netbios.MustNew("WG", 0)
	if MessageID(a, b, 1, `app\x`, []byte("d")) != MessageID(a, b, 1, `APP/X`, []byte("d")) {
		t.Fatal("the same write has two keys")
	}
	if MessageID(a, b, 1, `app\x`, []byte("d")) == MessageID(a, b, 2, `app\x`, []byte("d")) {
		t.Fatal("two datagram IDs share a key")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("bcast", "APP/X", "ALPHA", "192.0.2.11:138", `app\x`, "TESTGRP<00>", "7", "192.0.2.0/24", []byte("x"))
	f.Add("host", "BRAVO", "", "", `a`, "", "", "", []byte{})
	f.Add("bcast", "%2", "\x00", "1.2.3.4:5", "", "*<00>", "-1", ",,", []byte{0})
	f.Fuzz(func(t *testing.T, kind, tok, src, addr, path, dest, id, lans string, data []byte) {
		h := nats.Header{HdrSource: {src}, HdrAddr: {addr}, HdrPath: {path}, HdrDest: {dest}, HdrDgramID: {id}, HdrLANs: {lans}}
		m, err := decode(kind, tok, "TESTGRP", h, data)
		if err == nil && (m.Path == "" || len(m.LANs) > maxLANs) {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func FuzzAnnouncement(f *testing.F) {
	f.Add([]byte(`{"id":"X","name":"ALPHA","lans":["192.0.2.0/24"],"addrs":["192.0.2.11"]}`))
	f.Add([]byte(`{"id":"X","name":"","bye":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, ok := decodeAnnouncement(b); ok && (a.ID == "" || len(a.LANs) > maxAnnounceNet) {
			t.Fatalf("accepted %+v", a)
		}
	})
}
