package netbios

import (
	"github.com/mailslot/mailslot/internal/allocbound"

	"bytes"
	"errors"
	"testing"
)

// Known answers: reference wire-protocol.md §2.1 (checked there against tshark).
func TestFirstLevelKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		name Name
		want string
	}{
		{MustNew("SAMBASRV", 0x00), "FDEBENECEBFDFCFGCACACACACACACAAA"},
		{MustNew("testgrp", 0x1d), "FEEFFDFEEHFCFACACACACACACACACABN"},
		{Wildcard, "CKAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{MSBrowse, "ABACFPFPENFDECFCEPFHFDEFFPFPACAB"},
	} {
		if got := tc.name.FirstLevel(); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestStringMatchesTshark(t *testing.T) {
	// The strings tshark 4.0 prints for nbdgm.source_name and friends.
	for _, tc := range []struct {
		name Name
		want string
	}{
		{MustNew("SAMBASRV", 0), "SAMBASRV<00>"},
		{Wildcard, "*<00><00><00><00><00><00><00><00><00><00><00><00><00><00><00>"},
		{MSBrowse, "<01><02>__MSBROWSE__<02><01>"},
		{Name{Raw: MustNew("TESTGRP", 0x1d).Raw, Scope: "corp.example"}, "TESTGRP<1d>.corp.example"},
	} {
		if got := tc.name.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		back, err := Parse(tc.want)
		if err != nil || back != tc.name {
			t.Errorf("Parse(%q) = %v, %v", tc.want, back, err)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Name{
		"samba<00>":    MustNew("SAMBA", 0),
		"WG<1D>":       MustNew("WG", 0x1d),
		"*<00>":        Wildcard,
		"<20>":         {Raw: [16]byte{' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', 0x20}},
		"A.B<20>.x.yz": {Raw: MustNew("A.B", 0x20).Raw, Scope: "x.yz"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "NAME", "NAME<0g>", "SIXTEENCHARSLONG<00>", "A<00>.", "A<00>.b..c"} {
		if _, err := Parse(in); !errors.Is(err, ErrName) {
			t.Errorf("Parse(%q): %v", in, err)
		}
	}
}

func TestWireRoundTrip(t *testing.T) {
	for _, n := range []Name{MustNew("SAMBASRV", 0), Wildcard, MSBrowse, {Raw: Wildcard.Raw, Scope: "a.bc"}} {
		b, err := n.Append(nil)
		if err != nil || len(b) != n.WireLen() {
			t.Fatalf("%v: %d bytes, %v", n, len(b), err)
		}
		got, end, err := Decode(b, 0)
		if err != nil || got != n || end != len(b) {
			t.Fatalf("%v: decoded %v end %d, %v", n, got, end, err)
		}
	}
	want := append([]byte{0x20}, "FDEBENECEBFDFCFGCACACACACACACAAA\x00"...)
	if b, _ := MustNew("SAMBASRV", 0).Append(nil); !bytes.Equal(b, want) {
		t.Fatalf("%x", b)
	}
}

func TestDecodePointer(t *testing.T) {
	msg := make([]byte, 12)
	msg, _ = MustNew("FOO", 0).Append(msg)
	ptrAt := len(msg)
	msg = append(msg, 0xC0, 0x0C, 0xFF)
	n, end, err := Decode(msg, ptrAt)
	if err != nil || n != MustNew("FOO", 0) || end != ptrAt+2 {
		t.Fatalf("%v %d %v", n, end, err)
	}
	// Loops and forward pointers are refused.
	for _, bad := range [][]byte{{0xC0, 0x00}, {0xC0, 0x05, 0, 0, 0, 0}, {0x80}, {0x20, 'A'}, {0x20}} {
		if _, _, err := Decode(bad, 0); !errors.Is(err, ErrName) {
			t.Errorf("%x: %v", bad, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	b, _ := MustNew("SAMBASRV", 0).Append(nil)
	f.Add(b, 0)
	f.Add(append(make([]byte, 12), append(b, 0xC0, 0x0C)...), 46)
	f.Fuzz(func(t *testing.T, msg []byte, off int) {
		// One allocation (the scope) and an error's formatting at most,
		// whatever the input's size: pointers cannot amplify.
		allocbound.Within(t, "Decode", 32, 4096, func() { Decode(msg, off) })
		n, end, err := Decode(msg, off)
		if err != nil {
			return
		}
		if end <= off || end > len(msg) {
			t.Fatalf("end %d outside (%d, %d]", end, off, len(msg))
		}
		if _, err := n.Append(nil); err != nil && n.Scope == "" {
			t.Fatalf("decoded name does not encode: %v", err)
		}
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"SAMBASRV<00>", "*<00>", "<01><02>__MSBROWSE__<02><01>", "A<20>.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if again, err := Parse(n.String()); err != nil || again != n {
			t.Fatalf("%q -> %q does not round-trip: %v", s, n.String(), err)
		}
	})
}
