package mailslot_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport/memnet"
)

// TestWithRealAgent runs the hooks against the real agent (in this process,
// on an in-memory LAN): a slot created with AllowRemote receives a write
// sent right after Create returns, from a writer on another agent, every
// time; and a remote writer's Open, Write and limits work end to end.
func TestWithRealAgent(t *testing.T) {
	lan := memnet.New(7)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(name string, x byte) string {
		h := lan.Host(name)
		h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, x}), 24))
		ns := testNS(t)
		a, err := agent.New(agent.Config{Name: name, Workgroup: "TESTGRP", Transport: h, Namespace: ns, DisableDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return ns
	}
	nsA, nsB := start("ALPHA", 11), start("BRAVO", 12)
	time.Sleep(1500 * time.Millisecond) // name registration
	w, err := mailslot.Open(`\\BRAVO\mailslot\agent\test`, mailslot.WithNamespace(nsA), mailslot.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < 20; i++ {
		s, err := mailslot.Create(`\\.\mailslot\agent\test`, &mailslot.Config{Namespace: nsB, AllowRemote: true, ReadTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("round %d", i)
		if _, err := w.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		m, err := s.ReadMessage(context.Background())
		s.Close()
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if string(m.Data) != msg || !m.Sender.Remote || m.Sender.Host != "ALPHA" || m.Sender.Addr != netip.MustParseAddrPort("192.0.2.11:138") {
			t.Fatalf("round %d: %q from %+v", i, m.Data, m.Sender)
		}
	}
	big := make([]byte, 500)
	if _, err := w.Write(big); err == nil {
		t.Fatal("a 500-byte remote write was accepted")
	}
}
