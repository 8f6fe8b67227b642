package messenger

import (
	"github.com/mailslot/mailslot/internal/allocbound"

	"bytes"
	"errors"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// The Win98 "net send" to the workgroup (reference wire-protocol.md §6.1).
var win98 = []byte("WIN98USER\x00WORKGROUP\x00HELLO WORLD\x00")

func TestWin98Capture(t *testing.T) {
	m, err := Decode(win98, nil)
	if err != nil || m != (Message{From: "WIN98USER", To: "WORKGROUP", Text: "HELLO WORLD"}) {
		t.Fatalf("%+v %v", m, err)
	}
	b, err := m.Append(nil, nil)
	if err != nil || !bytes.Equal(b, win98) || len(b) != 32 {
		t.Fatalf("%q %v", b, err)
	}
}

func TestOEMCodePages(t *testing.T) {
	m := Message{From: "JÜRGEN", To: "BÜRO", Text: "Grüße, ½ € nicht"}
	if _, err := m.Append(nil, charmap.CodePage437); !errors.Is(err, ErrEncode) {
		t.Fatalf("€ is not in CP437: %v", err)
	}
	m.Text = "Grüße ½"
	b, err := m.Append(nil, charmap.CodePage850)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte{'J', 0x9a, 'R'}) { // Ü is 0x9A in CP850
		t.Fatalf("%x", b)
	}
	if got, err := Decode(b, charmap.CodePage850); err != nil || got != m {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestTolerantAndSafeDecoding(t *testing.T) {
	m, err := Decode([]byte("A\x00B\x00no final nul"), nil)
	if err != nil || m.Text != "no final nul" {
		t.Fatalf("%+v %v", m, err)
	}
	m, err = Decode([]byte("A\x1b]0;pwned\x07\x00B\x00line1\r\nline2\rX\x9b31m\x00trailing junk"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != `A\x1b]0;pwned\x07` || m.Text != "line1\nline2\\x0dX¢31m" {
		t.Fatalf("%+v", m)
	}
	for _, b := range [][]byte{nil, []byte("only one"), []byte("A\x00B")} {
		if _, err := Decode(b, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", b, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(win98)
	f.Add([]byte("A\x00B\x00\x1b[2J"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Decoding and escaping cost a bounded amount per input byte.
		allocbound.Within(t, "Decode", 64+2*uint64(len(b)), 4096+64*uint64(len(b)), func() { Decode(b, nil) })
		m, err := Decode(b, nil)
		if err != nil {
			return
		}
		for _, s := range []string{m.From, m.To, m.Text} {
			for _, r := range s {
				if unsafeRune(r) {
					t.Fatalf("unsafe rune %U in %q", r, s)
				}
			}
		}
	})
}
