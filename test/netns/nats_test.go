//go:build linux

package netns

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/wire/dgram"
)

// natsLab is two subnets with no route between them (s1, s2) and a backbone
// (bb) that carries only NATS: every agent serves its LAN interface (eth0)
// and reaches the NATS server over eth1.
type natsLab struct {
	lab        *netnstest.Lab
	s1, s2, bb *netnstest.Segment
}

func newNATSLab(t *testing.T) *natsLab {
	lab := netnstest.New(t)
	return &natsLab{lab: lab,
		s1: lab.AddSegment("s1", netip.MustParsePrefix("192.0.2.0/24")),
		s2: lab.AddSegment("s2", netip.MustParsePrefix("198.51.100.0/24")),
		bb: lab.AddSegment("bb", netip.MustParsePrefix("203.0.113.0/24"))}
}

// waitLinked waits until each agent's link is up, knows the others and
// has settled (may act as its subnet's gateway).
func waitLinked(t *testing.T, hosts ...*netnstest.Host) {
	t.Helper()
	for _, h := range hosts {
		deadline := time.Now().Add(startTimeout)
		for {
			m := agentCounters(t, h)
			if m["mailslot_agent_nats_connected"] == 1 && m["mailslot_agent_nats_settled"] == 1 &&
				int(m["mailslot_agent_nats_agents"]) == len(hosts)-1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: link not ready within %v: connected %v settled %v agents %v", h, startTimeout,
					m["mailslot_agent_nats_connected"], m["mailslot_agent_nats_settled"], m["mailslot_agent_nats_agents"])
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// sniffer is a host without an agent that reads the mailslot writes
// broadcast on its LAN from UDP 138, as Windows or nmbd would.
type sniffer struct {
	c    *net.UDPConn
	mu   sync.Mutex
	got  []dgram.Message
	done chan struct{}
}

func sniff(t *testing.T, h *netnstest.Host) *sniffer {
	t.Helper()
	c, err := h.ListenUDP(":138")
	if err != nil {
		t.Fatal(err)
	}
	s := &sniffer{c: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p, w, err := dgram.Parse(buf[:n])
			if err != nil {
				continue
			}
			s.mu.Lock()
			s.got = append(s.got, dgram.Message{Source: p.SourceName, Dest: p.DestName, Mailslot: w.Name, Data: append([]byte(nil), w.Data...)})
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close(); <-s.done })
	return s
}

// count returns how many writes to mailslot (case-insensitive) with data
// containing text (any data when empty) from source arrived.
func (s *sniffer) count(mailslot, source, text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.got {
		if strings.EqualFold(m.Mailslot, mailslot) && (source == "" || m.Source.Base() == source) &&
			strings.Contains(string(m.Data), text) {
			n++
		}
	}
	return n
}

// waitCount waits until at least one such write arrived, leaves duplicates
// a moment to show up, and returns the count.
func (s *sniffer) waitCount(t *testing.T, mailslot, source, text string, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for s.count(mailslot, source, text) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no write to %s from %q with %q within %v", mailslot, source, text, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(quietPeriod)
	return s.count(mailslot, source, text)
}

// Two subnets linked by the nats-server embedded in agent A1: broadcasts
// reach every agent host once and the host without an agent through the
// gateway's rebroadcast, unique writes cross, and nmbd's host announcement
// on subnet 1 reaches subnet 2.
func TestNATSEmbeddedServer(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmblookup", "nmbd")
	n := newNATSLab(t)
	a1, a2 := n.s1.AddHost("a1", n.bb), n.s1.AddHost("a2", n.bb)
	b1 := n.s2.AddHost("b1", n.bb)
	w2 := n.s2.AddHost("w2") // no agent
	n1 := n.s1.AddHost("n1") // nmbd
	hub := n.bb.Addr(a1).String() + ":4222"
	startAgent(t, a1, "A1", "--metrics", metricsAddr, "--nats-listen", hub)
	startAgent(t, a2, "A2", "--metrics", metricsAddr, "--nats", "nats://"+hub)
	startAgent(t, b1, "B1", "--metrics", metricsAddr, "--nats", "nats://"+hub)
	waitName(t, a2, "A1", a1.Addr)
	waitName(t, a1, "A2", a2.Addr)
	waitName(t, w2, "B1", b1.Addr)
	waitLinked(t, a1, a2, b1)
	sn := sniff(t, w2)
	allA1 := listen(t, a1, `\\.\mailslot\lab\all`, "--allow-remote")
	allA2 := listen(t, a2, `\\.\mailslot\lab\all`, "--allow-remote")
	allB1 := listen(t, b1, `\\.\mailslot\lab\all`, "--allow-remote")

	t.Run("BroadcastEveryHostOnce", func(t *testing.T) {
		mustMS(t, a2, "send", `\\*\mailslot\lab\all`, "from subnet 1")
		for _, l := range []*listener{allA1, allA2, allB1} {
			l.expectOnce("from subnet 1", "A2", a2.Addr)
		}
		if c := sn.waitCount(t, `\MAILSLOT\LAB\ALL`, "A2", "from subnet 1", deliverTimeout); c != 1 {
			t.Errorf("the host without an agent on subnet 2 got %d copies, want 1", c)
		}
		mustMS(t, b1, "send", `\\LABWG\mailslot\lab\all`, "from subnet 2")
		for _, l := range []*listener{allA1, allA2, allB1} {
			l.expectOnce("from subnet 2", "B1", b1.Addr)
		}
	})

	t.Run("UniqueAcrossSubnets", func(t *testing.T) {
		inbox := listen(t, b1, `\\.\mailslot\lab\inbox`, "--allow-remote")
		mustMS(t, a1, "send", `\\B1\mailslot\lab\inbox`, "hello over nats")
		inbox.expectOnce("hello over nats", "A1", a1.Addr)
	})

	t.Run("NmbdAnnouncementReachesSubnet2", func(t *testing.T) {
		// nmbd announces itself to LABWG<1d> on \MAILSLOT\BROWSE when it
		// starts; A1 or A2, the gateway of subnet 1, bridges it, and B1
		// rebroadcasts it on subnet 2.
		netnstest.StartNmbd(n1, netnstest.NmbdConfig{Name: "NMBD1", Workgroup: workgroup})
		if c := sn.waitCount(t, `\MAILSLOT\BROWSE`, "NMBD1", "", startTimeout); c < 1 {
			t.Fatalf("no announcement")
		}
		var bridged float64
		for _, h := range []*netnstest.Host{a1, a2} {
			bridged += agentCounters(t, h)["mailslot_agent_nats_bridged_total"]
		}
		if bridged < 1 {
			t.Errorf("no agent of subnet 1 counted a bridged write")
		}
	})
}

var (
	natsdOnce sync.Once
	natsdBin  string
	natsdErr  error
)

// natsServer builds the nats-server command from the Go module (the
// version in go.mod) next to the mailslot binary, once.
func natsServer(t *testing.T) string {
	t.Helper()
	natsdOnce.Do(func() {
		natsdBin = filepath.Join(filepath.Dir(mailslotBin), "nats-server")
		out, err := exec.Command(goTool(), "build", "-o", natsdBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsdErr = errors.New("building nats-server: " + err.Error() + "\n" + string(out))
		}
	})
	if natsdErr != nil {
		t.Fatal(natsdErr)
	}
	return natsdBin
}

// A separate nats-server process links two subnets; killing it leaves the
// LAN working, and the link comes back when the server does.
func TestNATSServerProcess(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmblookup")
	bin := natsServer(t)
	n := newNATSLab(t)
	hub := n.bb.AddHost("hub")
	a1, a2 := n.s1.AddHost("a1", n.bb), n.s1.AddHost("a2", n.bb)
	b1 := n.s2.AddHost("b1", n.bb)
	url := "nats://" + hub.Addr.String() + ":4222"
	serverArgs := []string{"-a", hub.Addr.String(), "-p", "4222"}
	srv := hub.Start(bin, serverArgs...)
	if _, err := srv.WaitOutput(`Server is ready`, startTimeout); err != nil {
		t.Fatal(err)
	}
	agA1 := startAgent(t, a1, "A1", "--metrics", metricsAddr, "--nats", url)
	startAgent(t, a2, "A2", "--metrics", metricsAddr)
	startAgent(t, b1, "B1", "--metrics", metricsAddr, "--nats", url)
	waitName(t, a1, "A2", a2.Addr)
	waitLinked(t, a1, b1)
	allA2 := listen(t, a2, `\\.\mailslot\lab\all`, "--allow-remote")
	allB1 := listen(t, b1, `\\.\mailslot\lab\all`, "--allow-remote")

	mustMS(t, a1, "send", `\\*\mailslot\lab\all`, "linked")
	allA2.expectOnce("linked", "A1", a1.Addr)
	allB1.expectOnce("linked", "A1", a1.Addr)
	// A2 runs no link: its own broadcast reaches B1 through A1, the gateway.
	mustMS(t, a2, "send", `\\*\mailslot\lab\all`, "from a LAN-only agent")
	allB1.expectOnce("from a LAN-only agent", "A2", a2.Addr)

	if err := srv.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.Wait(cmdTimeout)
	if _, err := agA1.WaitOutput(`NATS link down`, startTimeout); err != nil {
		t.Fatal(err)
	}
	// The LAN does not depend on NATS.
	mustMS(t, a1, "send", `\\*\mailslot\lab\all`, "nats is down")
	allA2.expectOnce("nats is down", "A1", a1.Addr)
	allB1.expectNone("nats is down")

	srv = hub.Start(bin, serverArgs...)
	if _, err := srv.WaitOutput(`Server is ready`, startTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := agA1.WaitOutput(`NATS link up.*reconnect=true`, startTimeout); err != nil {
		t.Fatal(err)
	}
	waitLinked(t, a1, b1)
	m := agentCounters(t, a1)
	if m["mailslot_agent_nats_reconnects_total"] < 1 || m["mailslot_agent_nats_disconnects_total"] < 1 {
		t.Errorf("reconnects %v, disconnects %v", m["mailslot_agent_nats_reconnects_total"], m["mailslot_agent_nats_disconnects_total"])
	}
	mustMS(t, a1, "send", `\\*\mailslot\lab\all`, "nats is back")
	allB1.expectOnce("nats is back", "A1", a1.Addr)
}
