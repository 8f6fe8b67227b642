package natslink_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/natslink"
	"github.com/mailslot/mailslot/agent/transport/memnet"
)

// A program that is not an agent sends two writes to
// \\WORKGROUP\mailslot\app\x in one envelope, built with nothing but
// encoding/binary and published with plain nats.go; agent BRAVO receives
// them. The layout is in docs/design.md ("Subjects and payload").
func Example_envelope() {
	srv, err := natslink.Embed(natslink.EmbedConfig{})
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown()
	// Agent BRAVO, on an in-memory LAN, linked to the server.
	h := memnet.New(1).Host("BRAVO")
	h.AddInterface("lan", netip.MustParsePrefix("198.51.100.2/24"))
	a, err := agent.New(agent.Config{Name: "BRAVO", Workgroup: "WORKGROUP", Transport: h, NoLocalSocket: true, DisableDNS: true})
	if err != nil {
		panic(err)
	}
	l, err := natslink.New(a, natslink.Config{Server: srv})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	go l.Run(ctx)
	slot, err := a.Router().Subscribe(`app\x`, nil)
	if err != nil {
		panic(err)
	}

	// The other program.
	name := func(b []byte, n string, suffix byte) []byte { // 15 bytes space-padded, then the suffix
		return append(append(b, fmt.Sprintf("%-15s", n)...), suffix)
	}
	env := []byte("\x89MSL") // magic
	env = append(env, 1, 0)  // version 1; origin: none (not an agent)
	for i, text := range []string{"hello", "world"} {
		env = name(env, "GOCLIENT", 0x00)                   // source
		env = name(env, "WORKGROUP", 0x00)                  // destination
		env = binary.BigEndian.AppendUint16(env, uint16(i)) // NetBIOS datagram ID
		env = append(env, 192, 0, 2, 10, 0, 138)            // sender 192.0.2.10:138
		env = append(env, 0)                                // subnets that got it already: none
		env = append(env, byte(len(`APP\X`)))
		env = append(env, `APP\X`...)
		env = binary.BigEndian.AppendUint16(env, uint16(len(text)))
		env = append(env, text...)
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	// NATS core is at-most-once: publish again until the agent has
	// subscribed (it drops repeats by their dedup key).
	nc.Publish("mailslot.WORKGROUP.bcast.APP/X", env)
	for got := 0; got < 2; {
		select {
		case d := <-slot.C:
			fmt.Println(d.Source(), d.Addr, string(d.Data))
			got++
		case <-time.After(100 * time.Millisecond):
			nc.Publish("mailslot.WORKGROUP.bcast.APP/X", env)
		}
	}
	// Output:
	// GOCLIENT 192.0.2.10:138 hello
	// GOCLIENT 192.0.2.10:138 world
}
