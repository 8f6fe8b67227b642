//go:build linux

package netns

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/internal/netnstest"
)

// Two agents started together with the same name: both are still
// registering when each hears the other, so without the tie-break
// (docs/semantics.md) both kept it. Exactly one must own it, the other
// report the conflict. The higher address starts first, so that if the
// machine is so loaded that the two rounds do not overlap, the first one
// wins by ordinary defence and the test still holds.
func TestSimultaneousAgentsOneOwner(t *testing.T) {
	t.Parallel()
	lab := netnstest.New(t)
	lo, hi := lab.AddHost("twinlo"), lab.AddHost("twinhi")
	a := startAgent(t, hi, "TWIN")
	b := startAgent(t, lo, "TWIN")
	// The agents' sockets may not exist yet: poll until both answer and
	// neither is still registering.
	state := func(h *netnstest.Host) string {
		r := ms(h, "names", "--json")
		var tab agentproto.NameTable
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tab) != nil {
			return ""
		}
		return nameState(tab, "TWIN<00>")
	}
	deadline := time.Now().Add(startTimeout)
	for {
		slo, shi := state(lo), state(hi)
		if slo != "" && shi != "" && slo != names.Registering.String() && shi != names.Registering.String() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TWIN<00> still %q on %v and %q on %v after %v", slo, lo.Addr, shi, hi.Addr, startTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A refusal may still come within names.LateRefusal.
	time.Sleep(names.LateRefusal + time.Second)
	slo, shi := state(lo), state(hi)
	t.Logf("TWIN<00>: %s on %v, %s on %v", slo, lo.Addr, shi, hi.Addr)
	active, conflict := names.Active.String(), names.Conflict.String()
	if !(slo == active && shi == conflict) && !(slo == conflict && shi == active) {
		t.Fatalf("want one owner and one conflict, got %s on %v and %s on %v\n%s\n%s",
			slo, lo.Addr, shi, hi.Addr, netnstest.Tail(b.Output(), 1500), netnstest.Tail(a.Output(), 1500))
	}
}
