package agent

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
)

// BenchmarkReceivePath measures the agent's per-datagram work from a
// received packet to a slot's delivery queue (decode, filters, dedup,
// routing), without sockets.
func BenchmarkReceivePath(b *testing.B) {
	a := memnetAgent(b, "BRAVO", "192.0.2.12/24", Config{Workgroup: "TESTGRP", RateIn: -1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)
	for a.ns.Table()[0].State != names.Active {
		time.Sleep(10 * time.Millisecond)
	}
	sub, _ := a.Router().Subscribe("bench", nil)
	go func() {
		for range sub.C {
		}
	}()
	src := netip.MustParseAddr("192.0.2.11")
	pk := &transport.Packet{Port: 138, Ifindex: a.tr.Interfaces()[0].Index, Src: netip.AddrPortFrom(src, 138),
		Dst: netip.MustParseAddr("192.0.2.12"), Data: datagramB(b, src, "ALPHA", "BRAVO", "bench", 64)}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pk.Data[2] = byte(i >> 8) // a fresh DGM_ID, as a sender would use
		pk.Data[3] = byte(i)
		a.dgram.handle(pk)
	}
}

// BenchmarkSendPath measures encoding and handing one write to the
// transport, in batches of 32 as the local server does.
func BenchmarkSendPath(b *testing.B) {
	a := memnetAgent(b, "ALPHA", "192.0.2.11/24", Config{Workgroup: "TESTGRP"})
	t := &Target{t: target{dest: a.host, addr: netip.MustParseAddr("192.0.2.99"), max: 400}, path: "bench"}
	msgs := make([][]byte, 32)
	for i := range msgs {
		msgs[i] = make([]byte, 64)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(msgs) {
		if err := a.dgram.sendBatch(&t.t, t.path, msgs); err != nil {
			b.Fatal(err)
		}
	}
}
