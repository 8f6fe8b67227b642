package ctlmsg

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, in := range []Hello{
		{Admitted: true, MaxMessageSize: 424, ReadTimeoutMS: -1, MessageCount: 3, NextSize: -1, Quota: 1 << 20, Name: `\\.\mailslot\a\b`},
		{Name: `\\.\mailslot\denied`},
	} {
		out, err := Decode(in.Append(nil))
		if err != nil {
			t.Fatal(err)
		}
		if out != in {
			t.Fatalf("got %+v want %+v", out, in)
		}
	}
}

func TestDenialCarriesNameOnly(t *testing.T) {
	b := (&Hello{Admitted: false, MessageCount: 7, NextSize: 9, Quota: 5, Name: "x"}).Append(nil)
	h, err := Decode(b)
	if err != nil || h != (Hello{Name: "x"}) {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := (&Hello{Admitted: true, Name: "x"}).Append(nil)
	leaky := append([]byte{version, 0}, good[2:]...)
	leaky[22] = 5 // a "denied" record with a count
	for name, b := range map[string][]byte{
		"empty":   nil,
		"short":   good[:headerLen-1],
		"version": append([]byte{9}, good[1:]...),
		"flags":   append([]byte{version, 2}, good[2:]...),
		"leaky":   leaky,
	} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&Hello{Admitted: true, Name: `\\.\mailslot\x`}).Append(nil))
	f.Add((&Hello{Name: `\\.\mailslot\x`}).Append(nil))
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes.
		if got := string(h.Append(nil)); got != string(b) {
			t.Fatalf("re-encoding differs")
		}
	})
}
