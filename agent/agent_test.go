package agent

import (
	"context"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/winerr"
)

// lan is a memnet LAN with agents on it, inside a synctest bubble.
type lan struct {
	t      *testing.T
	net    *memnet.Network
	agents map[string]*Agent
	hosts  map[string]*memnet.Host
	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{}
	n      int
}

func newLAN(t *testing.T) *lan {
	ctx, cancel := context.WithCancel(context.Background())
	return &lan{t: t, net: memnet.New(1), agents: map[string]*Agent{}, hosts: map[string]*memnet.Host{},
		ctx: ctx, cancel: cancel, done: make(chan struct{}, 16)}
}

// add starts an agent called name at 192.0.2.x on segment "lan".
func (l *lan) add(name string, x byte, opt ...func(*Config)) *Agent {
	l.t.Helper()
	h := l.net.Host(name)
	h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, x}), 24))
	cfg := Config{Name: name, Workgroup: "TESTGRP", Transport: h, NoLocalSocket: true, DisableDNS: true}
	for _, o := range opt {
		o(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	l.agents[name], l.hosts[name] = a, h
	l.n++
	go func() {
		a.Run(l.ctx)
		l.done <- struct{}{}
	}()
	return a
}

// stop stops every agent (they release their names) and waits for them.
func (l *lan) stop() {
	l.cancel()
	for ; l.n > 0; l.n-- {
		<-l.done
	}
}

// lanTest runs f in a synctest bubble with an empty LAN, stopped at the end.
func lanTest(t *testing.T, f func(t *testing.T, l *lan)) {
	synctest.Test(t, func(t *testing.T) {
		l := newLAN(t)
		defer l.stop()
		f(t, l)
	})
}

func state(a *Agent, name string) names.State {
	for _, e := range a.ns.Table() {
		if e.Name.Base() == name && e.Name.Suffix() == 0 {
			return e.State
		}
	}
	return -1
}

func recv(t *testing.T, sub *Subscription) Delivery {
	t.Helper()
	select {
	case d := <-sub.C:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	return Delivery{}
}

func none(t *testing.T, sub *Subscription) {
	t.Helper()
	select {
	case d := <-sub.C:
		t.Fatalf("unexpected delivery %+v", d)
	case <-time.After(2 * time.Second):
	}
}

func TestRegisterAndUniqueWrite(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		b := l.add("BRAVO", 12)
		time.Sleep(time.Second)
		if s := state(a, "ALPHA"); s != names.Active {
			t.Fatalf("ALPHA is %v", s)
		}
		sub, err := b.Router().Subscribe(`app\x`, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Send(context.Background(), "bravo", `APP\X`, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		d := recv(t, sub)
		if string(d.Data) != "hello" || d.Source() != "ALPHA" || d.Addr != netip.MustParseAddrPort("192.0.2.11:138") {
			t.Fatalf("got %+v", d)
		}
		none(t, sub)
	})
}

func TestBroadcastReachesEachHostOnce(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		l.add("BRAVO", 12)
		l.add("CHARLIE", 13)
		time.Sleep(time.Second)
		var subs []*Subscription
		for _, n := range []string{"ALPHA", "BRAVO", "CHARLIE"} {
			s, _ := l.agents[n].Router().Subscribe("bc", nil)
			subs = append(subs, s)
		}
		if err := a.Send(context.Background(), "*", "bc", []byte("all")); err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if d := recv(t, s); string(d.Data) != "all" {
				t.Fatalf("got %q", d.Data)
			}
		}
		for _, s := range subs {
			none(t, s)
		}
	})
}

func TestConflictAndDefence(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		time.Sleep(time.Second)
		b := l.add("ALPHA", 12)
		time.Sleep(time.Second)
		if s := state(a, "ALPHA"); s != names.Active {
			t.Fatalf("first ALPHA is %v, want active", s)
		}
		if s := state(b, "ALPHA"); s != names.Conflict {
			t.Fatalf("second ALPHA is %v, want conflict", s)
		}
		if a.ns.C.Defended.Load() == 0 {
			t.Fatal("no defence counted")
		}
		tab := b.NameTable()
		if tab.Names[0].State != "conflict" || tab.Names[0].Defender != "192.0.2.11" {
			t.Fatalf("names: %+v", tab.Names)
		}
		// The workgroup is a group name: both hold it.
		if tab.Names[1].State != "active" {
			t.Fatalf("workgroup: %+v", tab.Names[1])
		}
	})
}

func TestUnresolvableHost(t *testing.T) {
	lanTest(t, func(t *testing.T, l *lan) {
		a := l.add("ALPHA", 11)
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := a.Open(ctx, "NOBODY", "x")
		if err == nil {
			t.Fatal("opened a host that does not exist")
		}
		if e, ok := err.(*Error); !ok || e.Code != winerr.ERROR_BAD_NETPATH {
			t.Fatalf("err = %#v", err)
		}
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Fatalf("took %v", d)
		}
	})
}
