package names_test

import (
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// responder is a peer that owns every name starting with "H" (unique, at
// its own address, with TTL ttl) and counts the queries it sees.
type responder struct {
	*peer
	queries atomic.Int64
}

func newResponder(t *testing.T, n *memnet.Network, ttl uint32) *responder {
	r := &responder{peer: newPeer(t, n, "HOSTS", 50)}
	r.serve(func(g got) *nbns.Packet {
		if g.Opcode() != nbns.OpQuery || g.Response() || g.Questions[0].Type != nbns.TypeNB {
			return nil
		}
		r.queries.Add(1)
		if name := g.Questions[0].Name; name.Base()[0] == 'H' {
			return nbns.PositiveQueryResponse(g.ID, name, ttl, nbns.Entry(false, r.i.IP()))
		}
		return nil
	})
	return r
}

func resolve(t *testing.T, a *node, name string) (names.Answer, error) {
	t.Helper()
	return a.s.Resolve(a.ctx, netbios.MustNew(name, 0))
}

// A broadcast query's answer is cached for its TTL (at most MaxCacheTTL):
// the next resolution asks nobody; after expiry the wire is asked again.
func TestCacheKeepsAnswersForTheirTTL(t *testing.T) {
	for _, c := range []struct {
		ttl  uint32
		want time.Duration
	}{{30, 30 * time.Second}, {7200, names.MaxCacheTTL}, {0, names.MaxCacheTTL}} {
		t.Run(fmt.Sprint(c.ttl), func(t *testing.T) {
			onLAN(t, func(t *testing.T, n *memnet.Network) {
				a := newNode(t, n, "ALPHA", 11, names.Config{})
				r := newResponder(t, n, c.ttl)
				ans, err := resolve(t, a, "HBRAVO")
				if err != nil || ans.Source != "broadcast" || len(ans.Addrs) != 1 || ans.Addrs[0] != r.i.IP() || ans.Group {
					t.Fatalf("first resolution: %+v, %v", ans, err)
				}
				time.Sleep(c.want - time.Second)
				if ans, err := resolve(t, a, "HBRAVO"); err != nil || ans.Source != "cache" || ans.Addrs[0] != r.i.IP() {
					t.Fatalf("before expiry: %+v, %v", ans, err)
				}
				if q := r.queries.Load(); q != 1 {
					t.Fatalf("%d queries on the wire before expiry, want 1", q)
				}
				time.Sleep(2 * time.Second)
				if ans, err := resolve(t, a, "HBRAVO"); err != nil || ans.Source != "broadcast" {
					t.Fatalf("after expiry: %+v, %v", ans, err)
				}
				if q := r.queries.Load(); q != 2 {
					t.Fatalf("%d queries on the wire after expiry, want 2", q)
				}
			})
		})
	}
}

// A failed lookup is remembered for NegativeCacheTTL: a loop of opens to
// an absent host does not flood the LAN.
func TestNegativeCache(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		r := newResponder(t, n, 300)
		if _, err := resolve(t, a, "NOBODY"); !errors.Is(err, names.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
		first := r.queries.Load()
		if first != names.BcastRetries {
			t.Fatalf("%d queries for an absent name, want %d", first, names.BcastRetries)
		}
		for range 10 {
			if _, err := resolve(t, a, "NOBODY"); !errors.Is(err, names.ErrNotFound) {
				t.Fatalf("err = %v", err)
			}
		}
		if q := r.queries.Load(); q != first {
			t.Fatalf("%d more queries within the negative TTL", q-first)
		}
		time.Sleep(names.NegativeCacheTTL + time.Second)
		resolve(t, a, "NOBODY")
		if q := r.queries.Load(); q != 2*first {
			t.Fatalf("%d queries after the negative TTL, want %d", q, 2*first)
		}
	})
}

// The cache is bounded: a full cache first drops expired entries, and only
// then an arbitrary one; the new entry is always kept.
func TestCacheIsBounded(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{CacheSize: 4})
		short := newResponder(t, n, 30)
		// A second responder with a long TTL for one name.
		long := newPeer(t, n, "LONG", 51)
		keeper := netbios.MustNew("KEEPER", 0)
		long.serve(func(g got) *nbns.Packet {
			if g.Opcode() == nbns.OpQuery && !g.Response() && g.Questions[0].Name == keeper {
				return nbns.PositiveQueryResponse(g.ID, keeper, 600, nbns.Entry(false, long.i.IP()))
			}
			return nil
		})
		if _, err := a.s.Resolve(a.ctx, keeper); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := resolve(t, a, fmt.Sprintf("H%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if l := a.s.CacheLen(); l != 4 {
			t.Fatalf("cache holds %d, want 4", l)
		}
		time.Sleep(31 * time.Second) // H0..H2 expire, KEEPER does not
		for i := 3; i < 6; i++ {
			if _, err := resolve(t, a, fmt.Sprintf("H%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if ans, err := a.s.Resolve(a.ctx, keeper); err != nil || ans.Source != "cache" {
			t.Fatalf("the live entry was evicted while expired ones remained: %+v, %v", ans, err)
		}
		// Full of live entries: more names still fit, one at a time.
		for i := 6; i < 20; i++ {
			if _, err := resolve(t, a, fmt.Sprintf("H%d", i)); err != nil {
				t.Fatal(err)
			}
			if l := a.s.CacheLen(); l > 4 {
				t.Fatalf("cache holds %d entries, bound 4", l)
			}
			if ans, err := resolve(t, a, fmt.Sprintf("H%d", i)); err != nil || ans.Source != "cache" {
				t.Fatalf("the newest entry is not cached: %+v, %v", ans, err)
			}
		}
		_ = short
	})
}

// Another host's NAME RELEASE drops its name from the cache at once.
func TestReleaseForgetsCachedName(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		a := newNode(t, n, "ALPHA", 11, names.Config{})
		r := newResponder(t, n, 300)
		if _, err := resolve(t, a, "HBRAVO"); err != nil {
			t.Fatal(err)
		}
		name := netbios.MustNew("HBRAVO", 0)
		r.send(transport.NamePort, lanBcast, nbns.Release(1, name, nbns.Entry(false, r.i.IP()), true))
		time.Sleep(time.Second)
		if ans, err := resolve(t, a, "HBRAVO"); err != nil || ans.Source != "broadcast" {
			t.Fatalf("after a release: %+v, %v", ans, err)
		}
	})
}

// Static entries (lmhosts) answer without the network; a NAME<00> entry
// also answers the other suffixes of NAME, an entry with another suffix
// only itself. Our own active names come first, from our interfaces.
func TestStaticEntriesAndOwnNames(t *testing.T) {
	onLAN(t, func(t *testing.T, n *memnet.Network) {
		far := netip.MustParseAddr("198.51.100.7")
		a := newNode(t, n, "ALPHA", 11, names.Config{Static: []names.Static{
			{Name: netbios.MustNew("FAROFF", 0), Addr: far},
			{Name: netbios.MustNew("SRV", 0x20), Addr: far},
		}})
		r := newResponder(t, n, 300)
		a.register()
		for _, q := range []netbios.Name{netbios.MustNew("FAROFF", 0), netbios.MustNew("FAROFF", 0x20),
			netbios.MustNew("FAROFF", netbios.Messenger), netbios.MustNew("SRV", 0x20)} {
			ans, err := a.s.Resolve(a.ctx, q)
			if err != nil || ans.Source != "static" || len(ans.Addrs) != 1 || ans.Addrs[0] != far {
				t.Errorf("%v: %+v, %v", q, ans, err)
			}
		}
		if ans, err := a.s.Resolve(a.ctx, netbios.MustNew("SRV", 0)); err == nil {
			t.Errorf("SRV<20> answered for SRV<00>: %+v", ans)
		}
		ans, err := a.s.Resolve(a.ctx, alpha)
		if err != nil || ans.Source != "self" || ans.Addrs[0] != ip4(11) {
			t.Errorf("own name: %+v, %v", ans, err)
		}
		if ans, err := a.s.Resolve(a.ctx, wg); err != nil || ans.Source != "self" || !ans.Group {
			t.Errorf("own group: %+v, %v", ans, err)
		}
		// Only SRV<00> went to the wire.
		if q := r.queries.Load(); q != names.BcastRetries {
			t.Errorf("%d queries on the wire, want %d (SRV<00> only)", q, names.BcastRetries)
		}
	})
}
