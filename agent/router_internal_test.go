package agent

import (
	"net/netip"
	"testing"

	"github.com/mailslot/mailslot/agent/transport/memnet"
)

// memnetAgent makes (does not run) agent name, without a local socket, on
// a memnet host with one interface at prefix; cfg gives the other fields.
func memnetAgent(tb testing.TB, name, prefix string, cfg Config) *Agent {
	tb.Helper()
	h := memnet.New(1).Host(name)
	h.AddInterface("lan", netip.MustParsePrefix(prefix))
	cfg.Name, cfg.Transport, cfg.NoLocalSocket, cfg.DisableDNS = name, h, true, true
	a, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// TestDirectNeverOvertakesTheQueue: once a delivery waits in a slot's
// queue, later ones queue behind it even when the slot's socket has room
// again, until the queue's writer has sent it.
func TestDirectNeverOvertakesTheQueue(t *testing.T) {
	a := memnetAgent(t, "ALPHA", "192.0.2.11/24", Config{})
	sub, err := a.Router().Subscribe("x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var direct []string
	room := false // the slot's socket
	sub.setDirect(func(d Delivery) bool {
		if room {
			direct = append(direct, string(d.Data))
		}
		return room
	})
	send := func(s string) {
		a.Router().Dispatch(&Inbound{Path: "x", Src: netip.MustParseAddrPort("192.0.2.12:138"), Data: []byte(s)})
	}
	send("1") // socket full: queued
	room = true
	send("2") // must queue behind 1
	if len(direct) != 0 {
		t.Fatalf("%q went direct while 1 was queued", direct)
	}
	// The queue's writer sends both.
	sub.sending(func() int {
		for _, want := range []string{"1", "2"} {
			if d := <-sub.C; string(d.Data) != want {
				t.Fatalf("queue: got %q, want %q", d.Data, want)
			}
		}
		return 2
	})
	send("3") // nothing queued: direct
	if len(direct) != 1 || direct[0] != "3" {
		t.Fatalf("direct: %q", direct)
	}
	if got := a.M.DeliveredDirect.Load(); got != 1 {
		t.Fatalf("delivered_direct %d", got)
	}
}
