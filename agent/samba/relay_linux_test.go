package samba

import (
	"encoding/binary"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/nmbdsock"
	"github.com/mailslot/mailslot/wire/smbmail"
)

func frame(t *testing.T, group bool, id uint16, data string) nmbdsock.Frame {
	t.Helper()
	m := dgram.Message{Group: group, ID: id, SourceIP: netip.MustParseAddr("192.0.2.20"), Source: netbios.MustNew("PEER", 0),
		Dest: netbios.MustNew("AGENT", 0), Mailslot: `\MAILSLOT\TEST\X`, Data: []byte(data)}
	b, err := m.Append(nil, smbmail.Samba)
	if err != nil {
		t.Fatal(err)
	}
	return nmbdsock.Frame{Header: nmbdsock.Header{Len: uint64(len(b)), Type: nmbdsock.Dgram,
		Src: netip.MustParseAddrPort("192.0.2.20:138")}, Packet: b}
}

func relayOnly() *Transport {
	t := &Transport{log: slog.New(slog.DiscardHandler)}
	t.recent.seed = maphash.MakeSeed()
	return t
}

// nmbd hands out a subnet broadcast twice in a row: the second copy is
// dropped; a different datagram, or the same one later, is not.
func TestRelayDuplicates(t *testing.T) {
	tr := relayOnly()
	a, b := frame(t, true, 1, "one"), frame(t, true, 2, "two")
	p := tr.packet(&a)
	if p == nil || !p.Relayed || !p.Broadcast || p.Src != a.Src || p.Port != 138 {
		t.Fatalf("first copy: %+v", p)
	}
	if tr.packet(&a) != nil {
		t.Error("the second copy was passed on")
	}
	if tr.packet(&b) == nil {
		t.Error("another datagram was taken for a copy")
	}
	if got := tr.stats.Duplicates.Load(); got != 1 {
		t.Errorf("Duplicates = %d, want 1", got)
	}
	now := time.Now()
	r := &tr.recent
	if !r.seen(&a, now) {
		t.Error("a datagram just seen is not remembered")
	}
	if r.seen(&a, now.Add(2*dupWindow)) {
		t.Error("a datagram repeated after the window is taken for nmbd's copy")
	}
	u := frame(t, false, 3, "unique")
	if p := tr.packet(&u); p == nil || p.Broadcast {
		t.Errorf("unique datagram: %+v", p)
	}
}

// A datagram of 576 bytes is whole or cut; only its content tells.
func TestRelayCut(t *testing.T) {
	tr := relayOnly()
	whole := frame(t, false, 1, "")
	pad := nmbdsock.MaxDgram - len(whole.Packet)
	whole = frame(t, false, 1, string(make([]byte, pad)))
	if len(whole.Packet) != nmbdsock.MaxDgram {
		t.Fatalf("test datagram has %d bytes", len(whole.Packet))
	}
	if tr.packet(&whole) == nil {
		t.Error("a whole 576-byte datagram was dropped")
	}
	// The first 576 bytes of a longer datagram (its counts say more).
	long := frame(t, false, 2, string(make([]byte, 400)))
	cut := append([]byte(nil), long.Packet...)
	cut = append(cut, make([]byte, nmbdsock.MaxDgram-len(cut))...)
	// TotalDataCount, DataCount and ByteCount claim 100 bytes more than
	// the cut left.
	for _, off := range []int{115 + 2, 115 + 22, 149} {
		binary.LittleEndian.PutUint16(cut[off:], binary.LittleEndian.Uint16(cut[off:])+100)
	}
	c := nmbdsock.Frame{Header: long.Header, Packet: cut}
	if tr.packet(&c) != nil {
		t.Error("a cut datagram was passed on")
	}
	if got := tr.stats.Cut.Load(); got != 1 {
		t.Errorf("Cut = %d, want 1", got)
	}
	nmb := nmbdsock.Frame{Header: nmbdsock.Header{Type: nmbdsock.NMB}, Packet: []byte{1}}
	if tr.packet(&nmb) != nil || tr.stats.Malformed.Load() != 1 {
		t.Error("an NMB frame was passed on as a datagram")
	}
}
