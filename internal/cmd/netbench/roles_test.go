//go:build linux

package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// The test binary stands in for netbench: run as "-role NAME" it is a role.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		os.Exit(runRole(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// The raw roles count what they send and receive correctly across two
// namespaces (checks of the tool, not of its speed).
func TestRawRoles(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lab := netnstest.New(t)
	a, c := lab.AddHost("a"), lab.AddHost("c")
	r := &runner{}
	defer r.close()
	b := &bench{r: r, self: self, lab: lab, hosts: []*netnstest.Host{a, c}}

	recv := b.start(c, "udp-recv", "-listen", c.Addr.String()+":9100", "-count", "500")
	var s sendResult
	b.call(a, &s, "udp-send", "-to", c.Addr.String()+":9100", "-size", "400", "-count", "500", "-rate", "5000")
	var rr recvResult
	b.result(recv, &rr)
	if s.Sent != 500 || rr.Received != 500 || rr.Dups != 0 {
		t.Errorf("sent %+v, received %+v; want 500 each, no duplicates", s, rr)
	}

	echo := b.start(c, "udp-echo", "-listen", c.Addr.String()+":9200")
	var p pingResult
	b.call(a, &p, "udp-ping", "-to", c.Addr.String()+":9200", "-count", "100")
	echo.Stop(time.Second)
	if p.N != 100 || p.P50 <= 0 || p.P50 > p.P99 {
		t.Errorf("ping %+v", p)
	}

	// The flood reaches its target (counted by a receiver on 138).
	sink := b.start(c, "udp-recv", "-listen", c.Addr.String()+":138", "-count", "1000000", "-idle", "500ms")
	var f sendResult
	b.call(a, &f, "flood", "-to", c.Addr.String(), "-count", "2000")
	if f.Sent != 2000 {
		t.Errorf("flood sent %+v", f)
	}
	var fr recvResult
	b.result(sink, &fr)
	if fr.Received == 0 {
		t.Errorf("nothing of the flood arrived on 138")
	}
	if r.failed {
		t.Error("runner failed")
	}
}

// The whole benchmark runs (small), so make bench-net cannot rot: every
// part reports figures and the agent path delivers. Speeds are reported by
// the benchmark, never checked here.
func TestBenchSmoke(t *testing.T) {
	r := &runner{}
	defer r.close()
	defer func() {
		if e := recover(); e != nil {
			t.Fatalf("netbench failed: %v", e)
		}
	}()
	// Small: under -race the roles (this test binary) run much slower.
	rep := run(r, config{ms: buildMailslot(r), n: 500, flood: 5000, pings: 200, rates: []float64{2000}})
	for _, tp := range rep.Throughput {
		if tp.RawRate <= 0 || tp.AgentRate <= 0 || tp.PacedRate <= 0 {
			t.Errorf("throughput %+v", tp)
		}
	}
	if rep.RoundTrip.Raw.N == 0 || rep.RoundTrip.Agent.N == 0 {
		t.Errorf("round trip %+v", rep.RoundTrip)
	}
	for i, f := range rep.Fanout.Agent {
		if f.Received == 0 || rep.Fanout.Raw[i].Received == 0 {
			t.Errorf("fan-out to host %d: raw %+v agent %+v", i+1, rep.Fanout.Raw[i], f)
		}
	}
	if m := rep.Memory; !m.Alive || m.IdleKiB == 0 || m.FloodSent == 0 || m.ValidDelivered == 0 {
		t.Errorf("memory/flood %+v", m)
	}
	var b strings.Builder
	rep.print(&b)
	t.Log("\n" + b.String())
	if r.failed {
		t.Error("the runner reported errors")
	}
}
