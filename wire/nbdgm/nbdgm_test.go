package nbdgm

import (
	"github.com/mailslot/mailslot/internal/allocbound"

	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/wire/netbios"
)

func TestSambaCapture(t *testing.T) {
	b := samples.SambaHostAnnouncement
	if len(b) != 210 {
		t.Fatalf("sample is %d bytes, the capture 210", len(b))
	}
	p, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != DirectGroup || p.Flags != 0x0a || p.NodeType() != NodeM || p.Fragment() || p.ID != 0x6228 ||
		p.SourceIP != netip.MustParseAddr("192.0.2.10") || p.SourcePort != 138 || p.Length != 196 || p.Offset != 0 ||
		p.SourceName.String() != "SAMBASRV<00>" || p.DestName.String() != "TESTGRP<1d>" || len(p.Data) != 128 {
		t.Fatalf("decoded %+v", p)
	}
	again, err := p.Append(nil)
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-encoded\n%x\nwant\n%x (%v)", again, b, err)
	}
}

func TestEncodeIsAlwaysUnfragmented(t *testing.T) {
	p := Packet{Type: DirectUnique, Flags: NodeH | More, ID: 1, SourceIP: netip.MustParseAddr("192.0.2.20"), SourcePort: 138,
		Offset: 99, SourceName: netbios.MustNew("A", 0), DestName: netbios.MustNew("B", 0), Data: []byte("x")}
	b, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != 0x0e || b[12] != 0 || b[13] != 0 {
		t.Fatalf("flags %#x offset %x", b[1], b[12:14])
	}
	d, _ := Decode(b)
	if d.Fragment() || d.Length != 34+34+1 {
		t.Fatalf("%+v", d)
	}
}

func TestFragmentsDecodeFaithfully(t *testing.T) {
	p := Packet{Type: DirectGroup, SourceIP: netip.MustParseAddr("192.0.2.20"), SourceName: netbios.MustNew("A", 0),
		DestName: netbios.MustNew("B", 0), Data: []byte("tail")}
	b, _ := p.Append(nil)
	b[1] = byte(NodeB) // F clear: a middle or last fragment
	b[13] = 200        // PACKET_OFFSET
	d, err := Decode(b)
	if err != nil || !d.Fragment() || d.Offset != 200 || string(d.Data) != "tail" {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestOtherTypes(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	for _, p := range []Packet{
		{Type: Error, Flags: First, ID: 7, SourceIP: ip, SourcePort: 138, ErrorCode: ErrDestinationNotPresent},
		{Type: QueryRequest, Flags: First, ID: 8, SourceIP: ip, SourcePort: 138, DestName: netbios.MustNew("WG", 0x1d)},
		{Type: NegativeQueryResponse, Flags: First, ID: 9, SourceIP: ip, SourcePort: 138, DestName: netbios.Wildcard},
	} {
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode(b)
		if err != nil || d.Type != p.Type || d.ErrorCode != p.ErrorCode || d.DestName != p.DestName || d.ID != p.ID {
			t.Fatalf("%v: %+v %v", p.Type, d, err)
		}
	}
	if b, _ := (&Packet{Type: Error, SourceIP: ip, ErrorCode: 0x82}).Append(nil); len(b) != 11 {
		t.Fatalf("error packet is %d bytes, want 11", len(b))
	}
}

func TestDecodeRejects(t *testing.T) {
	good := samples.SambaHostAnnouncement
	for name, b := range map[string][]byte{
		"empty":      nil,
		"short":      good[:9],
		"type":       append([]byte{0x20}, good[1:]...),
		"reserved":   append([]byte{0x11, 0x1a}, good[2:]...),
		"length":     good[:100],
		"bad name":   append(append(append([]byte(nil), good[:15]...), 'Z'), good[16:]...),
		"no errcode": {0x13, 0x02, 0, 0, 1, 2, 3, 4, 0, 138},
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(samples.SambaHostAnnouncement)
	f.Add([]byte{0x13, 0x02, 0, 0, 1, 2, 3, 4, 0, 138, 0x82})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Two names and an error at most: the cost does not grow with b.
		allocbound.Within(t, "Decode", 64, 8192, func() { Decode(b) })
		p, err := Decode(b)
		if err != nil {
			return
		}
		if p.Type.HasData() && HeaderLen+int(p.Length) > len(b) {
			t.Fatal("DGM_LENGTH beyond the input was accepted")
		}
		if _, err := p.Append(nil); err != nil {
			t.Fatalf("a decoded packet does not encode: %v", err)
		}
	})
}
