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

// The header format, as another program publishes it.
func TestDecodeHeaders(t *testing.T) {
	h := nats.Header{HdrOrigin: {"AGENT1"}, HdrSource: {"alpha"}, HdrAddr: {"192.0.2.11:138"}, HdrPath: {`App\X`},
		HdrDest: {"TESTGRP<1d>"}, HdrDgramID: {"4242"}, HdrLANs: {"192.0.2.0/24"}}
	got, err := decode("bcast", "APP/X", "TESTGRP", h, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != "AGENT1" || got.Source != netbios.MustNew("ALPHA", 0) || got.Addr != netip.MustParseAddrPort("192.0.2.11:138") ||
		got.Path != `App\X` || got.Dest != netbios.MustNew("TESTGRP", 0x1d) || got.DgramID != 4242 || len(got.LANs) != 1 ||
		got.LANs[0] != netip.MustParsePrefix("192.0.2.0/24") || string(got.Data) != "hi" {
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
	if _, err := decode("relay", "ID", "TESTGRP", nats.Header{HdrPath: {"x"}}, nil); err == nil {
		t.Error("a relayed write without a destination decoded")
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

// The in-place hash is the documented one (FNV-64a of the upper-cased
// path with '\\'), for ASCII and for other paths.
func TestMessageIDIsFNV(t *testing.T) {
	a, b := netbios.MustNew("A", 0), netbios.MustNew("WG", 0x1d)
	for _, p := range []string{`app\x`, "APP/X", "BROWSE", "é/à", "\xff"} {
		for _, id := range []uint16{0, 1, 0x1234, 0xffff} {
			if got, want := MessageID(a, b, id, p, []byte("data")), messageIDSlow(a, b, id, p, []byte("data")); got != want {
				t.Errorf("MessageID(%q, %d) = %x, want %x", p, id, got, want)
			}
		}
	}
}

func TestTokenMatches(t *testing.T) {
	for _, c := range []struct {
		path, tok string
		ok        bool
	}{
		{`app\x`, "APP/X", true}, {`app\x`, "app/x", true}, {"a.b", "A%2EB", true}, {"a.b", "A%2eB", true},
		{"a.b", "A.B", false}, {"ab", "ABC", false}, {"abc", "AB", false}, {string(make([]byte, maxPath+1)), "", false},
	} {
		if got := tokenMatches(c.path, c.tok); got != c.ok {
			t.Errorf("tokenMatches(%q, %q) = %v", c.path, c.tok, got)
		}
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
	f.Add([]byte(`{"id":"X","name":"ALPHA","lans":[],"addrs":[],"users":["root","Alice"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := decodeAnnouncement(b)
		if !ok {
			return
		}
		if a.ID == "" || len(a.LANs) > maxAnnounceNet || len(a.Users) > maxAnnounceUsers {
			t.Fatalf("accepted %+v", a)
		}
		for _, u := range a.Users {
			if n, err := netbios.New(u, netbios.Messenger); err != nil || n.Base() != u {
				t.Fatalf("accepted user %q", u)
			}
		}
	})
}
