//go:build linux

package netns

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// An agent beside Samba's nmbd on the same host ("smb"), with a second
// agent on "peer". The agent's name is one of nmbd's "netbios aliases", so
// nmbd answers for it (unicast too) and hands its datagrams over.
func TestBesideSamba(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmbd", "nmblookup")
	lab := netnstest.New(t)
	smb, peer := lab.AddHost("smb"), lab.AddHost("peer")
	nmbd := netnstest.StartNmbd(smb, netnstest.NmbdConfig{Name: "SAMBASRV", Workgroup: workgroup,
		Extra: []string{"netbios aliases = MSAGENT"}})
	// As /run/samba is: the agent, no longer root, subscribes again after
	// nmbd restarts.
	if err := os.Chmod(nmbd.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	startAgent(t, peer, "PEER")
	if err := nmbd.WaitNames(peer, startTimeout); err != nil {
		t.Fatal(err)
	}
	side := startAgent(t, smb, "MSAGENT", "--samba-conf", nmbd.Conf)
	if _, err := side.WaitOutput(`receiving datagrams through nmbd`, startTimeout); err != nil {
		t.Fatal(err)
	}
	waitName(t, peer, "PEER", peer.Addr)
	inbox := listen(t, smb, `\\.\mailslot\beside\inbox`, "--allow-remote")
	back := listen(t, peer, `\\.\mailslot\beside\back`, "--allow-remote")

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("Mode", func(t *testing.T) {
		tab := waitTable(t, smb, func(tab agentproto.NameTable) bool {
			return nameState(tab, "MSAGENT<00>") == "held by nmbd" && nameState(tab, workgroup+"<00>") == "held by nmbd"
		})
		if tab.Mode != "beside-samba" || tab.Samba == nil || !tab.Samba.Connected {
			t.Errorf("names on the Samba host: mode %q, samba %+v; want beside-samba, connected", tab.Mode, tab.Samba)
		}
		r := mustMS(t, smb, "names")
		if !strings.Contains(r.stdout, "mode beside-samba") {
			t.Errorf("`mailslot names` does not show the mode:\n%s", r.stdout)
		}
		if !regexp.MustCompile(`mode=beside-samba`).MatchString(side.Output()) {
			t.Errorf("the agent's log does not say its mode:\n%s", side.Output())
		}
	})

	step("RemoteWrite", func(t *testing.T) {
		mustMS(t, peer, "send", `\\MSAGENT\mailslot\beside\inbox`, "to the samba host")
		inbox.expectOnce("to the samba host", "PEER", peer.Addr)
	})

	step("Broadcast", func(t *testing.T) {
		// nmbd hands out a subnet broadcast twice (from its 0.0.0.0 and
		// its broadcast socket); the slot gets it once.
		before := table(t, smb).Samba.Duplicates
		mustMS(t, peer, "send", `\\`+workgroup+`\mailslot\beside\inbox`, "to the workgroup")
		inbox.expectOnce("to the workgroup", "PEER", peer.Addr)
		if after := table(t, smb).Samba.Duplicates; after <= before {
			t.Errorf("no duplicate from nmbd was dropped (%d before, %d after): the test did not see nmbd's second copy", before, after)
		}
	})

	step("WriteFromSambaHost", func(t *testing.T) {
		mustMS(t, smb, "send", `\\PEER\mailslot\beside\back`, "from the samba host")
		back.expectOnce("from the samba host", "MSAGENT", smb.Addr)
	})

	step("NmbdStillWorks", func(t *testing.T) {
		for _, q := range [][]string{
			{"-B", peer.Broadcast.String(), "SAMBASRV"},
			{"-U", smb.Addr.String(), "SAMBASRV"}, // unicast: the agent must not take it
			{"-U", smb.Addr.String(), "MSAGENT"},
		} {
			out, err := peer.Run(cmdTimeout, "nmblookup", q...)
			if err != nil || !strings.Contains(out, smb.Addr.String()+" "+q[2]+"<00>") {
				t.Errorf("nmblookup %s: %v\n%s", strings.Join(q, " "), err, out)
			}
		}
		out, err := peer.Run(cmdTimeout, "nmblookup", "-A", smb.Addr.String())
		if err != nil || !regexp.MustCompile(`SAMBASRV\s+<00> -`).MatchString(out) || !regexp.MustCompile(`MSAGENT\s+<00> -`).MatchString(out) {
			t.Errorf("nmblookup -A %v: %v\n%s", smb.Addr, err, out)
		}
	})

	step("NmbdKeepsItsMailslots", func(t *testing.T) {
		// A host announcement to the alias on \MAILSLOT\BROWSE is nmbd's:
		// nmbd still gets it (and keeps it: a documented limit).
		before := table(t, smb).Samba.Frames
		raw := rawSender(t, peer, smb)
		raw.slot = `\MAILSLOT\BROWSE`
		ann, err := browser.NewHostAnnouncement("RAWPEER", 60000, browser.Workstation|browser.Server|browser.NT, "raw peer").Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		raw.send("MSAGENT", string(ann), 0)
		if _, err := nmbd.WaitOutput(`(?i)process_host_announce.*RAWPEER`, deliverTimeout); err != nil {
			t.Error(err)
		}
		mustMS(t, peer, "send", `\\MSAGENT\mailslot\beside\inbox`, "after the announcement")
		inbox.expectOnce("after the announcement", "PEER", peer.Addr)
		if after := table(t, smb).Samba.Frames; after != before+1 {
			t.Errorf("nmbd handed over %d frames for the announcement and one write, want 1 (the write)", after-before)
		}
	})

	step("ForcedOwnerRefuses", func(t *testing.T) {
		// --mode owner binds exclusively: beside nmbd it fails in one
		// line, and takes nothing from nmbd.
		r := ms(smb, "agent", "--mode", "owner", "--name", "OTHER", "--workgroup", workgroup, "--interface", smb.Iface)
		if r.code != 1 || len(netnstest.Lines(strings.TrimSpace(r.stderr))) != 1 || !strings.Contains(r.stderr, "in use") {
			t.Errorf("agent --mode owner beside nmbd: %v", r)
		}
		out, err := peer.Run(cmdTimeout, "nmblookup", "-U", smb.Addr.String(), "SAMBASRV")
		if err != nil || !strings.Contains(out, smb.Addr.String()+" SAMBASRV<00>") {
			t.Errorf("nmblookup -U SAMBASRV after: %v\n%s", err, out)
		}
	})

	step("NmbdRestart", func(t *testing.T) {
		nmbd.Restart()
		resendUntil(t, inbox, func(i int) string {
			msg := fmt.Sprintf("after restart %d", i)
			ms(peer, "send", `\\MSAGENT\mailslot\beside\inbox`, msg)
			return msg
		})
		if !strings.Contains(side.Output(), "subscribing again") {
			t.Errorf("the agent did not notice the restart:\n%s", side.Output())
		}
		if ok, _ := side.Exited(); ok {
			t.Fatalf("the agent exited:\n%s", side.Output())
		}
	})
}

// nmbd starts after the agent, which owns the ports until then (shared, so
// nmbd can bind them), then moves beside nmbd, and back when nmbd stops.
// The agent's name is not nmbd's: the agent answers broadcast queries for
// it itself.
func TestBesideSambaLate(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmbd", "nmblookup")
	lab := netnstest.New(t)
	smb, peer := lab.AddHost("smb"), lab.AddHost("peer")
	// Searchable by everyone, as /run/samba is: the agent subscribes after
	// dropping root.
	dir, err := os.MkdirTemp("", "msnt-late-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sockDir := filepath.Join(dir, "nmbd") // nmbd creates it, 0755, as Samba wants
	side := startAgent(t, smb, "AGENTX", "--samba-socket", filepath.Join(sockDir, "unexpected"))
	waitName(t, peer, "AGENTX", smb.Addr)
	inbox := listen(t, smb, `\\.\mailslot\late\inbox`, "--allow-remote")
	if tab := table(t, smb); tab.Mode != "owner" {
		t.Fatalf("without nmbd the mode is %q, want owner", tab.Mode)
	}
	raw := rawSender(t, peer, smb)
	raw.send("AGENTX", "owner mode", 0)
	inbox.waitFor("owner mode")

	nmbd := netnstest.StartNmbd(smb, netnstest.NmbdConfig{Name: "SAMBA2", Workgroup: workgroup,
		Extra: []string{"nmbd:socket dir = " + sockDir}})
	if err := nmbd.WaitNames(peer, startTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := side.WaitOutput(`network mode beside-samba`, startTimeout); err != nil {
		t.Fatal(err)
	}
	t.Run("NmbdWorks", func(t *testing.T) {
		out, err := peer.Run(cmdTimeout, "nmblookup", "-U", smb.Addr.String(), "SAMBA2")
		if err != nil || !strings.Contains(out, smb.Addr.String()+" SAMBA2<00>") {
			t.Errorf("nmblookup -U SAMBA2: %v\n%s", err, out)
		}
		out, err = peer.Run(cmdTimeout, "nmblookup", "-A", smb.Addr.String())
		if err != nil || !regexp.MustCompile(`SAMBA2\s+<00> -`).MatchString(out) {
			t.Errorf("nmblookup -A %v: %v\n%s", smb.Addr, err, out)
		}
	})
	t.Run("AgentResolvable", func(t *testing.T) {
		// The agent's broadcast responder answers beside nmbd.
		waitName(t, peer, "AGENTX", smb.Addr)
		if st := nameState(table(t, smb), "AGENTX<00>"); st != "active" {
			t.Errorf("AGENTX<00> is %q beside nmbd, want active (answered by the agent)", st)
		}
	})
	t.Run("ThroughNmbd", func(t *testing.T) {
		before := table(t, smb).Samba
		raw.send("AGENTX", "through nmbd", 0)
		inbox.waitFor("through nmbd")
		if after := table(t, smb).Samba; after.Frames <= before.Frames {
			t.Errorf("the datagram did not come through nmbd: %+v then %+v", before, after)
		}
	})
	t.Run("Cut", func(t *testing.T) {
		// A datagram of 700 bytes reaches the agent cut to 576 by nmbd:
		// it is dropped and counted, never delivered short.
		before := table(t, smb).Samba.Cut
		raw.send("AGENTX", "too long", 700)
		raw.send("AGENTX", "after the long one", 0)
		inbox.waitFor("after the long one")
		for _, m := range inbox.messages() {
			if strings.HasPrefix(m.payload(), "too long") {
				t.Errorf("a cut datagram was delivered (%d bytes)", m.Size)
			}
		}
		if after := table(t, smb).Samba.Cut; after != before+1 {
			t.Errorf("cut datagrams counted: %d then %d, want one more", before, after)
		}
	})
	t.Run("NmbdStops", func(t *testing.T) {
		nmbd.Stop(10 * time.Second)
		if _, err := side.WaitOutput(`network mode owner`, startTimeout); err != nil {
			t.Fatal(err)
		}
		resendUntil(t, inbox, func(i int) string {
			msg := fmt.Sprintf("owner again %d", i)
			raw.send("AGENTX", msg, 0)
			return msg
		})
	})
}

// table is the agent's `mailslot names --json` in h.
func table(t *testing.T, h *netnstest.Host) agentproto.NameTable {
	t.Helper()
	var tab agentproto.NameTable
	r := mustMS(t, h, "names", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &tab); err != nil {
		t.Fatalf("names --json: %v\n%s", err, r.stdout)
	}
	if tab.Samba == nil {
		tab.Samba = &agentproto.SambaInfo{}
	}
	return tab
}

// waitTable waits until the agent's name table satisfies ok.
func waitTable(t *testing.T, h *netnstest.Host, ok func(agentproto.NameTable) bool) agentproto.NameTable {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		tab := table(t, h)
		if ok(tab) {
			return tab
		}
		if time.Now().After(deadline) {
			t.Fatalf("name table on %s is still %+v after %v", h, tab, startTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func nameState(tab agentproto.NameTable, name string) string {
	for _, e := range tab.Names {
		if e.Name == name {
			return e.State
		}
	}
	return ""
}

// resendUntil sends a new message once a second (send(i) returns it) until
// one arrives: the way to wait for delivery to resume after a restart,
// during which datagrams are lost (mailslots are unreliable).
func resendUntil(t *testing.T, l *listener, send func(i int) string) {
	t.Helper()
	deadline := time.Now().Add(2 * deliverTimeout)
	var sent []string
	for i := 0; ; i++ {
		sent = append(sent, send(i))
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			for _, m := range sent {
				if len(l.with(m)) > 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: none of %d messages arrived within %v:\n%s", l.Name(), len(sent), 2*deliverTimeout, l.Output())
		}
	}
}

// rawPeer writes mailslot datagrams to a host from an ephemeral port, as a
// program other than an agent (and than nmbd) does.
type rawPeer struct {
	t        *testing.T
	c        *net.UDPConn
	from, to *netnstest.Host
	id       uint16
	slot     string // `\MAILSLOT\late\inbox` unless set
}

func rawSender(t *testing.T, from, to *netnstest.Host) *rawPeer {
	c, err := from.ListenUDP(from.Addr.String() + ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, c: c, from: from, to: to, slot: `\MAILSLOT\late\inbox`}
}

// send writes data (padded with dots to size bytes of datagram when size
// is larger) to mailslot r.slot of dest<00>.
func (r *rawPeer) send(dest, data string, size int) {
	r.t.Helper()
	r.id++
	m := dgram.Message{ID: r.id, SourceIP: r.from.Addr, Source: netbios.MustNew("RAWPEER", 0),
		Dest: netbios.MustNew(dest, 0), Mailslot: r.slot, Data: []byte(data)}
	b, err := m.Append(nil, smbmail.Samba)
	if err != nil {
		r.t.Fatal(err)
	}
	if size > len(b) {
		b = grow(b, size-len(b))
	}
	if _, err := r.c.WriteTo(b, &net.UDPAddr{IP: r.to.Addr.AsSlice(), Port: 138}); err != nil {
		r.t.Fatal(err)
	}
}

// grow appends n bytes of data to a mailslot write built by dgram (no
// scope, Samba framing) and fixes its counts: a write longer than our
// encoder allows (443 bytes of name and data), as a sender that ignores
// the limit sends it.
func grow(b []byte, n int) []byte {
	const smb = 82 // 14-byte header + two 34-byte names
	b = append(b, strings.Repeat(".", n)...)
	le := binary.LittleEndian
	for _, off := range []int{smb + 33 + 2, smb + 33 + 22} { // TotalDataCount, DataCount
		le.PutUint16(b[off:], le.Uint16(b[off:])+uint16(n))
	}
	le.PutUint16(b[smb+67:], le.Uint16(b[smb+67:])+uint16(n)) // ByteCount
	binary.BigEndian.PutUint16(b[10:], uint16(len(b)-14))     // DGM_LENGTH
	return b
}
