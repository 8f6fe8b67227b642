//go:build linux

package messenger

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/netbios"
)

// host is one agent with the Messenger on a memnet LAN.
type host struct {
	a *agent.Agent
	s *Service
}

// lan starts agents named names on 192.0.2.0/24 (x = 11, 12, ...) with the
// policy p, inside a synctest bubble, and stops them when f returns.
func lan(t *testing.T, p Policy, names []string, f func(ctx context.Context, hs map[string]*host)) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		net := memnet.New(1)
		hs := map[string]*host{}
		done := make(chan struct{}, 2*len(names))
		for i, n := range names {
			h := net.Host(n)
			h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(11 + i)}), 24))
			a, err := agent.New(agent.Config{Name: n, Workgroup: "TESTGRP", Transport: h, NoLocalSocket: true, DisableDNS: true})
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(a, Config{NoSocket: true, Policy: p, History: 8})
			if err != nil {
				t.Fatal(err)
			}
			hs[n] = &host{a: a, s: s}
			go func() { a.Run(ctx); done <- struct{}{} }()
			go func() { s.Run(ctx); done <- struct{}{} }()
		}
		time.Sleep(3 * time.Second) // registrations (virtual time)
		f(ctx, hs)
		cancel()
		for range 2 * len(names) {
			<-done
		}
	})
}

func watch(t *testing.T, ctx context.Context, s *Service, user string) <-chan Record {
	t.Helper()
	c, _, stop, err := s.Watch(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	synctest.Wait() // USER<03> registered
	time.Sleep(3 * time.Second)
	return c
}

func expect(t *testing.T, c <-chan Record, text string) Record {
	t.Helper()
	select {
	case r := <-c:
		if r.Text != text {
			t.Fatalf("got %+v, want text %q", r, text)
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no popup %q", text)
	}
	return Record{}
}

func expectNone(t *testing.T, c <-chan Record) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-c:
		t.Fatalf("unexpected popup %+v", r)
	default:
	}
}

func TestSendByNameAndBroadcast(t *testing.T) {
	lan(t, Policy{}, []string{"ALPHA", "BRAVO", "CHARLIE"}, func(ctx context.Context, hs map[string]*host) {
		b := watch(t, ctx, hs["BRAVO"].s, "")
		c := watch(t, ctx, hs["CHARLIE"].s, "")
		if err := hs["ALPHA"].s.Send(ctx, "alice", "bravo", "hello bravo"); err != nil {
			t.Fatal(err)
		}
		r := expect(t, b, "hello bravo")
		if r.From != "ALICE" || r.To != "BRAVO" || r.Host != "ALPHA" || r.Group || r.User != "" || !strings.HasPrefix(r.Addr, "192.0.2.11:") {
			t.Errorf("%+v", r)
		}
		expectNone(t, c)
		for _, to := range []string{"*", "/domain", "/DOMAIN:testgrp"} {
			if err := hs["ALPHA"].s.Send(ctx, "alice", to, "to all via "+to); err != nil {
				t.Fatal(to, err)
			}
			for _, ch := range []<-chan Record{b, c} {
				if r := expect(t, ch, "to all via "+to); r.To != "TESTGRP" || !r.Group {
					t.Errorf("%s: %+v", to, r)
				}
			}
		}
		if got := hs["BRAVO"].s.History("", false); len(got) != 4 {
			t.Errorf("history %d records: %+v", len(got), got)
		}
	})
}

func TestUserNamesAndVisibility(t *testing.T) {
	lan(t, Policy{}, []string{"ALPHA", "BRAVO"}, func(ctx context.Context, hs map[string]*host) {
		bob := watch(t, ctx, hs["BRAVO"].s, "bob")
		carol := watch(t, ctx, hs["BRAVO"].s, "carol")
		if err := hs["ALPHA"].s.Send(ctx, "alice", "BOB", "psst bob"); err != nil {
			t.Fatal(err)
		}
		if r := expect(t, bob, "psst bob"); r.User != "BOB" || r.To != "BOB" {
			t.Errorf("%+v", r)
		}
		expectNone(t, carol)
		if err := hs["ALPHA"].s.Send(ctx, "alice", "BRAVO", "to the host"); err != nil {
			t.Fatal(err)
		}
		expect(t, bob, "to the host")
		expect(t, carol, "to the host")
		if h := hs["BRAVO"].s.History("CAROL", false); len(h) != 1 || h[0].Text != "to the host" {
			t.Errorf("carol sees %+v", h)
		}
		if h := hs["BRAVO"].s.History("", true); len(h) != 2 {
			t.Errorf("root sees %+v", h)
		}
		// A name nobody registered is not resolvable: the send fails.
		if err := hs["ALPHA"].s.Send(ctx, "alice", "NOBODY", "x"); err == nil {
			t.Error("send to an unknown name succeeded")
		}
	})
}

func TestTooLongFailsBeforeSending(t *testing.T) {
	lan(t, Policy{}, []string{"ALPHA", "BRAVO"}, func(ctx context.Context, hs map[string]*host) {
		before := hs["ALPHA"].a.M.Sent.Load()
		for _, to := range []string{"BRAVO", "*"} {
			err := hs["ALPHA"].s.Send(ctx, "alice", to, strings.Repeat("x", 500))
			if err == nil || !strings.Contains(err.Error(), "too long") {
				t.Errorf("%s: %v", to, err)
			}
		}
		if after := hs["ALPHA"].a.M.Sent.Load(); after != before {
			t.Errorf("sent %d datagrams for refused messages", after-before)
		}
		if hs["BRAVO"].s.C.Received.Load() != 0 {
			t.Error("BRAVO received something")
		}
		// Characters the OEM code page lacks are refused too.
		if err := hs["ALPHA"].s.Send(ctx, "alice", "BRAVO", "€ 漢字"); err == nil {
			t.Error("unencodable text was sent")
		}
	})
}

// inbound builds a MESSNGR write for s's HOST<03> from src.
func inbound(s *Service, src string, data string) *agent.Inbound {
	return &agent.Inbound{Source: netbios.MustNew("SPAMMER", 0), Src: netip.MustParseAddrPort(src),
		Dest: netbios.MustNew(s.a.HostName().Base(), netbios.Messenger), Mailslot: `\MAILSLOT\MESSNGR`, Path: Path,
		Data: []byte(data), Ifindex: 1}
}

func TestPolicy(t *testing.T) {
	cases := []struct {
		name    string
		p       Policy
		src     string
		data    string
		counter func(c *Counters) *atomic.Uint64
	}{
		{"OtherSubnetByDefault", Policy{}, "203.0.113.5:138", "A\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedNetwork }},
		{"DenyNet", Policy{DenyNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.99/32")}}, "192.0.2.99:138", "A\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedNetwork }},
		{"AllowNetOnly", Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, "192.0.2.99:138", "A\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedNetwork }},
		{"DenyName", Policy{DenyNames: []string{"eve"}}, "192.0.2.99:138", "EVE\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedName }},
		{"DenySourceName", Policy{DenyNames: []string{"spammer"}}, "192.0.2.99:138", "A\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedName }},
		{"AllowNameOnly", Policy{AllowNames: []string{"friend"}}, "192.0.2.99:138", "A\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedName }},
		{"MaxLen", Policy{MaxLen: 3}, "192.0.2.99:138", "A\x00B\x00four\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedLength }},
		{"DoNotDisturb", Policy{DoNotDisturb: true}, "192.0.2.99:138", "A\x00B\x00hi\x00", func(c *Counters) *atomic.Uint64 { return &c.RefusedDND }},
		{"Malformed", Policy{}, "192.0.2.99:138", "no nul at all", func(c *Counters) *atomic.Uint64 { return &c.Malformed }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lan(t, tc.p, []string{"BRAVO"}, func(ctx context.Context, hs map[string]*host) {
				s := hs["BRAVO"].s
				c := watch(t, ctx, s, "")
				s.HandleMailslot(inbound(s, tc.src, tc.data))
				expectNone(t, c)
				if got := tc.counter(&s.C).Load(); got != 1 {
					t.Errorf("counter %d, want 1: %v", got, s.Stats())
				}
				if s.C.Shown.Load() != 0 || len(s.History("", true)) != 0 {
					t.Error("a refused popup was shown or kept")
				}
				// The same popup from an allowed place is shown: the
				// test can fail both ways.
				if tc.name != "Malformed" && tc.name != "DoNotDisturb" {
					s.cfg.Policy = Policy{MaxLen: DefaultMaxLen}
					s.HandleMailslot(inbound(s, "192.0.2.98:138", tc.data))
					<-c
				}
			})
		})
	}
}

func TestRateLimitPerSource(t *testing.T) {
	lan(t, Policy{Rate: 0.001, Burst: 3}, []string{"BRAVO"}, func(ctx context.Context, hs map[string]*host) {
		s := hs["BRAVO"].s
		c := watch(t, ctx, s, "")
		for i := 0; i < 5; i++ {
			s.HandleMailslot(inbound(s, "192.0.2.99:138", "A\x00B\x00hi\x00"))
		}
		s.HandleMailslot(inbound(s, "192.0.2.98:138", "A\x00B\x00other source\x00"))
		if got := s.C.RefusedRate.Load(); got != 2 {
			t.Errorf("refused_rate %d, want 2", got)
		}
		if got := s.C.Shown.Load(); got != 4 {
			t.Errorf("shown %d, want 4", got)
		}
		for range 4 {
			<-c
		}
	})
}

func TestHistoryBounded(t *testing.T) {
	lan(t, Policy{Rate: -1}, []string{"BRAVO"}, func(ctx context.Context, hs map[string]*host) {
		s := hs["BRAVO"].s
		for i := 0; i < 20; i++ {
			s.HandleMailslot(inbound(s, "192.0.2.99:138", "A\x00B\x00msg"+string(rune('a'+i))+"\x00"))
		}
		h := s.History("", true)
		if len(h) != 8 || h[0].Text != "msgm" || h[7].Text != "msgt" || h[7].ID != 20 {
			t.Errorf("%d records, first %+v", len(h), h[0])
		}
	})
}
