package names_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// B-node registration (RFC 1002 §5.1.1.1): three broadcast NAME
// REGISTRATION REQUESTs per name, 250 ms apart, one transaction ID per
// name, from port 137 to the directed broadcast, carrying our address, the
// group bit and the announced TTL; silence means the names are ours.
func TestRegistrationBroadcastsThreeTimes(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		w := newPeer(t, n, "WATCHER", 50)
		start := time.Now()
		for _, e := range a.s.Table() {
			if e.State != names.Registering {
				t.Fatalf("%v is %v before Register", e.Name, e.State)
			}
		}
		took := make(chan time.Duration, 1)
		go func() {
			a.register()
			took <- time.Since(start)
		}()
		regs := only(w.recv(time.Second), nbns.OpRegistration, false)
		if d := <-took; d != names.BcastRetries*names.BcastRetry {
			t.Errorf("the round took %v, want %v", d, names.BcastRetries*names.BcastRetry)
		}
		per := map[netbios.Name][]got{}
		for _, g := range regs {
			per[g.Questions[0].Name] = append(per[g.Questions[0].Name], g)
		}
		for _, want := range []struct {
			name  netbios.Name
			group bool
		}{{alpha, false}, {wg, true}} {
			l := per[want.name]
			if len(l) != names.BcastRetries {
				t.Fatalf("%v: %d requests, want %d", want.name, len(l), names.BcastRetries)
			}
			for k, g := range l {
				if g.ID != l[0].ID {
					t.Errorf("%v: try %d has ID %d, the first %d", want.name, k, g.ID, l[0].ID)
				}
				if g.Flags&nbns.FlagBroadcast == 0 || g.dst.Addr() != lanBcast || g.src.Port() != transport.NamePort {
					t.Errorf("%v: try %d is not a broadcast from port 137: %+v", want.name, k, g)
				}
				if at := g.at.Sub(start); at != time.Duration(k)*names.BcastRetry {
					t.Errorf("%v: try %d sent at %v, want %v", want.name, k, at, time.Duration(k)*names.BcastRetry)
				}
				rr := g.Additional[0]
				if rr.TTL != uint32(names.DefaultTTL/time.Second) || rr.Addresses[0].IP != ip4(11) ||
					(rr.Addresses[0].Flags&nbns.NBGroup != 0) != want.group {
					t.Errorf("%v: record %+v", want.name, rr)
				}
			}
		}
		for _, e := range a.s.Table() {
			if e.State != names.Active {
				t.Errorf("%v is %v after an unopposed round", e.Name, e.State)
			}
		}
		// The interface is done: a second Register sends nothing.
		a.register()
		if l := w.recv(time.Second); len(l) != 0 {
			t.Errorf("a second Register sent %d packets", len(l))
		}
	})
}

// Retries: a LAN that loses the first two tries still sees the third, and
// a defender that hears only that one still refuses in time.
func TestRefusalOfALaterTry(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		d := newPeer(t, n, "OWNER", 50)
		tries := 0
		d.serve(func(g got) *nbns.Packet {
			if g.Opcode() != nbns.OpRegistration || g.Response() || g.Questions[0].Name != alpha {
				return nil
			}
			if tries++; tries < names.BcastRetries {
				return nil // as if lost
			}
			return nbns.Conflict(g.ID, alpha, nbns.Entry(false, d.i.IP()))
		})
		a.register()
		if e := a.state(t, alpha); e.State != names.Conflict || e.Defender != d.i.IP() {
			t.Fatalf("ALPHA: %+v after a refusal of the last try", e)
		}
	})
}

// A negative response (ACT_ERR) from the owner puts a unique name in
// conflict at once: no further tries, the defender recorded, the name no
// longer ours for datagrams, queries or resolution. A group name cannot be
// refused.
func TestRefusalPutsNameInConflict(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		d := newPeer(t, n, "OWNER", 50)
		seen := make(chan netbios.Name, 16)
		d.serve(func(g got) *nbns.Packet {
			if g.Opcode() != nbns.OpRegistration || g.Response() {
				return nil
			}
			seen <- g.Questions[0].Name
			// Refuse both: only the unique one can be taken away.
			return nbns.Conflict(g.ID, g.Questions[0].Name, nbns.Entry(false, d.i.IP()))
		})
		a.register()
		e := a.state(t, alpha)
		if e.State != names.Conflict || e.Defender != d.i.IP() {
			t.Fatalf("ALPHA: %+v", e)
		}
		if g := a.state(t, wg); g.State != names.Active {
			t.Fatalf("a refusal took the group name: %+v", g)
		}
		if c := a.s.C.Conflicts.Load(); c != 1 {
			t.Errorf("conflicts = %d", c)
		}
		tries := 0
		for len(seen) > 0 {
			if <-seen == alpha {
				tries++
			}
		}
		if tries != 1 {
			t.Errorf("ALPHA was broadcast %d times, want 1 (no tries after the refusal)", tries)
		}
		if _, ok := a.s.Owns(alpha); ok {
			t.Error("Owns(ALPHA) after the conflict")
		}
		if ans, err := a.s.Resolve(context.Background(), alpha); err == nil && ans.Source == "self" {
			t.Errorf("resolves a conflicted name as our own: %+v", ans)
		}
	})
}

// A refusal that comes after the three tries but within LateRefusal still
// takes the name (a loaded nmbd answers late); one after it does not.
func TestLateRefusal(t *testing.T) {
	for _, c := range []struct {
		delay time.Duration
		want  names.State
	}{
		{2 * time.Second, names.Conflict},
		{names.LateRefusal + time.Second, names.Active},
	} {
		t.Run(c.delay.String(), func(t *testing.T) {
			onLAN(t, func(t *testing.T, n *memnet.Network) {
				a := newNode(t, n, "ALPHA", 11, names.Config{})
				d := newPeer(t, n, "SLOW", 50)
				a.register()
				if e := a.state(t, alpha); e.State != names.Active {
					t.Fatalf("ALPHA is %v after the round", e.State)
				}
				reg := only(d.recv(time.Second), nbns.OpRegistration, false)
				var id uint16
				for _, g := range reg {
					if g.Questions[0].Name == alpha {
						id = g.ID
					}
				}
				time.Sleep(c.delay - time.Second)
				d.send(transport.NamePort, a.i.IP(), nbns.Conflict(id, alpha, nbns.Entry(false, d.i.IP())))
				time.Sleep(time.Second)
				if e := a.state(t, alpha); e.State != c.want {
					t.Fatalf("ALPHA is %v after a refusal %v after the round, want %v", e.State, c.delay, c.want)
				}
			})
		})
	}
}

// Release: one broadcast NAME RELEASE REQUEST per name we hold, none for a
// name lost to a conflict (it is someone else's); afterwards nothing is
// answered for the released names.
func TestRelease(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{Names: []names.Owned{
			{Name: alpha}, {Name: wg, Group: true}, {Name: netbios.MustNew("TAKEN", 0)}}})
		d := newPeer(t, n, "OWNER", 50)
		d.serve(func(g got) *nbns.Packet {
			if g.Opcode() == nbns.OpRegistration && !g.Response() && g.Questions[0].Name.Base() == "TAKEN" {
				return nbns.Conflict(g.ID, g.Questions[0].Name, nbns.Entry(false, d.i.IP()))
			}
			return nil
		})
		a.register()
		w := newPeer(t, n, "WATCHER", 60)
		a.s.Release()
		rel := map[string]got{}
		for _, g := range only(w.recv(time.Second), nbns.OpRelease, false) {
			rel[g.Questions[0].Name.String()] = g
		}
		if len(rel) != 2 {
			t.Fatalf("released %v, want ALPHA<00> and TESTGRP<00> only", rel)
		}
		for name, g := range rel {
			if g.Flags&nbns.FlagBroadcast == 0 || g.dst.Addr() != lanBcast || g.Additional[0].Addresses[0].IP != ip4(11) {
				t.Errorf("%s: %+v", name, g)
			}
		}
		if (rel["TESTGRP<00>"].Additional[0].Addresses[0].Flags&nbns.NBGroup == 0) || rel["ALPHA<00>"].Additional[0].Addresses[0].Flags&nbns.NBGroup != 0 {
			t.Errorf("group bits of the releases: %+v", rel)
		}
		for _, e := range a.s.Table() {
			want := names.Released
			if e.Name.Base() == "TAKEN" {
				want = names.Conflict
			}
			if e.State != want {
				t.Errorf("%v is %v after Release, want %v", e.Name, e.State, want)
			}
		}
		w.send(40000, lanBcast, nbns.NameQuery(9, alpha, true))
		if l := w.recv(time.Second); len(l) != 0 {
			t.Errorf("answered for a released name: %+v", l)
		}
	})
}

// Names added later (Add) are registered on every current interface, and
// Remove releases one name.
func TestAddAndRemove(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		a.register()
		w := newPeer(t, n, "WATCHER", 50)
		msg := netbios.MustNew("ALPHA", netbios.Messenger)
		if e := a.s.Add(a.ctx, names.Owned{Name: msg}); e.State != names.Active {
			t.Fatalf("Add: %+v", e)
		}
		if l := only(w.recv(time.Second), nbns.OpRegistration, false); len(l) != names.BcastRetries || l[0].Questions[0].Name != msg {
			t.Fatalf("Add sent %+v", l)
		}
		a.s.Remove(msg)
		if l := only(w.recv(time.Second), nbns.OpRelease, false); len(l) != 1 || l[0].Questions[0].Name != msg {
			t.Fatalf("Remove sent %+v", l)
		}
		if _, ok := a.s.Owns(msg); ok {
			t.Fatal("still owns a removed name")
		}
	})
}

// Two hosts that register the same unique name at the same instant are
// both still registering when each hears the other's request, so neither
// owns the name yet and the defence rule alone lets both keep it. The
// tie-break (docs/semantics.md): the lower IPv4 address keeps the name and
// refuses the other's request with ACT_ERR; the higher one gives the name
// up. Exactly one owner, whichever starts its goroutine first.
func TestSimultaneousRegistration(t *testing.T) {
	for _, order := range []string{"low first", "high first"} {
		t.Run(order, func(t *testing.T) {
			onLAN(t, func(t *testing.T, n *memnet.Network) {
				lo := newNode(t, n, "ALPHA1", 11, names.Config{})
				hi := newNode(t, n, "ALPHA2", 12, names.Config{})
				first, second := lo, hi
				if order == "high first" {
					first, second = hi, lo
				}
				done := make(chan struct{})
				go func() { first.register(); done <- struct{}{} }()
				go func() { second.register(); done <- struct{}{} }()
				<-done
				<-done
				time.Sleep(names.LateRefusal + time.Second)
				if e := lo.state(t, alpha); e.State != names.Active {
					t.Errorf("the lower address: ALPHA is %v, want active", e.State)
				}
				if e := hi.state(t, alpha); e.State != names.Conflict || e.Defender != lo.i.IP() {
					t.Errorf("the higher address: ALPHA is %+v, want conflict with 192.0.2.11", e)
				}
				for _, x := range []*node{lo, hi} {
					if e := x.state(t, wg); e.State != names.Active {
						t.Errorf("%v: the group name is %v", x.i.IP(), e.State)
					}
				}
			})
		})
	}
}

// The same tie-break against a host that does not apply it (Samba's nmbd
// ignores registrations of names it is still registering): with the lower
// address we refuse its request, with the higher one we give the name up
// as soon as we hear it, without answering.
func TestRegistrationAgainstARegisteringPeer(t *testing.T) {
	for _, c := range []struct {
		peer  byte
		ours  names.State
		wants int // refusals the peer receives
	}{{50, names.Active, 1}, {5, names.Conflict, 0}} {
		t.Run(fmt.Sprint(c.peer), func(t *testing.T) {
			onLAN(t, func(t *testing.T, n *memnet.Network) {
				a := newNode(t, n, "ALPHA", 11, names.Config{})
				p := newPeer(t, n, "SAMBA", c.peer)
				// Ours goes out first; the peer's request arrives while
				// ours is in flight.
				go a.register()
				time.Sleep(100 * time.Millisecond)
				p.send(transport.NamePort, lanBcast, nbns.Registration(77, alpha, 300, nbns.Entry(false, p.i.IP()), true))
				refusals := 0
				for _, g := range p.recv(2 * time.Second) {
					if g.Response() && g.ID == 77 {
						if g.Rcode() != nbns.RcodeActive || g.dst.Addr() != p.i.IP() {
							t.Errorf("answer %+v", g)
						}
						refusals++
					}
				}
				if refusals != c.wants {
					t.Errorf("the peer got %d refusals, want %d", refusals, c.wants)
				}
				e := a.state(t, alpha)
				if e.State != c.ours {
					t.Fatalf("ALPHA is %v, want %v", e.State, c.ours)
				}
				if e.State == names.Conflict && e.Defender != p.i.IP() {
					t.Errorf("defender %v", e.Defender)
				}
			})
		})
	}
}
