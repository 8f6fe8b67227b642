//go:build linux

package netns

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// A hostile LAN host sends 100,000 garbage datagrams to UDP 137 and 138 of
// an agent. The agent stays alive, its memory stays bounded, it logs the
// flood in a few lines, and valid messages sent during the flood from
// another host still arrive.
func TestGarbageFlood(t *testing.T) {
	t.Parallel()
	lab := netnstest.New(t)
	alpha, bravo, hostile := lab.AddHost("alpha"), lab.AddHost("bravo"), lab.AddHost("hostile")
	startAgent(t, alpha, "ALPHA")
	target := startAgent(t, bravo, "BRAVO")
	waitName(t, hostile, "ALPHA", alpha.Addr)
	waitName(t, hostile, "BRAVO", bravo.Addr)
	inbox := listen(t, bravo, `\\.\mailslot\lab\valid`, "--allow-remote")
	mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\valid`, "before the flood")
	inbox.expectOnce("before the flood", "ALPHA", alpha.Addr)
	linesBefore := len(netnstest.Lines(target.Output()))

	c, err := hostile.ListenUDP(hostile.Addr.String() + ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const garbage = 100000
	var (
		wg    sync.WaitGroup
		sent  int
		ferr  error
		flood = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(flood)
		// Paced over a few seconds so that several valid messages are
		// sent while it lasts.
		sent, ferr = netnstest.Flood(c, bravo.Addr, garbage, 40000, 7)
	}()
	var during []string
	peak := 0
	for i := 0; ; i++ {
		select {
		case <-flood:
		default:
			msg := fmt.Sprintf("during the flood %d", i)
			if r := ms(alpha, "send", `\\BRAVO\mailslot\lab\valid`, msg); r.code == 0 {
				during = append(during, msg)
			}
			if kb, err := netnstest.StatusKiB(target.Pid(), "VmRSS"); err == nil {
				peak = max(peak, kb)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	wg.Wait()
	if ferr != nil || sent != garbage {
		t.Fatalf("flood sent %d of %d: %v", sent, garbage, ferr)
	}
	if len(during) == 0 {
		t.Fatal("no valid message could be sent during the flood")
	}
	// The last valid message may still be in flight: give it a moment.
	deadline := time.Now().Add(deliverTimeout)
	got := 0
	for ; time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = 0
		for _, m := range during {
			got += len(inbox.with(m))
		}
		if got == len(during) {
			break
		}
	}
	t.Logf("valid messages during the flood: %d sent, %d delivered; agent RSS peak %d KiB", len(during), got, peak)
	if got == 0 {
		t.Errorf("none of the %d valid messages sent during the flood arrived", len(during))
	}
	if ok, err := target.Exited(); ok {
		t.Fatalf("the agent died in the flood: %v\n%s", err, target.Output())
	}
	if hwm, err := netnstest.StatusKiB(target.Pid(), "VmHWM"); err != nil || hwm > 256<<10 {
		t.Errorf("agent peak RSS %d KiB (%v), want bounded (< 256 MiB)", hwm, err)
	}
	if n := len(netnstest.Lines(target.Output())) - linesBefore; n > 50 {
		t.Errorf("the agent logged %d lines for the flood, want a few (rate-limited):\n%s", n, netnstest.Tail(target.Output(), 3000))
	}
	// And it still works after the flood.
	mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\valid`, "after the flood")
	inbox.expectOnce("after the flood", "ALPHA", alpha.Addr)
}
