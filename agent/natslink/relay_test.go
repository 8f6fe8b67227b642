package natslink

import (
	"context"
	"testing"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// \\WIN2\mailslot\x from subnet 1, where WIN2 runs no agent on subnet 2:
// B1, the gateway of subnet 2, answers the who request and delivers the
// write to WIN2 as a DIRECT_UNIQUE datagram.
func TestUniqueToHostWithoutAgentAcrossSubnets(t *testing.T) {
	srv, err := Embed(EmbedConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	n := memnet.New(6)
	win2 := n.Host("WIN2")
	wi := win2.AddInterface("s2", prefix("s2", 50))
	a1, l1 := linkedAgent(t, n, "A1", "s1", 11, Config{Server: srv})
	_, l2 := linkedAgent(t, n, "B1", "s2", 21, Config{Server: srv}, func(c *agent.Config) {
		// B1 knows WIN2 (as it would by a broadcast query to a real host).
		c.Static = []names.Static{{Name: netbios.MustNew("WIN2", 0), Addr: wi.IP()}}
	})
	eventually(t, "linked and settled", func() bool {
		return l1.dir.len() == 1 && l2.dir.len() == 1 && l1.settled() && l2.settled()
	})
	if err := a1.Send(context.Background(), "WIN2", "app", []byte("to a host without an agent")); err != nil {
		t.Fatal(err)
	}
	var got *dgram.Message
	eventually(t, "WIN2 receives the write", func() bool {
		for len(win2.Packets()) > 0 {
			pk := <-win2.Packets()
			p, w, err := dgram.Parse(pk.Data)
			if err == nil && pk.Port == 138 && !pk.Broadcast && w.Name == smbmail.Prefix+"app" {
				got = &dgram.Message{Source: p.SourceName, Dest: p.DestName, Data: w.Data, Group: p.Type != 0x10}
			}
		}
		return got != nil
	})
	if string(got.Data) != "to a host without an agent" || got.Source.Base() != "A1" || got.Dest.Base() != "WIN2" || got.Group {
		t.Fatalf("WIN2 got %+v", got)
	}
	if l2.M.Relayed.Load() != 1 {
		t.Fatalf("relayed %d", l2.M.Relayed.Load())
	}
	// An unknown name still fails.
	if err := a1.Send(context.Background(), "NOBODY", "app", []byte("x")); err == nil {
		t.Fatal("a write to an unknown host succeeded")
	}
}
