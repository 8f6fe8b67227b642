package agent

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbdgm"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// datagramB builds a mailslot write of n bytes.
func datagramB(t testing.TB, src netip.Addr, from, dest, slot string, n int) []byte {
	return datagram(t, src, from, dest, false, slot, string(make([]byte, n)))
}

// datagram builds a mailslot write from src to dest.
func datagram(t testing.TB, src netip.Addr, from, dest string, group bool, slot, text string) []byte {
	t.Helper()
	m := dgram.Message{Group: group, ID: uint16(rand.Uint32()), SourceIP: src, Source: netbios.MustNew(from, 0),
		Dest: netbios.MustNew(dest, 0), Mailslot: smbmail.Prefix + slot, Data: []byte(text)}
	b, err := m.Append(nil, smbmail.Windows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDuplicateAcrossInterfacesDeliveredOnce(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		b := l.add("BRAVO", 12)
		// BRAVO has a second interface on the same segment: every broadcast
		// reaches it twice.
		l.hosts["BRAVO"].AddInterface("lan", netip.MustParsePrefix("192.0.2.112/24"))
		p := l.peer("WIN98", 50)
		time.Sleep(3 * time.Second) // registered on both
		sub, _ := b.Router().Subscribe("dup", nil)
		p.raw(138, bcast, 138, datagram(t, p.i.IP(), "WIN98", "TESTGRP", true, "dup", "once"))
		if d := recv(t, sub); string(d.Data) != "once" {
			t.Fatalf("got %q", d.Data)
		}
		none(t, sub)
		if b.M.Duplicates.Load() != 1 {
			t.Fatalf("duplicates = %d", b.M.Duplicates.Load())
		}
	})
}

func TestOwnBroadcastIgnoredAndDeliveredLocallyOnce(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		time.Sleep(time.Second)
		sub, _ := a.Router().Subscribe("self", nil)
		if err := a.Send(context.Background(), "*", "self", []byte("me too")); err != nil {
			t.Fatal(err)
		}
		recv(t, sub)
		none(t, sub)
		if a.M.OwnDropped.Load() != 1 {
			t.Fatalf("own dropped = %d", a.M.OwnDropped.Load())
		}
	})
}

func TestFragmentsMalformedAndForeignNames(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		b := l.add("BRAVO", 12)
		p := l.peer("PEER", 50)
		time.Sleep(time.Second)
		sub, _ := b.Router().Subscribe("f", nil)
		to := netip.MustParseAddr("192.0.2.12")

		frag := datagram(t, p.i.IP(), "PEER", "BRAVO", false, "f", "part")
		frag[1] |= byte(nbdgm.More)
		p.raw(138, to, 138, frag)
		p.raw(138, to, 138, []byte("garbage"))
		p.drain()
		// A unicast write to a name BRAVO does not have: DATAGRAM ERROR 0x82.
		p.raw(138, to, 138, datagram(t, p.i.IP(), "PEER", "NOTBRAVO", false, "f", "lost"))
		none(t, sub)
		var errPk *nbdgm.Packet
		for len(p.h.Packets()) > 0 {
			pk := <-p.h.Packets()
			if d, err := nbdgm.Decode(pk.Data); err == nil && d.Type == nbdgm.Error {
				errPk = &d
			}
		}
		if errPk == nil || errPk.ErrorCode != nbdgm.ErrDestinationNotPresent || errPk.SourceIP != to {
			t.Fatalf("datagram error = %+v", errPk)
		}
		if b.M.Fragments.Load() != 1 || b.M.Malformed.Load() != 1 || b.M.NotOurs.Load() != 1 {
			t.Fatalf("fragments %d malformed %d not-ours %d", b.M.Fragments.Load(), b.M.Malformed.Load(), b.M.NotOurs.Load())
		}
		// A broadcast for another workgroup: dropped, and no error sent.
		p.raw(138, bcast, 138, datagram(t, p.i.IP(), "PEER", "OTHERWG", true, "f", "lost"))
		none(t, sub)
		if b.M.ErrorsSent.Load() != 1 {
			t.Fatalf("errors sent = %d", b.M.ErrorsSent.Load())
		}
	})
}

func TestSourceNetworkFilters(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12, func(c *Config) { c.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28")} })
		p := l.peer("FAR", 50) // outside 192.0.2.0/28
		time.Sleep(time.Second)
		narrow, _ := b.Router().Subscribe("n", []netip.Prefix{netip.MustParsePrefix("192.0.2.13/32")})
		open, _ := b.Router().Subscribe("o", nil)
		p.raw(138, netip.MustParseAddr("192.0.2.12"), 138, datagram(t, p.i.IP(), "FAR", "BRAVO", false, "o", "refused"))
		none(t, open)
		a.Send(context.Background(), "BRAVO", "n", []byte("wrong source"))
		none(t, narrow)
		a.Send(context.Background(), "BRAVO", "o", []byte("fine"))
		if d := recv(t, open); string(d.Data) != "fine" {
			t.Fatalf("got %q", d.Data)
		}
		if b.M.Refused.Load() != 2 {
			t.Fatalf("refused = %d", b.M.Refused.Load())
		}
	})
}

func TestNoSlotIsCounted(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12)
		time.Sleep(time.Second)
		a.Send(context.Background(), "BRAVO", "nobody-listens", []byte("x"))
		time.Sleep(time.Second)
		if b.M.NoSlot.Load() != 1 || b.M.Received.Load() != 1 {
			t.Fatalf("no-slot %d received %d", b.M.NoSlot.Load(), b.M.Received.Load())
		}
	})
}

func TestLossAndDuplicationOnTheWire(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12)
		time.Sleep(time.Second)
		sub, _ := b.Router().Subscribe("u", nil)
		tgt, err := a.Open(context.Background(), "BRAVO", "u")
		if err != nil {
			t.Fatal(err)
		}
		l.net.SetFaults(0.3, 0.2, 0.2)
		const n = 200
		for i := 0; i < n; i++ {
			if err := a.Write(tgt, []byte{byte(i)}); err != nil {
				t.Fatal(err) // losses never show as write errors
			}
		}
		l.net.SetFaults(0, 0, 0)
		a.Write(tgt, []byte("flush")) // releases a held-back packet
		time.Sleep(time.Second)
		got := len(sub.C)
		// Unreliable, as on Windows: some lost, some repeated, all bounded.
		if got == 0 || got >= 2*n {
			t.Fatalf("delivered %d of %d", got, n)
		}
		if got == n+1 {
			t.Fatalf("no loss or duplication observed with faults on")
		}
	})
}

func TestGarbageFloodKeepsServiceAndMemoryBounded(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12)
		p := l.peer("FLOOD", 66)
		time.Sleep(time.Second)
		sub, _ := b.Router().Subscribe("v", nil)
		to := netip.MustParseAddr("192.0.2.12")
		rng := rand.New(rand.NewPCG(1, 2))
		var before runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		buf := make([]byte, 1500)
		for i := 0; i < 100000; i++ {
			n := rng.IntN(len(buf))
			for k := range buf[:n] {
				buf[k] = byte(rng.Uint32())
			}
			port := uint16(137 + i%2)
			dst := to
			if i%3 == 0 {
				dst = bcast
			}
			p.raw(40000, dst, port, buf[:n])
			if i == 50000 {
				if err := a.Send(context.Background(), "BRAVO", "v", []byte("valid")); err != nil {
					t.Fatal(err)
				}
			}
			if i%1000 == 0 {
				time.Sleep(time.Millisecond) // let the agents drain their queues
			}
		}
		if d := recv(t, sub); string(d.Data) != "valid" {
			t.Fatalf("got %q", d.Data)
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > 32<<20 {
			t.Fatalf("heap grew by %d bytes during the flood", grow)
		}
		if b.M.Malformed.Load()+b.ns.C.Malformed.Load()+b.M.RateLimitedIn.Load() == 0 {
			t.Fatal("no garbage was counted")
		}
	})
}

func TestPerSourceRateLimit(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12, func(c *Config) { c.RateIn, c.BurstIn = 100, 100 })
		p := l.peer("NOISY", 50)
		time.Sleep(time.Second)
		sub, _ := b.Router().Subscribe("r", nil)
		to := netip.MustParseAddr("192.0.2.12")
		for i := 0; i < 1000; i++ {
			p.raw(138, to, 138, datagram(t, p.i.IP(), "NOISY", "BRAVO", false, "r", "noise"))
		}
		time.Sleep(10 * time.Millisecond)
		a.Send(context.Background(), "BRAVO", "r", []byte("quiet"))
		time.Sleep(time.Second)
		noisy, quiet := 0, 0
		for len(sub.C) > 0 {
			if d := <-sub.C; d.Source() == "ALPHA" {
				quiet++
			} else {
				noisy++
			}
		}
		if quiet != 1 || noisy < 100 || noisy > 110 || b.M.RateLimitedIn.Load() == 0 {
			t.Fatalf("quiet %d noisy %d limited %d", quiet, noisy, b.M.RateLimitedIn.Load())
		}
	})
}
