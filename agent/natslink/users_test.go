package natslink

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/wire/netbios"
)

// `net send USER` to a user whose Messenger runs on another site: the
// agent publishes the extra <03> names it registered (its users') in its
// directory entry, so USER<03> resolves to that agent, and the write goes
// on its host subject with the user's name as destination.
func TestUserNameOnAnotherSiteIsReached(t *testing.T) {
	s := newSite(t, false)
	a1, _, b1 := s.three()
	user := netbios.MustNew("ROOT", netbios.Messenger)
	got := make(chan netbios.Name, 4)
	b1.Router().Handle("MESSNGR", agent.HandlerFunc(func(in *agent.Inbound) {
		select {
		case got <- in.Dest:
		default:
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if e := b1.Names().Add(ctx, names.Owned{Name: user}); e.State != names.Active {
		t.Fatalf("ROOT<03> on B1: %v", e.State)
	}
	var tgt *agent.Target
	eventually(t, "A1 resolves ROOT<03>", func() bool {
		var err error
		tgt, err = a1.OpenName(context.Background(), user, "MESSNGR")
		return err == nil
	})
	if err := a1.Write(tgt, []byte("A1\x00ROOT\x00hello\x00")); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d != user {
			t.Fatalf("B1 got the write for %v, want ROOT<03>", d)
		}
	case <-time.After(waitLong):
		t.Fatal("B1 got nothing")
	}
	// B1 takes a host write only for its own names: a <03> name it does
	// not have is refused, not delivered.
	nc := s.client(t)
	before := s.links["B1"].M.Malformed.Load()
	msg := nats.NewMsg(HostSubject(testWG, "B1"))
	msg.Header.Set(HdrPath, "MESSNGR")
	msg.Header.Set(HdrDest, "NOBODY<03>")
	msg.Data = []byte("x")
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the write for NOBODY<03> is refused", func() bool { return s.links["B1"].M.Malformed.Load() > before })
	select {
	case d := <-got:
		t.Fatalf("B1 delivered a write for %v", d)
	case <-time.After(quietTime):
	}
}

// An announcement's users are checked and bounded: NetBIOS names, at most
// maxAnnounceUsers; the directory indexes them and the host names.
func TestAnnouncementUsersAreBounded(t *testing.T) {
	ann := func(users []string) []byte {
		return fmt.Appendf(nil, `{"id":"X","name":"H","lans":[],"addrs":[],"users":["%s"]}`, strings.Join(users, `","`))
	}
	if a, ok := decodeAnnouncement(ann([]string{"ROOT", "alice"})); !ok || len(a.Users) != 2 || a.Users[1] != "ALICE" {
		t.Fatalf("valid users: %+v %v", a, ok)
	}
	many := make([]string, maxAnnounceUsers+1)
	for i := range many {
		many[i] = fmt.Sprintf("U%d", i)
	}
	for _, bad := range [][]string{many, {"SIXTEEN-CHARS-XX"}, {""}} {
		if _, ok := decodeAnnouncement(ann(bad)); ok {
			t.Errorf("users %q accepted", bad[:min(len(bad), 3)])
		}
	}
	// The directory finds a user's agent, and forgets it with the agent.
	d := newDirectory(10)
	d.put(Announcement{ID: "B", Name: "HB", LANs: []netip.Prefix{}, Users: []string{"ROOT"}}, time.Now())
	if a, ok := d.byUser("ROOT"); !ok || a.Name != "HB" {
		t.Fatalf("user not indexed: %+v %v", a, ok)
	}
	if a, ok := d.byName("HB"); !ok || a.ID != "B" {
		t.Fatalf("host not indexed: %+v %v", a, ok)
	}
	d.put(Announcement{ID: "B", Bye: true}, time.Now())
	if _, ok := d.byUser("ROOT"); ok {
		t.Fatal("user kept after the goodbye")
	}
	if _, ok := d.byName("HB"); ok {
		t.Fatal("host kept after the goodbye")
	}
}
