//go:build linux

package browse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/netbios"
)

type node struct {
	a      *agent.Agent
	s      *Service
	cancel context.CancelFunc
	done   chan struct{}
	run    func() // starts the browse service
}

// stop ends the node's browse service (with its goodbye), then its agent.
func (n *node) stop() {
	n.cancel()
	<-n.done
}

// lan runs agents with the browse service on a memnet LAN in a synctest
// bubble (virtual time: the MS-BRWS minutes pass instantly).
func lan(t *testing.T, names []string, f func(net *memnet.Network, ns map[string]*node)) {
	lanWith(t, names, func(name string) Config { return Config{NoSocket: true, Comment: "comment of " + name} }, f)
}

func lanWith(t *testing.T, names []string, cfg func(name string) Config, f func(net *memnet.Network, ns map[string]*node)) {
	synctest.Test(t, func(t *testing.T) {
		net := memnet.New(1)
		ns := map[string]*node{}
		for i, name := range names {
			h := net.Host(name)
			h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(11 + i)}), 24))
			a, err := agent.New(agent.Config{Name: name, Workgroup: "TESTGRP", Transport: h, NoLocalSocket: true, DisableDNS: true})
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(a, cfg(name))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			actx, acancel := context.WithCancel(context.Background())
			n := &node{a: a, s: s, cancel: cancel, done: make(chan struct{}), run: func() { s.Run(ctx); acancel() }}
			go func() { a.Run(actx); close(n.done) }()
			ns[name] = n
		}
		// Every agent is up and has registered its names (three tries,
		// 250 ms apart) before any service sends its first announcement:
		// goroutines of one instant run in no fixed order, and an
		// announcement sent before a peer's agent reads would be lost
		// (seen once in 240 runs under load).
		time.Sleep(time.Second)
		for _, n := range ns {
			go n.run()
		}
		f(net, ns)
		for _, n := range ns {
			n.stop()
		}
	})
}

func find(s *Service, kind, name string) (Entry, bool) {
	es, _ := s.Entries()
	for _, e := range es {
		if e.Kind == kind && e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

func TestAnnounceCollectAndSchedule(t *testing.T) {
	lan(t, []string{"ALPHA", "BRAVO"}, func(_ *memnet.Network, ns map[string]*node) {
		start := time.Now() // the first announcement goes out now
		time.Sleep(time.Second)
		e, ok := find(ns["BRAVO"].s, KindHost, "ALPHA")
		if !ok {
			t.Error("BRAVO did not hear ALPHA's announcement")
			return
		}
		want := Entry{Kind: KindHost, Name: "ALPHA", Workgroup: "TESTGRP", Addr: "192.0.2.11", Comment: "comment of ALPHA",
			Type: uint32(DefaultType), OSMajor: 6, OSMinor: 1, Periodicity: 60000}
		if !e.same(&want) || len(e.TypeNames) != 4 {
			t.Errorf("%+v", e)
		}
		// MS-BRWS §3.2.6: again after 1, 2, 4, 8, 12 minutes, then every
		// 12; each announcement carries the time to the next one.
		at := start
		for _, p := range []uint32{120000, 240000, 480000, 720000, 720000, 720000} {
			prev, _ := find(ns["BRAVO"].s, KindHost, "ALPHA")
			at = at.Add(time.Duration(prev.Periodicity) * time.Millisecond)
			before := ns["ALPHA"].s.C.Announced.Load()
			time.Sleep(time.Until(at) - time.Second)
			if ns["ALPHA"].s.C.Announced.Load() != before {
				t.Errorf("announced before the %d ms period was over", prev.Periodicity)
				return
			}
			time.Sleep(2 * time.Second)
			if e, _ := find(ns["BRAVO"].s, KindHost, "ALPHA"); e.Periodicity != p {
				t.Errorf("periodicity %d, want %d", e.Periodicity, p)
				return
			}
		}
	})
}

func TestGoodbyeAndExpiry(t *testing.T) {
	lan(t, []string{"ALPHA", "BRAVO", "CHARLIE"}, func(net *memnet.Network, ns map[string]*node) {
		time.Sleep(time.Second)
		ch, stop := ns["BRAVO"].s.list.watch()
		defer stop()
		for range 2 { // the current entries
			if ev := <-ch; ev.Type != Appear {
				t.Errorf("%+v", ev)
			}
		}
		// A clean stop says goodbye (type 0): gone at once.
		ns["CHARLIE"].stop()
		time.Sleep(time.Second)
		if ev := <-ch; ev.Type != Disappear || ev.Entry.Name != "CHARLIE" {
			t.Errorf("%+v", ev)
		}
		delete(ns, "CHARLIE")
		// A host that goes silent expires after three missed periods
		// (3 × 60 s for its first announcement).
		net.SetFilter(func(from string, _ *transport.Packet) bool { return from != "ALPHA" })
		start := time.Now()
		ev := <-ch
		if ev.Type != Disappear || ev.Entry.Name != "ALPHA" {
			t.Errorf("%+v", ev)
		}
		if d := time.Since(start); d < 2*time.Minute || d > 4*time.Minute {
			t.Errorf("expired after %v, want about 3 minutes", d)
		}
	})
}

func TestAnnouncementRequestSambaStyle(t *testing.T) {
	lan(t, []string{"ALPHA"}, func(_ *memnet.Network, ns map[string]*node) {
		s := ns["ALPHA"].s
		time.Sleep(time.Second)
		before := s.C.Announced.Load()
		// nmbd's frame: token 0x01 in the reserved byte, the name one
		// byte late and without its NUL (reference §5.3).
		for range 3 { // several requests share one answer
			s.HandleMailslot(&agent.Inbound{Src: netip.MustParseAddrPort("192.0.2.10:138"),
				Dest: netbios.MustNew("TESTGRP", netbios.BrowserElect), Group: true, Path: Path,
				Data: []byte("\x02\x01\x00SAMBASRV")})
		}
		time.Sleep(30*time.Second + time.Millisecond)
		if got := s.C.Announced.Load() - before; got != 1 {
			t.Errorf("%d announcements in answer, want 1", got)
		}
	})
}

func announcement(op browser.Opcode, name, comment string, typ browser.ServerType) []byte {
	a := browser.NewHostAnnouncement(name, 720000, typ, comment)
	a.Op = op
	b, err := a.Append(nil)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMasterAndDomains(t *testing.T) {
	lan(t, []string{"ALPHA"}, func(_ *memnet.Network, ns map[string]*node) {
		s := ns["ALPHA"].s
		in := func(dest netbios.Name, data []byte) {
			s.HandleMailslot(&agent.Inbound{Source: netbios.MustNew("SAMBASRV", 0), Src: netip.MustParseAddrPort("192.0.2.10:138"),
				Dest: dest, Group: true, Path: Path, Data: data})
		}
		in(netbios.MustNew("TESTGRP", netbios.BrowserElect), announcement(browser.OpLocalMasterAnnouncement, "SAMBASRV", "test nmbd", 0x00849a03))
		in(netbios.MSBrowse, announcement(browser.OpDomainAnnouncement, "TESTGRP", "SAMBASRV", 0x80001000))
		in(netbios.MSBrowse, announcement(browser.OpDomainAnnouncement, "OTHERWG", "OTHERLMB", 0x80001000))
		e, ok := find(s, KindHost, "SAMBASRV")
		if !ok || !e.Master || e.Workgroup != "TESTGRP" || e.Comment != "test nmbd" {
			t.Errorf("%+v", e)
		}
		if d, ok := find(s, KindDomain, "OTHERWG"); !ok || d.Comment != "OTHERLMB" || d.Workgroup != "OTHERWG" {
			t.Errorf("%+v", d)
		}
		_, m := s.Entries()
		if m["TESTGRP"] != "SAMBASRV" || m["OTHERWG"] != "OTHERLMB" {
			t.Errorf("masters %v", m)
		}
		// A GetBackupListResponse names the master too.
		resp := &browser.GetBackupListResponse{Token: 1, Servers: []string{"NEWMASTER"}}
		b, _ := resp.Append(nil)
		s.HandleMailslot(&agent.Inbound{Source: netbios.MustNew("NEWMASTER", 0), Src: netip.MustParseAddrPort("192.0.2.9:138"),
			Dest: netbios.MustNew("ALPHA", 0), Path: Path, Data: b})
		if _, m := s.Entries(); m["TESTGRP"] != "NEWMASTER" || s.C.BackupLists.Load() != 1 {
			t.Errorf("masters %v", m)
		}
		// Garbage is counted, never stored.
		for _, g := range [][]byte{{0x01}, {0x0f, 1, 2}, {0xff, 0, 0}, nil} {
			in(netbios.MSBrowse, g)
		}
		if s.C.Malformed.Load() != 4 || s.Len() != 3 {
			t.Errorf("malformed %d, len %d", s.C.Malformed.Load(), s.Len())
		}
	})
}

// A flood of 100,000 announcements with random names, from one source and
// from random sources, leaves the list within its bounds and the heap
// bounded.
func TestFloodBounded(t *testing.T) {
	s := &Service{list: newList(0)}
	s.a, _ = agent.New(agent.Config{Name: "ALPHA", Workgroup: "TESTGRP", Transport: memnet.New(1).Host("x"), NoLocalSocket: true, DisableDNS: true})
	dest := netbios.MustNew("TESTGRP", netbios.MasterBrowser)
	flood := func(randomSource bool) {
		for i := range 100_000 {
			src := netip.AddrFrom4([4]byte{192, 0, 2, 99})
			if randomSource {
				src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			}
			s.HandleMailslot(&agent.Inbound{Src: netip.AddrPortFrom(src, 138), Dest: dest, Group: true, Path: Path,
				Data: announcement(browser.OpHostAnnouncement, fmt.Sprintf("H%014x", rand.Uint64()>>8), "flood", browser.Workstation)})
		}
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	flood(false)
	if n := s.Len(); n != MaxPerSource {
		t.Errorf("one source: %d entries, want %d", n, MaxPerSource)
	}
	flood(true)
	if n := s.Len(); n != DefaultMaxEntries {
		t.Errorf("random sources: %d entries, want %d", n, DefaultMaxEntries)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	grew := int64(m1.HeapAlloc) - int64(m0.HeapAlloc)
	t.Logf("heap grew %d KiB for %d entries; refused full=%d per-source=%d", grew>>10, s.Len(), s.list.C.Full.Load(), s.list.C.SourceFull.Load())
	if grew > 8<<20 {
		t.Errorf("heap grew %d bytes", grew)
	}
}
