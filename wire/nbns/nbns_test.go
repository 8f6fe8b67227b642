package nbns

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/wire/netbios"
)

var ip = netip.MustParseAddr("192.0.2.10")

// The names nmbd holds in the lab capture (reference §7.3, §11).
func sambaNames() []NodeName {
	mk := func(n netbios.Name, flags uint16) NodeName { return NodeName{Name: n.Raw, Flags: flags} }
	return []NodeName{
		mk(netbios.MustNew("SAMBASRV", 0x00), NameActive),
		mk(netbios.MustNew("SAMBASRV", 0x03), NameActive),
		mk(netbios.MustNew("SAMBASRV", 0x20), NameActive),
		mk(netbios.MSBrowse, NameActive|NBGroup),
		mk(netbios.MustNew("TESTGRP", 0x1d), NameActive),
		mk(netbios.MustNew("TESTGRP", 0x1e), NameActive|NBGroup),
		mk(netbios.MustNew("TESTGRP", 0x00), NameActive|NBGroup),
	}
}

func TestNodeStatusResponseMatchesCapture(t *testing.T) {
	p := NodeStatusResponse(0x57eb, netbios.Wildcard, sambaNames(), nil)
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := samples.NodeStatusResponsePrefix
	if !bytes.Equal(b[:len(want)], want) {
		t.Fatalf("encoded\n%x\nwant prefix\n%x", b[:len(want)], want)
	}
	if rdlen := 1 + 18*7 + 46; len(b) != 12+34+10+rdlen || rdlen != 173 {
		t.Fatalf("%d bytes", len(b))
	}
	d, err := Decode(b)
	if err != nil || len(d.Answers) != 1 || d.Answers[0].Status == nil || len(d.Answers[0].Status.Names) != 7 ||
		d.Answers[0].Status.Names[3].String() != "<01><02>__MSBROWSE__<02><01>" || len(d.Answers[0].Status.Statistics) != 46 {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestFlagWords(t *testing.T) {
	name := netbios.MustNew("FOO", 0)
	e := Entry(false, ip)
	for _, tc := range []struct {
		p    *Packet
		want uint16
	}{
		{NameQuery(1, name, true), 0x0110},
		{PositiveQueryResponse(1, name, 259200, e), 0x8580},
		{NegativeQueryResponse(1, name), 0x8503},
		{NodeStatusRequest(1, netbios.Wildcard), 0x0000},
		{NodeStatusResponse(1, name, nil, nil), 0x8400},
		{Registration(1, name, 0, e, true), 0x2910},
		{Release(1, name, e, true), 0x3010},
		{Refresh(1, name, 300, e, false), 0x4000},
		{Conflict(1, name, e), 0xAD86},
	} {
		if tc.p.Flags != tc.want {
			t.Errorf("%+v: flags %#04x, want %#04x", tc.p, tc.p.Flags, tc.want)
		}
		b, err := tc.p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil || d.Flags != tc.want || len(d.Questions) != len(tc.p.Questions) || len(d.Answers) != len(tc.p.Answers) ||
			len(d.Additional) != len(tc.p.Additional) {
			t.Fatalf("round trip %+v: %v", d, err)
		}
	}
}

func TestRegistrationUsesPointer(t *testing.T) {
	p := Registration(0x1234, netbios.MustNew("FOO", 0), 0, Entry(true, ip), true)
	b, _ := p.Append(nil)
	// header 12 + question 34+4, then the additional record starts with C0 0C.
	if b[50] != 0xC0 || b[51] != 0x0C || len(b) != 50+2+10+6 {
		t.Fatalf("%x", b)
	}
	d, err := Decode(b)
	if err != nil || d.Additional[0].Name != p.Questions[0].Name || d.Additional[0].Addresses[0] != Entry(true, ip) {
		t.Fatalf("%+v %v", d, err)
	}
	if d.Opcode() != OpRegistration || d.Response() || d.Rcode() != 0 {
		t.Fatal("accessors")
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := NameQuery(1, netbios.MustNew("FOO", 0), true).Append(nil)
	status, _ := NodeStatusResponse(1, netbios.Wildcard, sambaNames(), nil).Append(nil)
	for name, b := range map[string][]byte{
		"short":       good[:11],
		"huge counts": append(append([]byte(nil), good[:4]...), 0xff, 0xff, 0, 0, 0, 0, 0, 0),
		"truncated":   good[:len(good)-1],
		"rdlength":    status[:len(status)-50],
		"names count": func() []byte { b := append([]byte(nil), status...); b[56] = 50; return b }(),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	reg, _ := Registration(7, netbios.MustNew("FOO", 0), 0, Entry(false, ip), true).Append(nil)
	status, _ := NodeStatusResponse(1, netbios.Wildcard, sambaNames(), nil).Append(nil)
	f.Add(reg)
	f.Add(status)
	f.Add(samples.NodeStatusResponsePrefix)
	f.Add(amplifier(600))
	f.Add(amplifier(headerLen + 166 + 6*(MaxRecords-1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkBound(t, b)
		p, n, err := DecodePrefix(b)
		if err != nil {
			return
		}
		if n < headerLen || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		// Whatever decodes must encode again (the encoder accepts every
		// name, scope and record count the decoder does) and decode to
		// the same records.
		enc, err := p.Append(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		q, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", enc, err)
		}
		if q.ID != p.ID || q.Flags != p.Flags || len(q.Questions) != len(p.Questions) || len(q.Answers) != len(p.Answers) ||
			len(q.Authority) != len(p.Authority) || len(q.Additional) != len(p.Additional) {
			t.Fatalf("round trip changed the packet: %+v -> %+v", p, q)
		}
		for i := range p.Questions {
			if q.Questions[i] != p.Questions[i] {
				t.Fatalf("question %d: %v -> %v", i, p.Questions[i], q.Questions[i])
			}
		}
	})
}
