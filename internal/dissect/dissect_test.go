package dissect

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mailslot/mailslot/internal/allocbound"
	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
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
		// Every layer together stays within a small multiple of the input.
		allocbound.Within(t, "Decode", 512, 16384+16*uint64(len(b)), func() { Decode(b, port%140) })
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

// Bytes after a name service packet's last record are reported, with the
// packet itself.
func TestNameServiceTrailingBytes(t *testing.T) {
	q, _ := nbns.NodeStatusRequest(7, netbios.Wildcard).Append(nil)
	// An ID of 0x11xx makes the packet start like a datagram (type 0x11).
	q11, _ := nbns.NodeStatusRequest(0x1100, netbios.Wildcard).Append(nil)
	for _, tc := range []struct {
		b    []byte
		port int
	}{{q, 137}, {q, 0}, {q11, 0}} {
		port := tc.port
		r, err := Decode(append(tc.b, "junk"...), port)
		var de *Error
		if !errors.As(err, &de) || de.Layer != "NetBIOS name service" || !strings.Contains(err.Error(), "4 bytes of trailing data") {
			t.Fatalf("port %d: %v", port, err)
		}
		if r == nil || r.Names == nil || len(r.Names.Questions) != 1 || r.Names.Trailing != 4 {
			t.Fatalf("port %d: the packet is lost: %+v", port, r)
		}
	}
	if r, err := Decode(q, 137); err != nil || r.Names.Trailing != 0 {
		t.Fatalf("%+v %v", r, err)
	}
}
