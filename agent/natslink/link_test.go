package natslink

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Generous bounds: none is a performance threshold.
const (
	waitLong  = 20 * time.Second // something must happen by then
	quietTime = time.Second      // how long "nothing more arrives" is watched
)

const testWG = "TESTGRP"

// site is a memnet network of subnets whose agents are linked through one
// NATS server.
type site struct {
	t      testing.TB
	net    *memnet.Network
	srv    *server.Server
	url    string // when the server listens
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	agents map[string]*agent.Agent
	links  map[string]*Link
	// announce is the links' Announce interval (entries expire after 3).
	announce time.Duration
	// rateIn is the links' RateIn (0: the default).
	rateIn float64
	// tune, when set, adjusts the Config of each link.
	tune func(name string, c *Config)
}

func newSite(t testing.TB, listen bool) *site {
	t.Helper()
	cfg := EmbedConfig{}
	if listen {
		cfg.Listen = "127.0.0.1:0"
	}
	srv, err := Embed(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &site{t: t, net: memnet.New(7), srv: srv, ctx: ctx, cancel: cancel, agents: map[string]*agent.Agent{},
		links: map[string]*Link{}, announce: 200 * time.Millisecond}
	if listen {
		s.url = srv.ClientURL()
	}
	t.Cleanup(s.stop)
	return s
}

// client is a plain NATS connection to the site's server.
func (s *site) client(t testing.TB) *nats.Conn {
	t.Helper()
	var opts []nats.Option
	if s.url == "" {
		opts = append(opts, nats.InProcessServer(s.srv))
	}
	nc, err := nats.Connect(s.url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func (s *site) stop() {
	s.cancel()
	s.wg.Wait()
	s.srv.Shutdown()
}

func prefix(seg string, x byte) netip.Prefix {
	if seg == "s1" {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, x}), 24)
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, x}), 24)
}

// add starts an agent named name at .x of segment seg ("s1" or "s2"),
// linked to the site's server unless unlinked.
func (s *site) add(name, seg string, x byte, unlinked ...bool) *agent.Agent {
	s.t.Helper()
	h := s.net.Host(name)
	h.AddInterface(seg, prefix(seg, x))
	a, err := agent.New(agent.Config{Name: name, Workgroup: testWG, Transport: h, NoLocalSocket: true, DisableDNS: true})
	if err != nil {
		s.t.Fatal(err)
	}
	if len(unlinked) == 0 {
		cfg := Config{Settle: 50 * time.Millisecond, Announce: s.announce, RateIn: s.rateIn}
		if s.tune != nil {
			s.tune(name, &cfg)
		}
		if s.url != "" {
			cfg.URLs = []string{s.url}
		} else {
			cfg.Server = s.srv
		}
		l, err := New(a, cfg)
		if err != nil {
			s.t.Fatal(err)
		}
		s.links[name] = l
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.Run(s.ctx)
		}()
	}
	s.agents[name] = a
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		a.Run(s.ctx)
	}()
	return a
}

// converge waits until every link knows every other and has settled.
func (s *site) converge() {
	s.t.Helper()
	deadline := time.Now().Add(waitLong)
	for _, l := range s.links {
		for l.dir.len() != len(s.links)-1 || !l.Connected() {
			if time.Now().After(deadline) {
				s.t.Fatalf("directory of %s has %d agents, want %d", l.host.Base(), l.dir.len(), len(s.links)-1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(100 * time.Millisecond) // past Settle
}

// three starts A1 and A2 on s1 and B1 on s2 and waits for their links.
func (s *site) three() (a1, a2, b1 *agent.Agent) {
	a1, a2, b1 = s.add("A1", "s1", 11), s.add("A2", "s1", 12), s.add("B1", "s2", 21)
	s.converge()
	return a1, a2, b1
}

// eventually polls cond until it holds, failing t after waitLong.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, waitLong)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// peer is a host without an agent: it sees the raw datagrams of its LAN.
type peer struct {
	h *memnet.Host
	i transport.Interface
}

func (s *site) peer(name, seg string, x byte) *peer {
	h := s.net.Host(name)
	return &peer{h: h, i: h.AddInterface(seg, prefix(seg, x))}
}

// broadcast sends a DIRECT_GROUP write to TESTGRP<00> on the peer's LAN.
func (p *peer) broadcast(t *testing.T, id uint16, slot, text string) {
	t.Helper()
	p.broadcastTo(t, netbios.MustNew(testWG, 0), id, slot, text)
}

// broadcastTo sends a DIRECT_GROUP write to dest on the peer's LAN.
func (p *peer) broadcastTo(t *testing.T, dest netbios.Name, id uint16, slot, text string) {
	t.Helper()
	m := dgram.Message{Group: true, ID: id, SourceIP: p.i.IP(), Source: netbios.MustNew(p.h.Name(), 0),
		Dest: dest, Mailslot: smbmail.Prefix + slot, Data: []byte(text)}
	b, err := m.Append(nil, smbmail.Windows)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.h.WriteTo(b, 138, p.i.Index, netip.AddrPortFrom(p.i.Broadcast, 138)); err != nil {
		t.Fatal(err)
	}
}

// writes returns the mailslot writes for slot the peer received within d.
func (p *peer) writes(slot string, d time.Duration) []string {
	var out []string
	timeout := time.After(d)
	for {
		select {
		case pk := <-p.h.Packets():
			if pk.Port != 138 {
				continue
			}
			if _, w, err := dgram.Parse(pk.Data); err == nil && w.Name == smbmail.Prefix+slot {
				out = append(out, string(w.Data))
			}
		case <-timeout:
			return out
		}
	}
}

func subscribe(t testing.TB, a *agent.Agent, slot string) *agent.Subscription {
	t.Helper()
	sub, err := a.Router().Subscribe(slot, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// exactlyOnce checks that sub gets text once and nothing else for a while.
func exactlyOnce(t *testing.T, who string, sub *agent.Subscription, text string) agent.Delivery {
	t.Helper()
	var d agent.Delivery
	select {
	case d = <-sub.C:
		if string(d.Data) != text {
			t.Fatalf("%s got %q, want %q", who, d.Data, text)
		}
	case <-time.After(waitLong):
		t.Fatalf("%s got nothing", who)
	}
	select {
	case d2 := <-sub.C:
		t.Fatalf("%s got a second copy %q from %s", who, d2.Data, d2.Source())
	case <-time.After(quietTime):
	}
	return d
}

func TestBroadcastReachesEveryHostOnce(t *testing.T) {
	s := newSite(t, false)
	a1 := s.add("A1", "s1", 11)
	a2 := s.add("A2", "s1", 12)
	b1 := s.add("B1", "s2", 21)
	b2 := s.add("B2", "s2", 22)
	p1, p2 := s.peer("WIN1", "s1", 50), s.peer("WIN2", "s2", 50)
	s.converge()
	subs := map[string]*agent.Subscription{}
	for n, a := range map[string]*agent.Agent{"A1": a1, "A2": a2, "B1": b1, "B2": b2} {
		subs[n] = subscribe(t, a, `app\x`)
	}
	if err := a1.Send(context.Background(), "*", `app\x`, []byte("to all")); err != nil {
		t.Fatal(err)
	}
	for n, sub := range subs {
		d := exactlyOnce(t, n, sub, "to all")
		// The sender's own address, whichever path the copy took (not the
		// address of the gateway that rebroadcast it).
		if d.Source() != "A1" || d.Addr != netip.MustParseAddrPort("192.0.2.11:138") {
			t.Fatalf("%s: from %q at %v", n, d.Source(), d.Addr)
		}
	}
	// Hosts without an agent: one copy each, the original on s1 and the
	// gateway's rebroadcast on s2.
	for _, c := range []struct {
		p    *peer
		name string
	}{{p1, "WIN1"}, {p2, "WIN2"}} {
		if got := c.p.writes(`app\x`, quietTime); len(got) != 1 || got[0] != "to all" {
			t.Fatalf("%s received %q, want one copy", c.name, got)
		}
	}
	var rebroadcasts uint64
	for _, l := range s.links {
		rebroadcasts += l.M.Rebroadcast.Load()
	}
	if rebroadcasts != 1 {
		t.Fatalf("%d rebroadcasts, want 1 (one gateway on s2)", rebroadcasts)
	}
}

func TestHostWithoutAgentReachesOtherSubnets(t *testing.T) {
	s := newSite(t, false)
	a1 := s.add("A1", "s1", 11)
	a2 := s.add("A2", "s1", 12)
	b1 := s.add("B1", "s2", 21)
	p1, p2 := s.peer("WIN1", "s1", 50), s.peer("WIN2", "s2", 50)
	s.converge()
	subs := map[string]*agent.Subscription{"A1": subscribe(t, a1, "browse"), "A2": subscribe(t, a2, "browse"),
		"B1": subscribe(t, b1, "browse")}
	p1.broadcast(t, 0x1234, "BROWSE", "announce")
	for n, sub := range subs {
		d := exactlyOnce(t, n, sub, "announce")
		if d.Source() != "WIN1" || d.Addr.Addr() != p1.i.IP() {
			t.Fatalf("%s: from %s %v", n, d.Source(), d.Addr)
		}
	}
	if got := p2.writes("BROWSE", quietTime); len(got) != 1 {
		t.Fatalf("WIN2 received %q, want one rebroadcast", got)
	}
	// One gateway bridged it once; nothing went around again.
	var bridged, published uint64
	for _, l := range s.links {
		bridged += l.M.Bridged.Load()
		published += l.M.Published.Load()
	}
	if bridged != 1 || published != 1 {
		t.Fatalf("bridged %d, published %d; want 1 and 1", bridged, published)
	}
}

func TestUniqueWriteAcrossSubnets(t *testing.T) {
	s := newSite(t, false)
	a1, a2, b1 := s.three()
	subB1, subA2 := subscribe(t, b1, "u"), subscribe(t, a2, "u")
	if err := a1.Send(context.Background(), "B1", "u", []byte("over nats")); err != nil {
		t.Fatal(err)
	}
	d := exactlyOnce(t, "B1", subB1, "over nats")
	if d.Source() != "A1" || d.Addr != netip.MustParseAddrPort("192.0.2.11:138") {
		t.Fatalf("from %s %v", d.Source(), d.Addr)
	}
	// Same LAN: the datagram goes directly, not through NATS.
	before := s.links["A1"].M.Published.Load()
	if err := a1.Send(context.Background(), "A2", "u", []byte("on the lan")); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "A2", subA2, "on the lan")
	if n := s.links["A1"].M.Published.Load(); n != before {
		t.Fatalf("a write on the LAN was published to NATS (%d -> %d)", before, n)
	}
}

func TestUnknownHostAskedForByName(t *testing.T) {
	s := newSite(t, false)
	a1 := s.add("A1", "s1", 11)
	b1 := s.add("B1", "s2", 21)
	s.converge()
	// Forget B1, as if its announcement had not arrived yet: Open asks.
	s.links["A1"].dir.put(Announcement{ID: s.links["B1"].ID(), Bye: true}, time.Now())
	sub := subscribe(t, b1, "ask")
	if err := a1.Send(context.Background(), "B1", "ask", []byte("found")); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "B1", sub, "found")
	if err := a1.Send(context.Background(), "NOSUCH", "ask", []byte("x")); err == nil {
		t.Fatal("a write to an unknown host succeeded")
	}
}

// Any NATS client can publish a write, headers optional.
func TestPlainNATSClientPublishes(t *testing.T) {
	s := newSite(t, false)
	b1 := s.add("B1", "s2", 21)
	s.converge()
	sub := subscribe(t, b1, `app\x`)
	nc, err := nats.Connect("", nats.InProcessServer(s.srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(BcastSubject(testWG, `app\x`), []byte("plain")); err != nil {
		t.Fatal(err)
	}
	if d := exactlyOnce(t, "B1", sub, "plain"); d.Source() != "NATS" {
		t.Fatalf("source %q", d.Source())
	}
	// A host write with the documented headers.
	msg := nats.NewMsg(HostSubject(testWG, "B1"))
	msg.Header.Set(HdrSource, "GOCLIENT")
	msg.Header.Set(HdrPath, `App\X`)
	msg.Data = []byte("direct")
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	if d := exactlyOnce(t, "B1", sub, "direct"); d.Source() != "GOCLIENT" {
		t.Fatalf("source %q", d.Source())
	}
	// Garbage is counted, never delivered.
	bad := nats.NewMsg(BcastSubject(testWG, "other"))
	bad.Header.Set(HdrPath, `app\x`) // does not match the subject
	bad.Data = []byte("bad")
	nc.PublishMsg(bad)
	nc.Flush()
	eventually(t, "a malformed message counted", func() bool { return s.links["B1"].M.Malformed.Load() > 0 })
}

func TestLinkDownKeepsLANAndReconnects(t *testing.T) {
	s := newSite(t, true)
	a1, a2, b1 := s.three()
	port := s.srv.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	s.srv.Shutdown()
	for _, n := range []string{"A1", "B1"} {
		eventually(t, n+" sees the server go", func() bool { return !s.links[n].Connected() })
	}
	// The LAN still works, and a write through the link fails fast.
	sub := subscribe(t, a2, "lan")
	for i := range 100 {
		if err := a1.Send(context.Background(), "*", "lan", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		select {
		case d := <-sub.C:
			if string(d.Data) != fmt.Sprintf("m%d", i) {
				t.Fatalf("got %q", d.Data)
			}
		case <-time.After(waitLong):
			t.Fatalf("LAN write %d lost while NATS is down", i)
		}
	}
	if err := a1.Send(context.Background(), "B1", "lan", []byte("x")); err == nil {
		t.Fatal("a write through a down link succeeded")
	}
	// The server comes back on the same port: the links reconnect.
	srv, err := Embed(EmbedConfig{Listen: fmt.Sprintf("127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = srv
	for _, n := range []string{"A1", "B1"} {
		l := s.links[n]
		eventually(t, n+" reconnects", l.Connected)
		if l.M.Reconnects.Load() == 0 || l.M.Disconnects.Load() == 0 {
			t.Fatalf("%s: reconnects %d, disconnects %d", n, l.M.Reconnects.Load(), l.M.Disconnects.Load())
		}
	}
	s.converge()
	subB := subscribe(t, b1, "back")
	if err := a1.Send(context.Background(), "*", "back", []byte("again")); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "B1", subB, "again")
}

func TestUniqueWriteKeepsTheNameSuffix(t *testing.T) {
	// A write to B1<03> (the Messenger's name, as `net send B1` sends) must
	// reach B1's agent as B1<03>, not as B1<00>, or the Messenger refuses
	// it as not for its name.
	s := newSite(t, false)
	a1, _, b1 := s.three()
	got := make(chan netbios.Name, 1)
	b1.Router().Handle("MESSNGR", agent.HandlerFunc(func(in *agent.Inbound) {
		select {
		case got <- in.Dest:
		default:
		}
	}))
	tgt, err := a1.OpenName(context.Background(), netbios.MustNew("B1", netbios.Messenger), "MESSNGR")
	if err != nil {
		t.Fatal(err)
	}
	if err := a1.Write(tgt, []byte("A1\x00B1\x00hello\x00")); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d.Base() != "B1" || d.Suffix() != netbios.Messenger {
			t.Fatalf("B1 got the write for %v, want B1<03>", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B1 got nothing")
	}
}
