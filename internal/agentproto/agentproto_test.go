package agentproto

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"
)

func frames() []Frame {
	return []Frame{
		{Op: OpRegister, Path: `app\x`, Networks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("10.0.0.0/8")}},
		{Op: OpRegister, Path: "y"},
		{Op: OpOpen, Host: "BRAVO", Path: `app\x`, Timeout: 1500},
		{Op: OpWrite, Data: []byte("hello")},
		{Op: OpWrite, Data: []byte{}},
		{Op: OpQuery, Kind: QueryLookup, Arg: "BRAVO<00>"},
		{Op: OpResult, Code: 53, MaxPayload: 424, Message: "cannot resolve BRAVO"},
		{Op: OpDeliver, FromName: [16]byte{'A', 'L', 'P', 'H', 'A'}, From: netip.MustParseAddrPort("192.0.2.11:138"), Data: []byte("hi")},
		{Op: OpJSON, Data: []byte(`{"a":1}`)},
		{Op: OpReady},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range frames() {
		b, err := f.Append(nil)
		if err != nil {
			t.Fatalf("%c: %v", f.Op, err)
		}
		g, err := Decode(b)
		if err != nil {
			t.Fatalf("%c: decode: %v", f.Op, err)
		}
		if len(f.Data) == 0 && len(g.Data) == 0 {
			g.Data = f.Data
		}
		if !reflect.DeepEqual(f, g) {
			t.Errorf("round trip:\n got %+v\nwant %+v", g, f)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := (&Frame{Op: OpOpen, Host: "B", Path: "x"}).Append(nil)
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version":     {2, 'W'},
		"op":          {Version, 'Z'},
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte{}, good...), 0),
		"bad prefix":  {Version, 'R', 0, 1, 'x', 1, 192, 0, 2, 0, 33},
		"huge":        bytes.Repeat([]byte{Version}, MaxFrame+1),
		"short deliv": {Version, 'D', 1, 2, 3},
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func TestAppendTooLarge(t *testing.T) {
	f := Frame{Op: OpWrite, Data: make([]byte, MaxFrame)}
	if _, err := f.Append(nil); err != ErrTooLarge {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, fr := range frames() {
		b, _ := fr.Append(nil)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		out, err := fr.Append(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encode differs:\n in %x\nout %x", b, out)
		}
	})
}
