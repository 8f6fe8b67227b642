package natslink

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/mailslot/mailslot/internal/allocbound"
	"github.com/mailslot/mailslot/wire/netbios"
)

// decoded is a record as comparable values.
type decoded struct {
	Origin       string
	Source, Dest netbios.Name
	ID           uint16
	Addr         netip.AddrPort
	LANs         []netip.Prefix
	Path, Data   string
}

func walkAll(t testing.TB, body []byte) ([]decoded, error) {
	t.Helper()
	e, err := parseEnvelope(body)
	if err != nil {
		return nil, err
	}
	var out []decoded
	for r := new(record); e.next(r); {
		out = append(out, decoded{Origin: string(e.origin), Source: r.source, Dest: r.dest, ID: r.id, Addr: r.addr,
			LANs: append([]netip.Prefix{}, r.lans[:r.nlans]...), Path: string(r.path), Data: string(r.data)})
	}
	if len(out) != e.n {
		t.Fatalf("%d records, parseEnvelope counted %d", len(out), e.n)
	}
	return out, nil
}

func envelopeOf(origin string, ms ...Message) []byte {
	b := appendEnvelopeHeader(nil, origin)
	for _, m := range ms {
		b = m.appendRecord(b)
	}
	return b
}

func TestEnvelopeRoundTrip(t *testing.T) {
	lans := make([]netip.Prefix, maxLANs)
	for i := range lans {
		lans[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16)
	}
	ms := []Message{
		{Source: netbios.MustNew("ALPHA", 0), Addr: netip.MustParseAddrPort("192.0.2.11:138"), Path: `App\X`,
			Dest: netbios.MustNew("TESTGRP", 0x1d), DgramID: 4242, LANs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
			Data: []byte("hi")},
		{Source: netbios.MSBrowse, Path: "BROWSE", Dest: netbios.MustNew("B", 3), Data: []byte{}},
		{Source: netbios.MustNew("LONGESTNAME1234", 0x20), Path: strings.Repeat("p", maxPath), Dest: netbios.MustNew("W", 0),
			DgramID: 0xffff, LANs: lans, Data: bytes.Repeat([]byte{0xff}, maxRecordData)},
	}
	body := envelopeOf("AGENT1", ms...)
	got, err := walkAll(t, body)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ms) {
		t.Fatalf("%d records, want %d", len(got), len(ms))
	}
	for i, m := range ms {
		want := decoded{Origin: "AGENT1", Source: m.Source, Dest: m.Dest, ID: m.DgramID, Addr: m.Addr,
			LANs: append([]netip.Prefix{}, m.LANs...), Path: m.Path, Data: string(m.Data)}
		if !reflect.DeepEqual(got[i], want) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want)
		}
		if n := len(m.appendRecord(nil)); n != m.recordLen() {
			t.Errorf("record %d: %d bytes, recordLen %d", i, n, m.recordLen())
		}
	}
	// Names are case-insensitive: a lower-case name is taken upper-cased.
	lower := envelopeOf("")
	lower = append(lower, []byte("alpha          \x00testgrp        \x00")...)
	lower = append(lower, make([]byte, 2+6+1)...)
	lower = append(lower, 1, 'x', 0, 0)
	got, err = walkAll(t, lower)
	if err != nil || got[0].Source != netbios.MustNew("ALPHA", 0) || got[0].Dest != netbios.MustNew("TESTGRP", 0) ||
		got[0].Addr.IsValid() || got[0].Origin != "" {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestRecordLenRefusesWhatCannotBeARecord(t *testing.T) {
	for name, m := range map[string]Message{
		"no path":        {Path: "", Data: []byte("x")},
		"long path":      {Path: strings.Repeat("p", maxPath+1)},
		"long data":      {Path: "x", Data: make([]byte, maxRecordData+1)},
		"too many LANs":  {Path: "x", LANs: make([]netip.Prefix, maxLANs+1)},
		"the limit is 0": {},
	} {
		if m.recordLen() != 0 {
			t.Errorf("%s: recordLen %d", name, m.recordLen())
		}
	}
}

// Every truncation of a valid envelope, and every length field set past
// its limit or past the end, is refused whole.
func TestEnvelopeChecksEveryLength(t *testing.T) {
	m := Message{Source: netbios.MustNew("ALPHA", 0), Addr: netip.MustParseAddrPort("192.0.2.11:138"), Path: "x",
		Dest: netbios.MustNew("TESTGRP", 0), LANs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, Data: []byte("data")}
	good := envelopeOf("ID", m, m)
	if _, err := walkAll(t, good); err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		if n == len(good)-m.recordLen() { // exactly one whole record
			continue
		}
		if _, err := walkAll(t, good[:n]); err == nil {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
	rec := envHeaderLen + 2 // the first record
	for name, mutate := range map[string]func(b []byte){
		"version":               func(b []byte) { b[4] = 2 },
		"origin length limit":   func(b []byte) { b[5] = maxOrigin + 1 },
		"origin past the end":   func(b []byte) { b[5] = 255 },
		"empty source":          func(b []byte) { b[rec] = ' ' },
		"empty destination":     func(b []byte) { b[rec+16] = ' ' },
		"port without address":  func(b []byte) { copy(b[rec+34:], []byte{0, 0, 0, 0}) },
		"subnet count limit":    func(b []byte) { b[rec+40] = maxLANs + 1 },
		"subnet count past end": func(b []byte) { b[rec+40] = maxLANs },
		"prefix length":         func(b []byte) { b[rec+45] = 33 },
		"path length 0":         func(b []byte) { b[rec+46] = 0 },
		"path past the end":     func(b []byte) { b[rec+46] = 255 },
		"NUL in path":           func(b []byte) { b[rec+47] = 0 },
		"data length limit": func(b []byte) {
			binary.BigEndian.PutUint16(b[rec+48:], maxRecordData+1)
		},
		"data past the end": func(b []byte) { binary.BigEndian.PutUint16(b[rec+48:], maxRecordData) },
	} {
		b := bytes.Clone(good)
		mutate(b)
		if _, err := walkAll(t, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := walkAll(t, appendEnvelopeHeader(nil, "ID")); err == nil {
		t.Error("an envelope without records was accepted")
	}
	many := appendEnvelopeHeader(nil, "ID")
	small := Message{Source: m.Source, Dest: m.Dest, Path: "x"}
	for range maxRecords + 1 {
		many = small.appendRecord(many)
	}
	if _, err := walkAll(t, many); err == nil {
		t.Errorf("%d records accepted", maxRecords+1)
	}
}

func FuzzEnvelope(f *testing.F) {
	m := Message{Source: netbios.MustNew("ALPHA", 0), Addr: netip.MustParseAddrPort("192.0.2.11:138"), Path: `app\x`,
		Dest: netbios.MustNew("TESTGRP", 0x1d), DgramID: 7, LANs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Data: []byte("x")}
	f.Add(envelopeOf("AGENT", m))
	f.Add(envelopeOf("", m, Message{Source: netbios.MSBrowse, Dest: m.Dest, Path: "BROWSE"}))
	f.Add([]byte(EnvelopeMagic + "\x01\x00"))
	f.Add([]byte(EnvelopeMagic + "\x02\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Checking and walking an envelope, valid or not, allocates nothing.
		allocbound.Within(t, "parseEnvelope", 0, 0, func() {
			if e, err := parseEnvelope(b); err == nil {
				var r record
				for e.next(&r) {
				}
			}
		})
		got, err := walkAll(t, b)
		if err != nil {
			return
		}
		// What is accepted is within the limits and encodes back to an
		// envelope that decodes the same.
		var again []byte
		for i, r := range got {
			if len(r.Path) == 0 || len(r.Path) > maxPath || len(r.Data) > maxRecordData || len(r.LANs) > maxLANs {
				t.Fatalf("record %d out of bounds: %+v", i, r)
			}
			if i == 0 {
				again = appendEnvelopeHeader(nil, r.Origin)
			}
			m := Message{Source: r.Source, Dest: r.Dest, DgramID: r.ID, Addr: r.Addr, LANs: r.LANs, Path: r.Path, Data: []byte(r.Data)}
			again = m.appendRecord(again)
		}
		back, err := walkAll(t, again)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("re-encoded: %v\n got %+v\nwant %+v", err, back, got)
		}
	})
}
