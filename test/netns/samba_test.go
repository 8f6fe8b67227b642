//go:build linux

package netns

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/dgram"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Our agent among real peers: Samba's nmbd and its tools, nbtscan, and a
// raw socket that writes datagrams byte for byte as Windows does.
func TestSambaPeers(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmbd", "nmblookup", "nbtscan", "smbcontrol")
	lab := netnstest.New(t)
	smb, delta, peer := lab.AddHost("smb"), lab.AddHost("delta"), lab.AddHost("peer")
	capture := lab.Capture()
	nmbd := netnstest.StartNmbd(smb, netnstest.NmbdConfig{Name: "SAMBASRV", Workgroup: workgroup})
	startAgent(t, delta, "DELTA")
	if err := nmbd.WaitNames(peer, startTimeout); err != nil {
		t.Fatal(err)
	}
	waitName(t, peer, "DELTA", delta.Addr)

	t.Run("NmblookupResolvesAgent", func(t *testing.T) {
		// From nmbd's side, with nmbd's smb.conf.
		out, err := smb.Run(cmdTimeout, "nmblookup", "-s", nmbd.Conf, "-B", smb.Broadcast.String(), "DELTA")
		if err != nil || !strings.Contains(out, delta.Addr.String()+" DELTA<00>") {
			t.Errorf("nmblookup DELTA: %v\n%s", err, out)
		}
		// Unicast, as a WINS-less client that knows the address asks.
		out, err = smb.Run(cmdTimeout, "nmblookup", "-s", nmbd.Conf, "-U", delta.Addr.String(), "DELTA")
		if err != nil || !strings.Contains(out, delta.Addr.String()+" DELTA<00>") {
			t.Errorf("nmblookup -U DELTA: %v\n%s", err, out)
		}
		// A name the agent does not own: no answer (never a negative
		// answer to a broadcast).
		out, err = smb.Run(cmdTimeout, "nmblookup", "-s", nmbd.Conf, "-B", smb.Broadcast.String(), "NOBODY")
		if err == nil || strings.Contains(out, "NOBODY<00>") {
			t.Errorf("nmblookup NOBODY found something: %v\n%s", err, out)
		}
	})

	t.Run("LookupResolvesNmbd", func(t *testing.T) {
		r := mustMS(t, delta, "lookup", "SAMBASRV")
		if !strings.Contains(r.stdout, smb.Addr.String()) {
			t.Errorf("lookup SAMBASRV does not give %v: %v", smb.Addr, r)
		}
		r = mustMS(t, delta, "lookup", "--json", "SAMBASRV<20>")
		if !strings.Contains(r.stdout, `"`+smb.Addr.String()+`"`) {
			t.Errorf("lookup --json SAMBASRV<20> does not give %v: %v", smb.Addr, r)
		}
		r = ms(delta, "lookup", "NOBODY")
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 || !strings.Contains(strings.ToUpper(r.stderr), "NOBODY") {
			t.Errorf("lookup NOBODY: want exit 1 and one line naming it: %v", r)
		}
	})

	t.Run("NodeStatus", func(t *testing.T) {
		// nmblookup -A and nbtscan list the agent's name table.
		out, err := smb.Run(cmdTimeout, "nmblookup", "-s", nmbd.Conf, "-A", delta.Addr.String())
		if err != nil || !regexp.MustCompile(`DELTA\s+<00> -\s+[BHMP] <ACTIVE>`).MatchString(out) ||
			!regexp.MustCompile(workgroup+`\s+<00> - <GROUP> [BHMP] <ACTIVE>`).MatchString(out) {
			t.Errorf("nmblookup -A %v: %v\n%s", delta.Addr, err, out)
		}
		out, err = peer.Run(cmdTimeout, "nbtscan", "-v", "-s", ":", delta.Addr.String())
		if err != nil || !regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(delta.Addr.String())+`:DELTA\s*:00U`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(delta.Addr.String())+`:`+workgroup+`\s*:00G`).MatchString(out) {
			t.Errorf("nbtscan %v: %v\n%s", delta.Addr, err, out)
		}
		// And our status command reads nmbd's table.
		r := mustMS(t, delta, "status", smb.Addr.String())
		if !strings.Contains(r.stdout, "SAMBASRV") || !strings.Contains(r.stdout, "<20>") {
			t.Errorf("status %v: %v", smb.Addr, r)
		}
	})

	t.Run("WindowsDatagram", func(t *testing.T) {
		inbox := listen(t, delta, `\\.\mailslot\win\inbox`, "--allow-remote")
		c, err := peer.ListenUDP(peer.Addr.String() + ":138")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, style := range []struct {
			name  string
			style smbmail.Style
			from  string
		}{{"windows", smbmail.Windows, "WINPC"}, {"samba", smbmail.Samba, "SMBPEER"}} {
			m := dgram.Message{ID: 0x1234, SourceIP: peer.Addr, Source: netbios.MustNew(style.from, 0),
				Dest: netbios.MustNew("DELTA", 0), Mailslot: `\MAILSLOT\win\inbox`, Data: []byte("from " + style.name)}
			b, err := m.Append(nil, style.style)
			if err != nil {
				t.Fatal(err)
			}
			if style.style == smbmail.Windows {
				checkWindowsBytes(t, b)
			}
			if _, err := c.WriteTo(b, &net.UDPAddr{IP: delta.Addr.AsSlice(), Port: 138}); err != nil {
				t.Fatal(err)
			}
			inbox.expectOnce("from "+style.name, style.from, peer.Addr)
		}
	})

	t.Run("NmbdTakesOurAnnouncement", func(t *testing.T) {
		// The other direction: a Browser HostAnnouncement written through
		// our agent to \\SAMBASRV\mailslot\BROWSE is one nmbd accepts
		// and files in its browse list.
		ann := browser.NewHostAnnouncement("DELTA", 60000, browser.Workstation|browser.Server, "via mailslot agent")
		data, err := ann.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		cmd := delta.Command(ctx, mailslotBin, "send", `\\SAMBASRV\mailslot\BROWSE`, "-")
		cmd.Stdin = bytes.NewReader(data)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("send the announcement: %v %s", err, out)
		}
		browse := filepath.Join(nmbd.Dir, "cache", "browse.dat")
		deadline := time.Now().Add(startTimeout)
		for {
			b, _ := os.ReadFile(browse)
			if m := regexp.MustCompile(`(?m)^"DELTA"\s+\S+\s+"via mailslot agent"`).Find(b); m != nil {
				t.Logf("nmbd's browse.dat: %s", m)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nmbd did not list DELTA within %v; browse.dat:\n%s\nnmbd:\n%s", startTimeout, b, netnstest.Tail(nmbd.Output(), 2000))
			}
			// browse.dat is written at most every 5 s; ask for it now.
			smb.Run(cmdTimeout, "smbcontrol", "-s", nmbd.Conf, "nmbd", "reload-config")
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("AgentDefendsName", func(t *testing.T) {
		answer := claimName(t, peer, "DELTA", 0x5151, delta.Addr)
		if answer == nil {
			t.Fatalf("DELTA's agent did not defend DELTA<00> against a registration from %v", peer.Addr)
		}
		if !answer.Response() || answer.Opcode() != nbns.OpRegistration || answer.Rcode() != nbns.RcodeActive {
			t.Errorf("defence is %+v, want a negative registration response with ACT_ERR (6)", *answer)
		}
		// The agent still owns the name.
		waitName(t, smb, "DELTA", delta.Addr)
	})

	t.Run("GroupNameClaims", func(t *testing.T) {
		// Someone claims the workgroup name: as a unique name both nmbd and
		// the agent (members of the group) refuse it with ACT_ERR; as a
		// group name (joining) neither objects.
		c, err := peer.ListenUDP(peer.Addr.String() + ":137")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i, group := range []bool{false, true} {
			id := uint16(0x6100 + i)
			reg := nbns.Registration(id, netbios.MustNew(workgroup, 0), 300000, nbns.Entry(group, peer.Addr), true)
			b, err := reg.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.WriteTo(b, &net.UDPAddr{IP: peer.Broadcast.AsSlice(), Port: 137}); err != nil {
				t.Fatal(err)
			}
			refused := map[string]bool{}
			deadline := time.Now().Add(2 * time.Second)
			for {
				a, from := readNBNSFrom(t, c, id, "", time.Until(deadline))
				if a == nil {
					break
				}
				refused[from] = a.Rcode() == nbns.RcodeActive
			}
			for _, h := range []*netnstest.Host{smb, delta} {
				if got := refused[h.Addr.String()]; got != !group {
					t.Errorf("claim of %s<00> (group %v): %s refused: %v, want %v (answers %v)", workgroup, group, h, got, !group, refused)
				}
			}
		}
	})

	t.Run("NmbdDefendsName", func(t *testing.T) {
		// An agent started on peer with nmbd's name must not get it.
		impostor := startAgent(t, peer, "SAMBASRV")
		deadline := time.Now().Add(startTimeout)
		for {
			r := ms(peer, "names", "--json")
			if rx := regexp.MustCompile(`(?i)conflict`); rx.MatchString(impostor.Output()) && rx.MatchString(r.stdout) {
				t.Logf("agent reports: %s", firstMatchLine(impostor.Output(), "(?i)conflict"))
				break
			}
			if ok, _ := impostor.Exited(); ok {
				if !regexp.MustCompile(`(?i)conflict`).MatchString(impostor.Output()) {
					t.Fatalf("the agent exited without reporting the conflict:\n%s", impostor.Output())
				}
				t.Logf("agent exited: %s", firstMatchLine(impostor.Output(), "(?i)conflict"))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the agent did not report the conflict on SAMBASRV<00> within %v (names: %v)\n%s", startTimeout, r, impostor.Output())
			}
			time.Sleep(200 * time.Millisecond)
		}
		// SAMBASRV is still nmbd's, and only nmbd answers for it.
		out, err := delta.Run(cmdTimeout, "nmblookup", "-B", delta.Broadcast.String(), "SAMBASRV")
		if err != nil || !strings.Contains(out, smb.Addr.String()+" SAMBASRV<00>") || strings.Contains(out, peer.Addr.String()) {
			t.Errorf("after the conflict SAMBASRV resolves to: %v\n%s", err, out)
		}
		if ok, err := nmbd.Exited(); ok {
			t.Errorf("nmbd exited: %v", err)
		}
		// Stopping the agent that lost the name must not release it:
		// the name is nmbd's.
		if err := impostor.Stop(cmdTimeout); err != nil {
			t.Errorf("agent did not stop cleanly: %v", err)
		}
	})

	t.Run("BesideNmbd", func(t *testing.T) {
		// On the host where nmbd owns 137 and 138 the agent refuses to
		// start, in one clear line, rather than share (and steal) nmbd's
		// traffic (samba-coexistence.md §1).
		a := startAgent(t, smb, "SIDECAR")
		if err := a.Wait(cmdTimeout); err == nil {
			t.Fatalf("the agent started beside nmbd:\n%s", a.Output())
		} else if ok, _ := a.Exited(); !ok {
			t.Fatalf("the agent neither started nor exited: %v", err)
		}
		out := strings.TrimSpace(a.Output())
		t.Logf("agent beside nmbd: %s", out)
		if !regexp.MustCompile(`(?i)nmbd|samba|in use`).MatchString(out) {
			t.Errorf("the agent does not say why it cannot start beside nmbd:\n%s", out)
		}
		if n := len(netnstest.Lines(out)); n > 3 {
			t.Errorf("the agent explains in %d lines, want one:\n%s", n, out)
		}
		// nmbd still answers for its names.
		out, err := peer.Run(cmdTimeout, "nmblookup", "-B", peer.Broadcast.String(), "SAMBASRV")
		if err != nil || !strings.Contains(out, smb.Addr.String()+" SAMBASRV<00>") {
			t.Errorf("after the agent tried to start beside it, nmbd does not answer: %v\n%s", err, out)
		}
	})

	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("Wire", func(t *testing.T) {
		ours := fmt.Sprintf("ip.src in {%s, %s}", delta.Addr, peer.Addr)
		probs, err := netnstest.Problems(capture.File, ours)
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) > 0 {
			t.Errorf("tshark finds malformed packets or expert warnings in our traffic:\n%s", strings.Join(probs, "\n"))
		}
		rows, err := netnstest.Fields(capture.File, fmt.Sprintf(`nbns.flags.opcode == 6 && ip.src == %s && nbns.name matches "^SAMBASRV<00>"`, peer.Addr), "frame.number")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > 0 {
			t.Errorf("the agent that lost SAMBASRV<00> to nmbd released it anyway (frames %q)", rows)
		}
		// Our node status answer, as nbtscan and nmblookup -A got it.
		rows, err = netnstest.Fields(capture.File, fmt.Sprintf(`nbns.flags.response == 1 && nbns.type == 33 && ip.src == %s`, delta.Addr),
			"nbns.flags", "nbns.ttl", "nbns.number_of_names")
		if err != nil {
			t.Fatal(err)
		}
		// DELTA<00>, LABWG<00> and the Messenger's DELTA<03>.
		if len(rows) == 0 || !sameFold(rows[0], []string{"0x8400", "0", "3"}) {
			t.Errorf("node status responses from DELTA: %q, want flags 0x8400, TTL 0, 3 names", rows)
		}
	})
}

// claimName broadcasts a registration of the unique name<00> for from's
// address (from port 137, up to three times, as RFC 1002 §6 retries) and
// returns the answer that comes from defender, or nil.
func claimName(t *testing.T, from *netnstest.Host, name string, id uint16, defender netip.Addr) *nbns.Packet {
	t.Helper()
	c, err := from.ListenUDP(from.Addr.String() + ":137")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := nbns.Registration(id, netbios.MustNew(name, 0), 300000, nbns.Entry(false, from.Addr), true)
	b, err := reg.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	for try := 0; try < 3; try++ {
		if _, err := c.WriteTo(b, &net.UDPAddr{IP: from.Broadcast.AsSlice(), Port: 137}); err != nil {
			t.Fatal(err)
		}
		if a := readNBNS(t, c, id, defender.String(), 2*time.Second); a != nil {
			return a
		}
	}
	return nil
}

// checkWindowsBytes asserts the datagram is framed as reference §11 shows
// for a Windows client, so the test really sends what Windows sends.
func checkWindowsBytes(t *testing.T, b []byte) {
	t.Helper()
	const smb = 82 // 14-byte header + two 34-byte names, no scope
	dataOff := int(binary.LittleEndian.Uint16(b[smb+57:]))
	nameEnd := smb + 69 + len(`\MAILSLOT\win\inbox`) + 1
	switch {
	case b[1] != 0x0E:
		t.Errorf("FLAGS %#x, want 0x0E (h-node, first)", b[1])
	case b[smb+9] != 0x18 || binary.LittleEndian.Uint16(b[smb+10:]) != 0x0004 || binary.LittleEndian.Uint16(b[smb+26:]) != 0xFEFF:
		t.Errorf("SMB Flags/Flags2/PID not Windows': % x", b[smb:smb+32])
	case dataOff%4 != 0 || smb+dataOff <= nameEnd:
		t.Errorf("DataOffset %d: want 4-aligned padding after the name", dataOff)
	}
}

// readNBNS reads name service packets on c until one with this id comes
// from addr, or timeout.
func readNBNS(t *testing.T, c *net.UDPConn, id uint16, addr string, timeout time.Duration) *nbns.Packet {
	p, _ := readNBNSFrom(t, c, id, addr, timeout)
	return p
}

// readNBNSFrom is readNBNS that also says who answered; addr "" takes an
// answer from anyone.
func readNBNSFrom(t *testing.T, c *net.UDPConn, id uint16, addr string, timeout time.Duration) (*nbns.Packet, string) {
	t.Helper()
	buf := make([]byte, 1500)
	deadline := time.Now().Add(timeout)
	for {
		c.SetReadDeadline(deadline)
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return nil, ""
		}
		p, err := nbns.Decode(buf[:n])
		if err != nil || p.ID != id || (addr != "" && from.IP.String() != addr) {
			continue
		}
		return &p, from.IP.String()
	}
}

func firstMatchLine(s, re string) string {
	rx := regexp.MustCompile(re)
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(l) {
			return l
		}
	}
	return ""
}
