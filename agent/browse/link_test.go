//go:build linux

package browse

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/natslink"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/netbios"
)

// A master browser answers a GetBackupListRequest that came through the
// NATS link through the link, on the requester's host subject: its claimed
// address is on another subnet, which memnet (like the sites the link
// joins) does not route to, so a unicast datagram there never arrives.
// Real time, not synctest: the embedded NATS server runs its own
// goroutines and timers. Waits are generous bounds, not thresholds.
func TestBackupListAnswerThroughTheLink(t *testing.T) {
	const waitLong = 30 * time.Second
	srv, err := natslink.Embed(natslink.EmbedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the server's shutdown
	net := memnet.New(1)
	start := func(name, seg string, ip [4]byte, cfg Config) (*agent.Agent, *natslink.Link, *Service) {
		h := net.Host(name)
		h.AddInterface(seg, netip.PrefixFrom(netip.AddrFrom4(ip), 24))
		a, err := agent.New(agent.Config{Name: name, Workgroup: "TESTGRP", Transport: h, NoLocalSocket: true, DisableDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		l, err := natslink.New(a, natslink.Config{Server: srv, Settle: 50 * time.Millisecond, Announce: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		cfg.NoSocket = true
		s, err := New(a, cfg)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); a.Run(ctx) }()
		go func() { defer wg.Done(); l.Run(ctx) }()
		return a, l, s
	}
	_, l1, master := start("A1", "s1", [4]byte{192, 0, 2, 11}, Config{Browser: true})
	_, l2, asker := start("B1", "s2", [4]byte{198, 51, 100, 21}, Config{TimeScale: 0.01})
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(waitLong); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v", what, waitLong)
			}
		}
	}
	eventually("the links know each other's agent", func() bool {
		return l1.Connected() && l2.Connected() &&
			l1.Locate(ctx, netbios.MustNew("B1", 0), false) && l2.Locate(ctx, netbios.MustNew("A1", 0), false)
	})
	// A1 calls an election at once (rather than after startElectionDelay)
	// and, alone in its workgroup's elections, wins it.
	master.elect(ctx)
	if master.role.state.Load() != stateMaster {
		t.Fatal("A1 did not become the master browser")
	}
	// B1 asks TESTGRP<1d> for its backup list at start and then every
	// 0.6 s or more: a group write, which the link carries to A1, which
	// overhears that name on every agent anyway and owns it as master.
	wg.Add(1)
	go func() { defer wg.Done(); asker.Run(ctx) }()
	eventually("B1 gets A1's GetBackupListResponse", func() bool { return asker.C.BackupLists.Load() > 0 })
	if _, m := asker.Entries(); m["TESTGRP"] != "A1" {
		t.Errorf("B1's masters: %v, want TESTGRP: A1", m)
	}
}
