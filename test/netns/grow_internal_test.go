//go:build linux

package netns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// grow makes a datagram our own decoder accepts whole, so the cut test
// proves that only nmbd's cut drops it.
func TestGrow(t *testing.T) {
	m := dgram.Message{ID: 1, SourceIP: netip.MustParseAddr("192.0.2.12"), Source: netbios.MustNew("RAWPEER", 0),
		Dest: netbios.MustNew("AGENTX", 0), Mailslot: `\MAILSLOT\late\inbox`, Data: []byte("too long")}
	b, err := m.Append(nil, smbmail.Samba)
	if err != nil {
		t.Fatal(err)
	}
	added := 700 - len(b)
	b = grow(b, added)
	_, w, err := dgram.Parse(b)
	if err != nil || len(b) != 700 || !strings.HasPrefix(string(w.Data), "too long") || len(w.Data) != len("too long")+added {
		t.Fatalf("grown datagram: %d bytes, %v, data %d", len(b), err, len(w.Data))
	}
	if _, _, err := dgram.Parse(b[:576]); err == nil {
		t.Fatal("the first 576 bytes parse: the cut would not show")
	}
}
