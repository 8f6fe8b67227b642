package dissect

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
)

func TestGuessesThePort(t *testing.T) {
	r, err := Decode(samples.SambaHostAnnouncement, 0)
	if err != nil || r.Port != 138 || r.Browser == nil || r.Browser.Command != "HostAnnouncement" {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = Decode(samples.NodeStatusResponsePrefix, 0)
	var de *Error
	if !errors.As(err, &de) || de.Layer != "NetBIOS name service" || r.Port != 137 {
		t.Fatalf("truncated node status: %+v %v", r, err)
	}
}

func TestParseHex(t *testing.T) {
	for in, want := range map[string][]byte{
		"0000 11 0a\n0002 62 28\n": {0x11, 0x0a, 0x62, 0x28},
		"110a 6228":                {0x11, 0x0a, 0x62, 0x28},
		"  11\t0a  ":               {0x11, 0x0a},
	} {
		got, err := ParseHex(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %x %v", in, got, err)
		}
	}
	if _, err := ParseHex("zz"); err == nil {
		t.Error("accepted non-hex")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(samples.SambaHostAnnouncement, 0)
	f.Add(samples.NodeStatusResponsePrefix, 137)
	f.Fuzz(func(t *testing.T, b []byte, port int) {
		r, err := Decode(b, port%140)
		if err == nil && r == nil {
			t.Fatal("no result and no error")
		}
		if r != nil {
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("result does not marshal: %v", err)
			}
		}
	})
}
