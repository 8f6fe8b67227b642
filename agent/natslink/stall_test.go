package natslink

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallServer speaks just enough NATS to let a client connect, then never
// reads again, as a hung server does: the client's socket fills up and
// its writes block. It returns the server's URL.
func stallServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				fmt.Fprintf(c, "INFO {\"server_id\":\"STALL\",\"version\":\"2.15.2\",\"proto\":1,\"headers\":true,\"max_payload\":1048576}\r\n")
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.HasPrefix(line, "PING") {
						c.Write([]byte("PONG\r\n"))
						return // connected: from now on, nothing is read
					}
				}
			}()
		}
	}()
	// Runs before the site's cleanup: closing the sockets unblocks the
	// client so that the links can close.
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "nats://" + ln.Addr().String()
}

// A server that stops reading must not block the agent: writes through
// the link are dropped and counted once the outbox is full, and local,
// LAN and bridged traffic goes on.
func TestStalledServerNeverBlocksTheAgent(t *testing.T) {
	s := newSite(t, false)
	s.announce = time.Hour // the directory entry below must not expire
	s.url = stallServer(t)
	a1 := s.add("A1", "s1", 11)
	a2 := s.add("A2", "s1", 12, true) // on the LAN, not linked
	peer := s.peer("WIN1", "s1", 50)  // a host without an agent
	l := s.links["A1"]
	eventually(t, "A1 connected to the stalling server", l.Connected)
	eventually(t, "A1 settled, so the gateway of s1", l.settled)
	// A host on another subnet, reached only through the link.
	l.dir.put(Announcement{ID: "FARID", Name: "FAR", LANs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Addrs: []netip.Addr{netip.MustParseAddr("198.51.100.9")}}, time.Now())
	far, err := a1.Open(context.Background(), "FAR", "x")
	if err != nil {
		t.Fatal(err)
	}
	// must fails the test if f does not return: a blocked agent.
	must := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			f()
		}()
		select {
		case <-done:
		case <-time.After(waitLong):
			t.Fatalf("%s blocked on the stalled NATS connection", what)
		}
	}
	// Far more than the socket buffers hold: the publisher blocks in the
	// client, the outbox fills, and later writes are dropped.
	data := make([]byte, 400)
	must("writes through the link", func() {
		for i := 0; i < 200000 && l.M.QueueFull.Load() == 0; i++ {
			if err := a1.Write(far, data); err != nil {
				t.Errorf("write %d: %v", i, err)
				return
			}
		}
	})
	if l.M.QueueFull.Load() == 0 {
		t.Fatal("the outbox never filled: the server did not stall the client")
	}

	subA2, subA1 := subscribe(t, a2, "lan"), subscribe(t, a1, "lan")
	must("LAN and bridged writes", func() {
		for i := range 100 {
			// A local group write: on the LAN, and offered to the link.
			if err := a1.Send(context.Background(), "*", "lan", fmt.Appendf(nil, "a%d", i)); err != nil {
				t.Errorf("LAN write %d: %v", i, err)
			}
			// A LAN write of a host without an agent, which A1 (the
			// gateway of s1) bridges to the link.
			peer.broadcast(t, uint16(i), "lan", fmt.Sprintf("w%d", i))
		}
	})
	got := map[string]int{}
	for len(got) < 200 {
		select {
		case d := <-subA2.C:
			if d.Source() == "A1" {
				got[string(d.Data)]++
			}
		case d := <-subA1.C:
			if d.Source() == "WIN1" {
				got[string(d.Data)]++
			}
		case <-time.After(waitLong):
			t.Fatalf("%d of 200 LAN writes delivered while NATS is stalled", len(got))
		}
	}
	if l.M.Bridged.Load() == 0 {
		t.Error("A1 bridged nothing: the bridging path was not exercised")
	}
}
