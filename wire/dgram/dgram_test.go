package dgram

import (
	"github.com/mailslot/mailslot/internal/allocbound"

	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

func TestReproducesSambaCapture(t *testing.T) {
	m := Message{Group: true, ID: 0x6228, SourceIP: netip.MustParseAddr("192.0.2.10"), Source: netbios.MustNew("SAMBASRV", 0),
		Dest: netbios.MustNew("TESTGRP", 0x1d), Mailslot: `\MAILSLOT\BROWSE`, Data: samples.SambaHostAnnouncementData, Priority: 1}
	b, err := m.Append(nil, smbmail.Samba)
	if err != nil || !bytes.Equal(b, samples.SambaHostAnnouncement) {
		t.Fatalf("%x\n%v", b, err)
	}
	p, w, err := Parse(b)
	if err != nil || w.Name != m.Mailslot || !bytes.Equal(w.Data, m.Data) || p.SourceName != m.Source {
		t.Fatalf("%+v %+v %v", p, w, err)
	}
}

func TestParseRefusesFragmentsAndNonSMB(t *testing.T) {
	m := Message{SourceIP: netip.MustParseAddr("192.0.2.20"), Source: netbios.MustNew("A", 0), Dest: netbios.MustNew("B", 0),
		Mailslot: `\MAILSLOT\X`, Data: []byte("x")}
	b, _ := m.Append(nil, smbmail.Windows)
	frag := append([]byte(nil), b...)
	frag[1] |= 0x01
	if _, _, err := Parse(frag); !errors.Is(err, ErrFragment) {
		t.Fatal(err)
	}
	notSMB := append([]byte(nil), b...)
	notSMB[14+68] = 0
	if _, _, err := Parse(notSMB); !errors.Is(err, ErrNotSMB) {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(samples.SambaHostAnnouncement)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Must not panic; the mailslot name is the only copy of the input.
		allocbound.Within(t, "Parse", 96, 8192+2*uint64(len(b)), func() { Parse(b) })
	})
}

// BenchmarkDecodeHostAnnouncement decodes every layer of a full datagram:
// NetBIOS datagram, SMB mailslot write and browser HostAnnouncement.
func BenchmarkDecodeHostAnnouncement(b *testing.B) {
	var a browser.Announcement
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, w, err := Parse(samples.SambaHostAnnouncement)
		if err == nil {
			err = browser.DecodeAnnouncement(w.Data, &a)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHostAnnouncement(b *testing.B) {
	m := Message{Group: true, SourceIP: netip.MustParseAddr("192.0.2.10"), Source: netbios.MustNew("SAMBASRV", 0),
		Dest: netbios.MustNew("TESTGRP", 0x1d), Mailslot: browser.Mailslot, Data: samples.SambaHostAnnouncementData}
	buf := make([]byte, 0, 576)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		var err error
		if buf, err = m.Append(buf[:0], smbmail.Windows); err != nil {
			b.Fatal(err)
		}
	}
}
