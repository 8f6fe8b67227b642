//go:build linux

package netns

import (
	"testing"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/nbns"
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
	answer := claimName(t, peer, "SAMBASRV", 0x5252, smb.Addr)
	if answer == nil {
		t.Fatal("nmbd did not defend SAMBASRV<00>")
	}
	if answer.Flags != 0xAD86 || answer.Rcode() != nbns.RcodeActive {
		t.Errorf("nmbd's defence has flags %#04x, want 0xAD86 (ACT_ERR)", answer.Flags)
	}
}
