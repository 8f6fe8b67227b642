package browser

import (
	"github.com/mailslot/mailslot/internal/allocbound"

	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mailslot/mailslot/internal/samples"
)

func TestSambaHostAnnouncement(t *testing.T) {
	f, err := Decode(samples.SambaHostAnnouncementData)
	if err != nil {
		t.Fatal(err)
	}
	want := &Announcement{Op: OpHostAnnouncement, Periodicity: 60000, ServerName: "SAMBASRV", OSMajor: 6, OSMinor: 1,
		Type: 0x00819a03, BrowserMajor: 0x0F, BrowserMinor: 0x01, Signature: 0xAA55, Comment: "test nmbd"}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("decoded %+v", f)
	}
	b, err := want.Append(nil)
	if err != nil || !bytes.Equal(b, samples.SambaHostAnnouncementData) {
		t.Fatalf("re-encoded %x, %v", b, err)
	}
	if s := want.Type.String(); s != "WORKSTATION|SERVER|PRINTQ_SERVER|SERVER_UNIX|NT|SERVER_NT|POTENTIAL_BROWSER|DFS" {
		t.Fatalf("type names %s", s)
	}
}

func TestSambaQuirks(t *testing.T) {
	// Samba's AnnouncementRequest: token in byte 1, name one byte late, no NUL.
	f, err := Decode([]byte("\x02\x01\x00SAMBASRV"))
	if err != nil || f.(*AnnouncementRequest).ResponseName != "SAMBASRV" {
		t.Fatalf("%+v %v", f, err)
	}
	// The lab's GetBackupListResponse.
	f, err = Decode([]byte("\x0a\x01\x01\x00\x00\x00SAMBASRV\x00"))
	if err != nil || !reflect.DeepEqual(f, &GetBackupListResponse{Token: 1, Servers: []string{"SAMBASRV"}}) {
		t.Fatalf("%+v %v", f, err)
	}
}

func TestAllOpcodesRoundTrip(t *testing.T) {
	frames := []Frame{
		NewHostAnnouncement("GOHOST", 720000, Workstation|Server|NT, "go host"),
		&Announcement{Op: OpLocalMasterAnnouncement, Periodicity: 1, ServerName: "LMB", Type: MasterBrowser, Signature: 0xAA55},
		&Announcement{Op: OpDomainAnnouncement, ServerName: "TESTGRP", Type: DomainEnum | NT, Comment: "SAMBASRV"},
		&AnnouncementRequest{ResponseName: "ASKER"},
		&RequestElection{Version: 1, Criteria: 0x41010f0a, Uptime: 6000, ServerName: "SAMBASRV"},
		&GetBackupListRequest{RequestedCount: 4, Token: 7},
		&GetBackupListResponse{Token: 7, Servers: []string{"A", "B"}},
		&NameFrame{Op: OpBecomeBackup, Name: "PROMOTE"},
		&NameFrame{Op: OpMasterAnnouncement, Name: "MASTER"},
		&ResetStateRequest{Type: 0x02},
	}
	seen := map[Opcode]bool{}
	for _, f := range frames {
		b, err := f.Append(nil)
		if err != nil {
			t.Fatalf("%v: %v", f.Opcode(), err)
		}
		if Opcode(b[0]) != f.Opcode() {
			t.Fatalf("%v: first byte %#x", f.Opcode(), b[0])
		}
		g, err := Decode(b)
		if err != nil || !reflect.DeepEqual(f, g) {
			t.Fatalf("%v: decoded %+v, %v", f.Opcode(), g, err)
		}
		seen[f.Opcode()] = true
	}
	if len(seen) != 10 {
		t.Fatalf("covered %d opcodes, want 10", len(seen))
	}
}

func TestLanman(t *testing.T) {
	l := &LanmanAnnouncement{Op: 1, Type: Workstation | Server, OSMajor: 36, Periodicity: 720, ServerName: "OS2BOX", Comment: "old"}
	b, err := l.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := DecodeLanman(b)
	if err != nil || !reflect.DeepEqual(l, g) {
		t.Fatalf("%+v %v", g, err)
	}
}

func TestRejects(t *testing.T) {
	for _, b := range [][]byte{nil, {0x01, 0}, {0x03}, {0x08, 1, 2}, {0x09, 4}, {0x0a, 2, 0, 0, 0, 0, 'A', 0}, {0x0e}} {
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%x: %v", b, err)
		}
	}
	if _, err := DecodeLanman([]byte{1, 0}); !errors.Is(err, ErrMalformed) {
		t.Error(err)
	}
	if _, err := NewHostAnnouncement("SIXTEENCHARSLONG", 0, 0, "").Append(nil); !errors.Is(err, ErrField) {
		t.Error(err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(samples.SambaHostAnnouncementData)
	f.Add([]byte("\x02\x01\x00SAMBASRV"))
	f.Add([]byte("\x0a\x01\x01\x00\x00\x00SAMBASRV\x00"))
	f.Add([]byte("\x08\x01\x0a\x0f\x01\x41\x70\x17\x00\x00\x00\x00\x00\x00SAMBASRV\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		// A backup list holds at most 255 names; strings copy the input.
		allocbound.Within(t, "Decode", 300, 16384+2*uint64(len(b)), func() { Decode(b); DecodeLanman(b) })
		if fr, err := Decode(b); err == nil {
			fr.Append(nil) // must not panic
		}
		if l, err := DecodeLanman(b); err == nil {
			l.Append(nil)
		}
	})
}
