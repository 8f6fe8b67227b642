package netnstest

import (
	"strings"
	"testing"
	"time"
)

// The nmbd recipe works in the lab: nmbd registers its names and answers
// broadcast queries and node status from another host.
func TestNmbdRecipe(t *testing.T) {
	Tool(t, "nmbd", "nmblookup", "nbtscan")
	l := New(t)
	smb, peer := l.AddHost("smb"), l.AddHost("peer")
	n := StartNmbd(smb, NmbdConfig{Name: "SAMBASRV", Workgroup: "TESTGRP"})
	if err := n.WaitNames(peer, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	out, err := peer.Run(10*time.Second, "nmblookup", "-B", peer.Broadcast.String(), "SAMBASRV")
	if err != nil || !strings.Contains(out, smb.Addr.String()+" SAMBASRV<00>") {
		t.Errorf("broadcast nmblookup: %v\n%s", err, out)
	}
	out, err = peer.Run(10*time.Second, "nmblookup", "-A", smb.Addr.String())
	if err != nil || !strings.Contains(out, "SAMBASRV        <20>") || !strings.Contains(out, "TESTGRP         <00> - <GROUP>") {
		t.Errorf("nmblookup -A: %v\n%s", err, out)
	}
	out, err = peer.Run(10*time.Second, "nbtscan", "-v", "-s", ":", smb.Addr.String())
	if err != nil || !strings.Contains(out, "SAMBASRV") {
		t.Errorf("nbtscan: %v\n%s", err, out)
	}
}
