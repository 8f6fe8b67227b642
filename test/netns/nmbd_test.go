//go:build linux

package netns

import (
	"net"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// The raw registration the agent tests use is one nmbd takes for real: nmbd
// defends its name against it with ACT_ERR. This checks the test tool (and
// the nbns codec) against the real peer, independently of our agent.
func TestNmbdDefendsAgainstRawRegistration(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmbd", "nmblookup")
	lab := netnstest.New(t)
	smb, peer := lab.AddHost("smb"), lab.AddHost("peer")
	nmbd := netnstest.StartNmbd(smb, netnstest.NmbdConfig{Name: "SAMBASRV", Workgroup: workgroup})
	if err := nmbd.WaitNames(peer, startTimeout); err != nil {
		t.Fatal(err)
	}
	c, err := peer.ListenUDP(peer.Addr.String() + ":137")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := nbns.Registration(0x5252, netbios.MustNew("SAMBASRV", 0), 300000, nbns.Entry(false, peer.Addr), true)
	b, err := reg.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	var answer *nbns.Packet
	for try := 0; try < 3 && answer == nil; try++ {
		if _, err := c.WriteTo(b, &net.UDPAddr{IP: peer.Broadcast.AsSlice(), Port: 137}); err != nil {
			t.Fatal(err)
		}
		answer = readNBNS(t, c, 0x5252, smb.Addr.String(), 2*time.Second)
	}
	if answer == nil {
		t.Fatal("nmbd did not defend SAMBASRV<00>")
	}
	if answer.Flags != 0xAD86 || answer.Rcode() != nbns.RcodeActive {
		t.Errorf("nmbd's defence has flags %#04x, want 0xAD86 (ACT_ERR)", answer.Flags)
	}
}
