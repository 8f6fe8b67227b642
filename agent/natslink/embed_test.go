package natslink

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/netbios"
)

// linkedAgent starts an agent on its own memnet segment of network n,
// linked with cfg, until the test ends.
func linkedAgent(t *testing.T, n *memnet.Network, name, seg string, x byte, cfg Config, opts ...func(*agent.Config)) (*agent.Agent, *Link) {
	t.Helper()
	h := n.Host(name)
	h.AddInterface(seg, prefix(seg, x))
	acfg := agent.Config{Name: name, Workgroup: testWG, Transport: h, NoLocalSocket: true, DisableDNS: true}
	for _, o := range opts {
		o(&acfg)
	}
	a, err := agent.New(acfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Settle, cfg.Announce = 50*time.Millisecond, 200*time.Millisecond
	l, err := New(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { a.Run(ctx); done <- struct{}{} }()
	go func() { l.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return a, l
}

// Two embedded servers joined by a route form one NATS system: an agent on
// each, on different subnets, are one logical LAN.
func TestClusteredEmbeddedServers(t *testing.T) {
	s1, err := Embed(EmbedConfig{Cluster: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Shutdown()
	s2, err := Embed(EmbedConfig{Cluster: "127.0.0.1:0", Routes: []string{fmt.Sprintf("nats://%s", s1.ClusterAddr())}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Shutdown()
	eventually(t, "the route is up", func() bool { return s1.NumRoutes() > 0 && s2.NumRoutes() > 0 })
	n := memnet.New(3)
	a1, l1 := linkedAgent(t, n, "A1", "s1", 11, Config{Server: s1})
	b1, l2 := linkedAgent(t, n, "B1", "s2", 21, Config{Server: s2})
	eventually(t, "the agents know each other", func() bool { return l1.dir.len() == 1 && l2.dir.len() == 1 })
	sub := subscribe(t, b1, "cluster")
	if err := a1.Send(context.Background(), "*", "cluster", []byte("across the route")); err != nil {
		t.Fatal(err)
	}
	exactlyOnce(t, "B1", sub, "across the route")
}

// An embedded server with a user and password refuses clients without
// them; the agent's link, given them, joins.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	srv, err := Embed(EmbedConfig{Listen: "127.0.0.1:0", User: "ms", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if nc, err := nats.Connect(srv.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("a client without credentials was let in")
	}
	n := memnet.New(4)
	_, l := linkedAgent(t, n, "A1", "s1", 11, Config{URLs: []string{srv.ClientURL()}, Options: []nats.Option{nats.UserInfo("ms", "secret")}})
	eventually(t, "the link is up", l.Connected)
	_, bad := linkedAgent(t, n, "A2", "s1", 12, Config{URLs: []string{srv.ClientURL()}, Options: []nats.Option{nats.UserInfo("ms", "wrong")}})
	time.Sleep(quietTime)
	if bad.Connected() {
		t.Fatal("a link with a wrong password is up")
	}
}

// floodTarget is agent B1 on its own server, linked with a limit of 20
// writes per sender then 1/s, its subscription to slot "flood", and a
// plain client of the server.
func floodTarget(t *testing.T) (*Link, *agent.Subscription, *nats.Conn) {
	t.Helper()
	srv, err := Embed(EmbedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	b1, l := linkedAgent(t, memnet.New(5), "B1", "s2", 21, Config{Server: srv, RateIn: 1, BurstIn: 20})
	sub := subscribe(t, b1, "flood")
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// The link's subscriptions are in place once a probe gets through.
	eventually(t, "the link receives", func() bool {
		nc.Publish(BcastSubject(testWG, "probe"), []byte("p"))
		nc.Flush()
		return l.M.Received.Load() > 0
	})
	return l, sub, nc
}

// floodDelivered reads sub until each of the total writes sent to it has
// been delivered or refused by the rate limit, and counts the deliveries
// by source name, digits cut.
func floodDelivered(t *testing.T, l *Link, sub *agent.Subscription, total int) map[string]int {
	t.Helper()
	count, got := map[string]int{}, 0
	deadline := time.After(waitLong)
	for got+int(l.M.RateLimited.Load()) < total {
		select {
		case d := <-sub.C:
			count[strings.TrimRight(d.Source(), "0123456789")]++
			got++
		case <-time.After(10 * time.Millisecond): // the limiter's count moved, maybe
		case <-deadline:
			t.Fatalf("%d delivered and %d rate-limited of %d", got, l.M.RateLimited.Load(), total)
		}
	}
	return count
}

// A publisher flooding NATS is cut to its rate, and others still get
// through.
func TestFloodFromNATSIsLimited(t *testing.T) {
	l, sub, nc := floodTarget(t)
	const flood = 500
	for i := range flood {
		m := nats.NewMsg(BcastSubject(testWG, "flood"))
		m.Header.Set(HdrSource, "FLOODER")
		m.Data = fmt.Appendf(nil, "f%d", i)
		nc.PublishMsg(m)
	}
	for _, who := range []string{"OTHER1", "OTHER2"} {
		m := nats.NewMsg(BcastSubject(testWG, "flood"))
		m.Header.Set(HdrSource, who)
		m.Data = []byte("me too")
		nc.PublishMsg(m)
	}
	count := floodDelivered(t, l, sub, flood+2)
	got, others := count["FLOODER"], count["OTHER"]
	if got >= flood || l.M.RateLimited.Load() == 0 {
		t.Fatalf("%d of %d flood writes delivered, %d rate-limited", got, flood, l.M.RateLimited.Load())
	}
	if others == 0 {
		t.Fatal("the other senders were starved")
	}
}

// The same in envelopes: an agent's envelope pays per envelope for all
// its records, and what exceeds the limit is dropped; another program's
// envelope (no origin) pays per claimed sender.
func TestFloodInEnvelopesIsLimited(t *testing.T) {
	l, sub, nc := floodTarget(t)
	write := func(src string, i int) Message {
		return Message{Source: netbios.MustNew(src, 0), Dest: netbios.MustNew(testWG, 0), Path: "flood", DgramID: uint16(i),
			Data: fmt.Appendf(nil, "%s%d", src, i)}
	}
	const spoofs = 20 // senders of one write each, in the same envelope as NOAGENT's 20
	var flood, foreign []Message
	for i := range 100 {
		flood = append(flood, write("FLOODER", i))
	}
	for i := range spoofs {
		foreign = append(foreign, write("NOAGENT", i), write(fmt.Sprintf("SPOOF%d", i), i))
	}
	for i := spoofs; i < 100; i++ {
		foreign = append(foreign, write("NOAGENT", i))
	}
	subject := BcastSubject(testWG, "flood")
	nc.Publish(subject, envelopeOf("FLOODERAGENT", flood...))
	nc.Publish(subject, envelopeOf("OTHERAGENT", write("OTHER", 0)))
	nc.Publish(subject, envelopeOf("", foreign...))
	count := floodDelivered(t, l, sub, len(flood)+1+len(foreign))
	// Never more than the burst per sender, however many records an
	// envelope carries (senders sharing a bucket only get less), and the
	// others are not starved.
	if count["FLOODER"] == 0 || count["FLOODER"] > 20 || count["NOAGENT"] > 20 {
		t.Fatalf("delivered %v", count)
	}
	if count["OTHER"]+count["SPOOF"] == 0 {
		t.Fatalf("the other senders were starved: %v", count)
	}
	if n := l.M.RateLimited.Load(); n < 160 {
		t.Fatalf("%d rate-limited, want at least 160", n)
	}
}
