package ctlmsg

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	in := Stat{Admitted: true, PID: 42, UID: 1000, GID: 65534, MaxMessageSize: 424,
		ReadTimeoutMS: -1, MessageCount: 3, NextSize: -1, Quota: 1 << 20, Dropped: 7, Name: `\\.\mailslot\a\b`}
	out, err := Decode(in.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Fatalf("got %+v want %+v", out, in)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := (&Stat{Name: "x"}).Append(nil)
	for name, b := range map[string][]byte{
		"empty":   nil,
		"short":   good[:headerLen-1],
		"version": append([]byte{9}, good[1:]...),
		"flags":   append([]byte{version, 2}, good[2:]...),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&Stat{Admitted: true, Name: `\\.\mailslot\x`}).Append(nil))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes.
		if got := string(s.Append(nil)); got != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
