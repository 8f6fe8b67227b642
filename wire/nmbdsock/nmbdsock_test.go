package nmbdsock

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// The bytes Samba's own client (net lookup dsgetdcname) wrote, from strace
// (reference/samba-coexistence.md §3.2):
// writev(9, [{"\1\0\0\0\0\0\0\0\33\0\0\0\0\0\0\0\377\377\377\377\0\0\0\0", 24},
// {"\\MAILSLOT\\NET\\GETDC140200C0", 27}])
var sambaQuery = []byte("\x01\x00\x00\x00\x00\x00\x00\x00\x1b\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00" +
	`\MAILSLOT\NET\GETDC140200C0`)

func TestQueryKnownAnswer(t *testing.T) {
	q := Query{Type: Dgram, TrnID: AnyTrnID, Mailslot: `\MAILSLOT\NET\GETDC140200C0`}
	b, err := q.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, sambaQuery) {
		t.Errorf("query:\n got %x\nwant %x", b, sambaQuery)
	}
	got, err := ParseQuery(sambaQuery)
	if err != nil || got != q {
		t.Errorf("ParseQuery = %+v, %v; want %+v", got, err, q)
	}
	// Python's struct.pack("<i4xQi4x", 1, 0, -1): no filter.
	b, _ = (&Query{Type: Dgram, TrnID: AnyTrnID}).Append(nil)
	if want := "01000000000000000000000000000000ffffffff00000000"; hex.EncodeToString(b) != want {
		t.Errorf("empty filter query = %x, want %s", b, want)
	}
}

func TestQueryErrors(t *testing.T) {
	long := strings.Repeat("x", MaxName+1)
	if _, err := (&Query{Type: Dgram, Mailslot: long}).Append(nil); !errors.Is(err, ErrNameLen) {
		t.Errorf("Append of a %d-byte name: %v, want ErrNameLen", len(long), err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"short", sambaQuery[:QuerySize-1], ErrShort},
		{"name cut", sambaQuery[:len(sambaQuery)-1], ErrShort},
		{"trailing", append(append([]byte{}, sambaQuery...), 'x'), ErrTrailing},
		// namelen 2000, as in the reference's test that nmbd refused.
		{"namelen 2000", append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0xd0, 0x07, 0, 0, 0, 0, 0, 0}, make([]byte, 8)...), ErrNameLen},
	} {
		if _, err := ParseQuery(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// A header from a live frame (reference §3.3): len 181, DGRAM, timestamp,
// 192.0.2.20, port 138.
const liveHeader = "b500000000000000" + "01000000" + "00000000" + "6b7a076b00000000" + "c0000214" + "8a000000"

func TestHeaderKnownAnswer(t *testing.T) {
	b, _ := hex.DecodeString(liveHeader)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Len: 181, Type: Dgram, Timestamp: 0x6b077a6b, Src: netip.MustParseAddrPort("192.0.2.20:138")}
	if h != want {
		t.Errorf("ParseHeader = %+v, want %+v", h, want)
	}
	if got := want.Append(nil); !bytes.Equal(got, b) {
		t.Errorf("Append:\n got %x\nwant %x", got, b)
	}
}

func TestHeaderErrors(t *testing.T) {
	b, _ := hex.DecodeString(liveHeader)
	if _, err := ParseHeader(b[:HeaderSize-1]); !errors.Is(err, ErrShort) {
		t.Errorf("short header: %v", err)
	}
	bad := append([]byte{}, b...)
	bad[8] = 7
	if _, err := ParseHeader(bad); !errors.Is(err, ErrBadType) {
		t.Errorf("type 7: %v", err)
	}
	bad = append([]byte{}, b...)
	bad[0], bad[1] = 0x01, 0x10 // 4097
	if _, err := ParseHeader(bad); !errors.Is(err, ErrTooLong) {
		t.Errorf("len 4097: %v", err)
	}
	bad = append([]byte{}, b...)
	bad[7] = 0x80 // a length with the top bit set must not become negative
	if _, err := ParseHeader(bad); !errors.Is(err, ErrTooLong) {
		t.Errorf("huge len: %v", err)
	}
	bad = append([]byte{}, b...)
	copy(bad[28:], []byte{0xff, 0xff, 0xff, 0xff}) // port -1
	if h, _ := ParseHeader(bad); h.Src.Port() != 0 {
		t.Errorf("port -1 decoded as %d, want 0", h.Src.Port())
	}
}

func TestReadFrame(t *testing.T) {
	var stream []byte
	stream = append(stream, Ack)
	pk1 := bytes.Repeat([]byte{0x11}, 181)
	pk2 := bytes.Repeat([]byte{0x22}, MaxDgram)
	for _, p := range [][]byte{pk1, pk2} {
		h := Header{Len: uint64(len(p)), Type: Dgram, Timestamp: 1, Src: netip.MustParseAddrPort("192.0.2.20:138")}
		stream = append(h.Append(stream), p...)
	}
	r := bytes.NewReader(stream)
	if err := ReadAck(r); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, BufferSize)
	for i, want := range [][]byte{pk1, pk2} {
		f, err := ReadFrame(r, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.Packet, want) || f.Cut() != (len(want) == MaxDgram) {
			t.Errorf("frame %d: %d bytes, cut %v", i, len(f.Packet), f.Cut())
		}
	}
	if _, err := ReadFrame(r, buf); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	// A frame cut by nmbd's exit is an unexpected EOF, not a short packet.
	h := Header{Len: 100, Type: Dgram}
	if _, err := ReadFrame(bytes.NewReader(append(h.Append(nil), 1, 2, 3)), buf); err != io.ErrUnexpectedEOF {
		t.Errorf("cut frame: %v", err)
	}
	if err := ReadAck(bytes.NewReader([]byte{1})); !errors.Is(err, ErrBadAck) {
		t.Errorf("ack 1: %v", err)
	}
}

// FuzzReadFrame feeds arbitrary streams to the frame reader: it must never
// panic, never return a packet longer than MaxPacket, and every header it
// accepts must encode back to the same bytes (padding aside).
func FuzzReadFrame(f *testing.F) {
	b, _ := hex.DecodeString(liveHeader)
	f.Add(append(b, make([]byte, 181)...))
	f.Add(sambaQuery)
	f.Add([]byte{})
	buf := make([]byte, BufferSize)
	f.Fuzz(func(t *testing.T, data []byte) {
		if q, err := ParseQuery(data); err == nil {
			out, err := q.Append(nil)
			if err != nil || len(out) != len(data) || !bytes.Equal(out[QuerySize:], data[QuerySize:]) {
				t.Fatalf("query round trip: %x -> %+v -> %x, %v", data, q, out, err)
			}
		}
		r := bytes.NewReader(data)
		for {
			fr, err := ReadFrame(r, buf)
			if err != nil {
				return
			}
			if len(fr.Packet) > MaxPacket || uint64(len(fr.Packet)) != fr.Len {
				t.Fatalf("packet of %d bytes for Len %d", len(fr.Packet), fr.Len)
			}
			raw := data[int(r.Size())-r.Len()-HeaderSize-len(fr.Packet):][:HeaderSize]
			again, err := ParseHeader(fr.Header.Append(nil))
			if err != nil || again != fr.Header {
				t.Fatalf("header round trip: %x -> %+v -> %+v, %v", raw, fr.Header, again, err)
			}
		}
	})
}
