//go:build linux

package netns

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// Browser elections against nmbd: with a lower os level nmbd stays the
// local master browser and lists us; with a higher one we win, own
// WG<1d>, and nmbd is in our browse list.
func TestBrowserElectionWithNmbd(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmbd", "nmblookup", "smbcontrol", "tshark")
	for _, tc := range []struct {
		name          string
		ours, nmbds   int
		preferredNmbd string
		weWin         bool
	}{
		{"LowerOSLevel", 20, 65, "yes", false},
		{"HigherOSLevel", 200, 20, "no", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lab := netnstest.New(t)
			smb, alpha, peer := lab.AddHost("smb"), lab.AddHost("alpha"), lab.AddHost("peer")
			capture := lab.Capture()
			nmbd := netnstest.StartNmbd(smb, netnstest.NmbdConfig{Name: "SAMBASRV", Workgroup: workgroup,
				Extra: []string{"local master = yes", "preferred master = " + tc.preferredNmbd, fmt.Sprintf("os level = %d", tc.nmbds),
					"server string = test nmbd"}})
			startAgent(t, alpha, "ALPHA", "--browser", "--os-level", fmt.Sprint(tc.ours), "--comment", "go browser",
				"--browse-test-time-scale", browseScale)
			if err := nmbd.WaitNames(peer, startTimeout); err != nil {
				t.Fatal(err)
			}
			master, masterAddr := "SAMBASRV", smb.Addr
			if tc.weWin {
				master, masterAddr = "ALPHA", alpha.Addr
			}
			// Who answers for WG<1d> on the wire.
			deadline := time.Now().Add(90 * time.Second)
			for {
				out, err := peer.Run(cmdTimeout, "nmblookup", "-B", peer.Broadcast.String(), workgroup+"#1d")
				if err == nil && strings.Contains(out, masterAddr.String()+" "+workgroup+"<1d>") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s<1d> not held by %s: %v\n%s\nnmbd:\n%s", workgroup, master, err, out, netnstest.Tail(nmbd.Output(), 3000))
				}
				time.Sleep(time.Second)
			}
			// Our browse list names the master and lists the other host.
			other := "SAMBASRV"
			l := waitBrowse(t, alpha, master+" as master and "+other+" listed", 90*time.Second, func(l []browseEntry) bool {
				_, ok := hasHost(l, other)
				return ok && strings.Contains(mustMS(t, alpha, "browse").stdout, "master browser of "+workgroup+": "+master)
			})
			if e, _ := hasHost(l, other); e.Master != !tc.weWin {
				t.Errorf("%+v", e)
			}
			if !tc.weWin {
				// nmbd lists us, a potential browser, in its browse.dat.
				waitBrowseDat(t, nmbd, `(?m)^"ALPHA"\s+40011803\s+"go browser"`, 60*time.Second)
			}
			if err := capture.Stop(); err != nil {
				t.Fatal(err)
			}
			rows, err := netnstest.Fields(capture.File, fmt.Sprintf(`browser.command == 0x08 && ip.src == %s`, alpha.Addr), "browser.election.os")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) == 0 {
				t.Error("no RequestElection from ALPHA in the capture")
			}
			probs, err := netnstest.Problems(capture.File, "browser")
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) > 0 {
				t.Errorf("tshark flags browser frames:\n%s", strings.Join(probs, "\n"))
			}
		})
	}
}
