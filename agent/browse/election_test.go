//go:build linux

package browse

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/netbios"
)

func owns(n *node, name netbios.Name) bool {
	for _, e := range n.a.Names().Table() {
		if e.Name == name && e.State == names.Active {
			return true
		}
	}
	return false
}

// The higher os level wins the election and becomes the local master
// browser (WG<1d>, __MSBROWSE__<01>); when it stops, the other takes over.
func TestElectionAndHandover(t *testing.T) {
	levels := map[string]uint8{"ALPHA": 20, "BRAVO": 40, "CHARLIE": 0}
	lanWith(t, []string{"ALPHA", "BRAVO", "CHARLIE"}, func(name string) Config {
		return Config{NoSocket: true, Browser: levels[name] > 0, OSLevel: levels[name], Comment: name}
	}, func(_ *memnet.Network, ns map[string]*node) {
		time.Sleep(70 * time.Second) // past the election (15 s) and the backup list request at 60 s
		wg1d := netbios.MustNew("TESTGRP", netbios.MasterBrowser)
		if !owns(ns["BRAVO"], wg1d) || !owns(ns["BRAVO"], netbios.MSBrowse) || owns(ns["ALPHA"], wg1d) {
			t.Errorf("BRAVO (os level 40) should be the master: BRAVO %v, ALPHA %v", ns["BRAVO"].a.Names().Table(), ns["ALPHA"].a.Names().Table())
		}
		for _, n := range []string{"ALPHA", "CHARLIE"} {
			if _, m := ns[n].s.Entries(); m["TESTGRP"] != "BRAVO" {
				t.Errorf("%s: masters %v", n, m)
			}
		}
		if e, ok := find(ns["CHARLIE"].s, KindHost, "BRAVO"); !ok || !e.Master {
			t.Errorf("CHARLIE's entry for BRAVO: %+v", e)
		}
		// BRAVO, as master, answers CHARLIE's backup list request.
		if ns["CHARLIE"].s.C.BackupLists.Load() == 0 {
			t.Error("CHARLIE got no backup list from the master")
		}
		// BRAVO stops: its last LocalMasterAnnouncement (type 0) starts an
		// election that ALPHA wins.
		ns["BRAVO"].stop()
		delete(ns, "BRAVO")
		time.Sleep(time.Minute)
		if !owns(ns["ALPHA"], wg1d) {
			t.Errorf("ALPHA did not take over: %v", ns["ALPHA"].a.Names().Table())
		}
		if _, m := ns["CHARLIE"].s.Entries(); m["TESTGRP"] != "ALPHA" {
			t.Errorf("CHARLIE: masters %v", m)
		}
		// A better browser's RequestElection (nmbd with os level 65)
		// makes the master hand over: it releases WG<1d>.
		req := &browser.RequestElection{Version: 1, Criteria: 65<<24 | 0x00010F08, Uptime: 1000, ServerName: "SAMBASRV"}
		b, _ := req.Append(nil)
		ns["ALPHA"].s.HandleMailslot(&agent.Inbound{Source: netbios.MustNew("SAMBASRV", 0), Src: netip.MustParseAddrPort("192.0.2.10:138"),
			Dest: netbios.MustNew("TESTGRP", netbios.BrowserElect), Group: true, Path: Path, Data: b})
		time.Sleep(5 * time.Second)
		if owns(ns["ALPHA"], wg1d) || ns["ALPHA"].s.role.state.Load() != stateIdle {
			t.Errorf("ALPHA still master after losing: %v", ns["ALPHA"].a.Names().Table())
		}
	})
}
