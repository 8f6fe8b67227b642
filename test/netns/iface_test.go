//go:build linux

package netns

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// With no --interface the agent serves every up IPv4 interface but
// loopback and follows them as they come and go: started on a host whose
// only interface has no address yet, it registers once the address appears,
// and again after the address is removed and added back.
func TestAgentFollowsInterfaces(t *testing.T) {
	t.Parallel()
	lab := netnstest.New(t)
	late, peer := lab.AddHost("late"), lab.AddHost("peer")
	prefix := fmt.Sprintf("%s/%d", late.Addr, late.Prefix.Bits())
	ip := func(args ...string) {
		t.Helper()
		if out, err := late.Run(cmdTimeout, "ip", args...); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	ip("addr", "del", prefix, "dev", late.Iface)
	// --user root: the root agent's own path (one that dropped to nobody
	// is TestDroppedAgentServesLaterInterfaces).
	a := late.Start(mailslotBin, "agent", "--name", "LATE", "--workgroup", workgroup, "--user", "root")
	t.Cleanup(func() { checkNoRace(t, a) })
	time.Sleep(time.Second)
	if ok, err := a.Exited(); ok {
		t.Fatalf("the agent exited with no interface to serve instead of waiting for one: %v\n%s", err, a.Output())
	}
	ip("addr", "add", prefix, "brd", late.Broadcast.String(), "dev", late.Iface)
	waitName(t, peer, "LATE", late.Addr)

	ip("addr", "del", prefix, "dev", late.Iface)
	time.Sleep(time.Second)
	ip("addr", "add", prefix, "brd", late.Broadcast.String(), "dev", late.Iface)
	waitName(t, peer, "LATE", late.Addr)
	r := mustMS(t, late, "names")
	t.Logf("names after the address came back:\n%s", r.stdout)
	if ok, err := a.Exited(); ok {
		t.Fatalf("the agent exited: %v\n%s", err, a.Output())
	}
}

// An interface the agent cannot serve (here: another program holds UDP
// 137 in the namespace, without SO_REUSEADDR, when the address comes) is
// reported once, not on every rescan.
func TestInterfaceFailureLoggedOnce(t *testing.T) {
	t.Parallel()
	lab := netnstest.New(t)
	h := lab.AddHost("late")
	prefix := fmt.Sprintf("%s/%d", h.Addr, h.Prefix.Bits())
	if out, err := h.Run(cmdTimeout, "ip", "addr", "del", prefix, "dev", h.Iface); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	a := h.Start(mailslotBin, "agent", "--name", "LATE", "--workgroup", workgroup)
	t.Cleanup(func() { checkNoRace(t, a) })
	time.Sleep(time.Second)
	blocker, err := h.ListenUDP("0.0.0.0:137")
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	if out, err := h.Run(cmdTimeout, "ip", "addr", "add", prefix, "brd", h.Broadcast.String(), "dev", h.Iface); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	// The follower rescans every 2 s: five rescans.
	time.Sleep(10 * time.Second)
	if n := strings.Count(a.Output(), "interface change"); n != 1 {
		t.Errorf("the same interface failure was logged %d times in 10 s, want once:\n%s", n, netnstest.Tail(a.Output(), 2000))
	}
}
