//go:build linux

package netns

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

// Three hosts, each with its own `mailslot agent` process, and a fourth with
// only tools. One lab serves every step; the steps run in order because each
// builds on the state the previous one left (listeners, restarted agents),
// and the capture of the whole run is checked at the end.
func TestAgents(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "nmblookup", "tshark", "dumpcap")
	lab := netnstest.New(t)
	alpha, bravo, charlie, peer := lab.AddHost("alpha"), lab.AddHost("bravo"), lab.AddHost("charlie"), lab.AddHost("peer")
	capture := lab.Capture()
	agents := map[string]*agent{
		"ALPHA":   startAgent(t, alpha, "ALPHA", "--metrics", metricsAddr),
		"BRAVO":   startAgent(t, bravo, "BRAVO", "--metrics", metricsAddr),
		"CHARLIE": startAgent(t, charlie, "CHARLIE", "--metrics", metricsAddr),
	}
	waitName(t, peer, "ALPHA", alpha.Addr)
	waitName(t, peer, "BRAVO", bravo.Addr)
	waitName(t, peer, "CHARLIE", charlie.Addr)

	inbox := listen(t, bravo, `\\.\mailslot\lab\inbox`, "--allow-remote")
	allB := listen(t, bravo, `\\.\mailslot\lab\all`, "--allow-remote")
	allC := listen(t, charlie, `\\.\mailslot\lab\all`, "--allow-remote")

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // later steps depend on this one
		}
	}

	step("RemoteWrite", func(t *testing.T) {
		mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\inbox`, "hello bravo")
		inbox.expectOnce("hello bravo", "ALPHA", alpha.Addr)
		// Host and mailslot names are case-insensitive, as on Windows.
		mustMS(t, alpha, "send", `\\bravo\MailSlot\LAB\Inbox`, "hello again")
		inbox.expectOnce("hello again", "ALPHA", alpha.Addr)
	})

	step("Broadcast", func(t *testing.T) {
		mustMS(t, alpha, "send", `\\*\mailslot\lab\all`, "to everyone")
		allB.expectOnce("to everyone", "ALPHA", alpha.Addr)
		allC.expectOnce("to everyone", "ALPHA", alpha.Addr)
		mustMS(t, alpha, "send", `\\`+workgroup+`\mailslot\lab\all`, "to the workgroup")
		allB.expectOnce("to the workgroup", "ALPHA", alpha.Addr)
		allC.expectOnce("to the workgroup", "ALPHA", alpha.Addr)
		if got := inbox.with("to everyone"); len(got) > 0 {
			t.Errorf("a broadcast to lab\\all reached lab\\inbox")
		}
	})

	step("NoAllowRemote", func(t *testing.T) {
		private := listen(t, bravo, `\\.\mailslot\lab\private`)
		before := agentCounters(t, bravo)
		mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\private`, "not for you")
		// The agent is alive and delivering: a message sent after the
		// refused one reaches a slot that opted in.
		mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\inbox`, "after the refused one")
		inbox.expectOnce("after the refused one", "ALPHA", alpha.Addr)
		private.expectNone("not for you")
		after := agentCounters(t, bravo)
		if k := increased(before, after, `(?i)no_slot|not_allowed|no_remote`); k == "" {
			t.Errorf("no drop counter of BRAVO's agent went up for the refused delivery\nbefore: %v\nafter:  %v", before, after)
		} else {
			t.Logf("drop counted in %s", k)
		}
	})

	step("RemoteNet", func(t *testing.T) {
		// A slot narrowed to charlie's address takes charlie's writes only.
		narrow := listen(t, bravo, `\\.\mailslot\lab\narrow`, "--allow-remote", "--remote-net", charlie.Addr.String()+"/32")
		mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\narrow`, "from alpha")
		mustMS(t, charlie, "send", `\\BRAVO\mailslot\lab\narrow`, "from charlie")
		narrow.expectOnce("from charlie", "CHARLIE", charlie.Addr)
		narrow.expectNone("from alpha")
	})

	step("OtherWorkgroup", func(t *testing.T) {
		// \\OTHERWG\mailslot\x reaches the hosts of OTHERWG only.
		startAgent(t, peer, "OUTSIDER", "--metrics", metricsAddr, "--workgroup", "OTHERWG")
		waitName(t, alpha, "OUTSIDER", peer.Addr)
		other := listen(t, peer, `\\.\mailslot\lab\wg`, "--allow-remote")
		mine := listen(t, bravo, `\\.\mailslot\lab\wg`, "--allow-remote")
		mustMS(t, alpha, "send", `\\OTHERWG\mailslot\lab\wg`, "to the other workgroup")
		other.expectOnce("to the other workgroup", "ALPHA", alpha.Addr)
		mine.expectNone("to the other workgroup")
	})

	step("SizeLimits", func(t *testing.T) {
		// One host: the largest write of \MAILSLOT\lab\inbox in Windows
		// framing (SMB <= 512 bytes: 420 bytes of data) arrives whole; one
		// byte more fails at once. Broadcast: 424 bytes, not 425
		// (MS-MAIL <2>; ERROR_BAD_NETPATH as on Windows).
		for _, c := range []struct {
			to    string
			size  int
			l     *listener
			fails bool
		}{
			{`\\BRAVO\mailslot\lab\inbox`, 420, inbox, false},
			{`\\BRAVO\mailslot\lab\inbox`, 421, inbox, true},
			{`\\*\mailslot\lab\all`, 424, allB, false},
			{`\\*\mailslot\lab\all`, 425, allB, true},
		} {
			msg := strings.Repeat(string(rune('a'+c.size%26)), c.size)
			r := ms(alpha, "send", c.to, msg)
			switch {
			case c.fails && (r.code != 1 || !strings.Contains(r.stderr, "network path")):
				t.Errorf("%d bytes to %s: want exit 1 with ErrBadNetPath: %v", c.size, c.to, r)
			case c.fails:
				c.l.expectNone(msg)
			case r.code != 0:
				t.Errorf("%d bytes to %s: %v", c.size, c.to, r)
			default:
				c.l.expectOnce(msg, "ALPHA", alpha.Addr)
			}
		}
	})

	step("Unresolvable", func(t *testing.T) {
		r := ms(alpha, "send", `\\NOSUCHHOST\mailslot\lab\inbox`, "lost")
		t.Logf("unresolvable host failed after %v: %s", r.elapsed.Round(time.Millisecond), strings.TrimSpace(r.stderr))
		if r.code != 1 {
			t.Fatalf("want exit 1: %v", r)
		}
		msg := strings.TrimSpace(r.stderr)
		if !strings.Contains(strings.ToUpper(msg), "NOSUCHHOST") || !strings.Contains(msg, "network path") || strings.Count(msg, "\n") > 0 {
			t.Errorf("want one line naming NOSUCHHOST and ErrBadNetPath (network path not usable), got %q", msg)
		}
	})

	step("AgentRestart", func(t *testing.T) {
		a := agents["BRAVO"]
		if err := a.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := a.Wait(cmdTimeout); err != nil {
			t.Errorf("agent did not stop cleanly on SIGTERM: %v", err)
		}
		a.restart(t)
		waitName(t, peer, "BRAVO", bravo.Addr)
		// The listener made before the restart gets deliveries again.
		deadline := time.Now().Add(deliverTimeout)
		for i := 0; ; i++ {
			// A slot may need a moment to find the new agent: resend
			// (remote writes are unreliable) until one arrives.
			mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\inbox`, fmt.Sprintf("after restart %d", i))
			time.Sleep(250 * time.Millisecond)
			if n := countPrefix(inbox, "after restart "); n > 0 || time.Now().After(deadline) {
				if n == 0 {
					t.Fatalf("the listener created before the restart receives nothing after it:\n%s", inbox.Output())
				}
				break
			}
		}
		mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\inbox`, "restarted")
		inbox.expectOnce("restarted", "ALPHA", alpha.Addr)
	})

	step("SIGKILL", func(t *testing.T) {
		a := agents["CHARLIE"]
		if err := a.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = a.Wait(cmdTimeout)
		mustMS(t, alpha, "send", `\\BRAVO\mailslot\lab\inbox`, "charlie is dead")
		inbox.expectOnce("charlie is dead", "ALPHA", alpha.Addr)
		mustMS(t, alpha, "send", `\\*\mailslot\lab\all`, "broadcast without charlie")
		allB.expectOnce("broadcast without charlie", "ALPHA", alpha.Addr)

		a.restart(t)
		waitName(t, peer, "CHARLIE", charlie.Addr)
		fresh := listen(t, charlie, `\\.\mailslot\lab\fresh`, "--allow-remote")
		mustMS(t, bravo, "send", `\\CHARLIE\mailslot\lab\fresh`, "charlie is back")
		fresh.expectOnce("charlie is back", "BRAVO", bravo.Addr)
	})

	for _, a := range agents {
		if ok, err := a.Exited(); ok {
			t.Errorf("%s exited during the test: %v", a.Name(), err)
		}
	}
	if err := capture.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("Wire", func(t *testing.T) {
		checkAgentsWire(t, capture.File, alpha, bravo, charlie)
	})
}

func countPrefix(l *listener, prefix string) int {
	n := 0
	for _, m := range l.messages() {
		if strings.HasPrefix(m.payload(), prefix) {
			n++
		}
	}
	return n
}

// checkAgentsWire reads the capture of TestAgents with tshark: our packets
// decode cleanly, and the remote write and the registrations carry the
// fields Windows and Samba expect.
func checkAgentsWire(t *testing.T, file string, alpha, bravo, charlie *netnstest.Host) {
	ours := fmt.Sprintf("ip.src in {%s, %s, %s}", alpha.Addr, bravo.Addr, charlie.Addr)
	probs, err := netnstest.Problems(file, ours)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) > 0 {
		t.Errorf("tshark finds malformed packets or expert warnings in our traffic:\n%s", strings.Join(probs, "\n"))
	}

	// The remote write "hello bravo".
	rows, err := netnstest.Fields(file, "nbdgm && data.data == "+hexColons("hello bravo"),
		"ip.src", "ip.dst", "udp.srcport", "udp.dstport", "nbdgm.type", "nbdgm.first", "nbdgm.next", "nbdgm.src.ip", "nbdgm.src.port",
		"nbdgm.source_name", "nbdgm.destination_name", "smb.cmd", "mailslot.opcode", "mailslot.class", "mailslot.name")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{alpha.Addr.String(), bravo.Addr.String(), "138", "138", "16", "1", "0", alpha.Addr.String(), "138",
		"ALPHA<00>", "BRAVO<00>", "0x25", "1", "2", `\MAILSLOT\LAB\INBOX`}
	if len(rows) != 1 || !sameFold(rows[0], want) {
		t.Errorf("remote write on the wire:\n got %q\nwant %q (one packet)", rows, want)
	} else if !strings.HasPrefix(rows[0][len(want)-1], `\MAILSLOT\`) {
		t.Errorf("mailslot name %q: the prefix must be upper-case \\MAILSLOT\\", rows[0][len(want)-1])
	}

	// The broadcast: one DIRECT_GROUP to the workgroup at the subnet
	// broadcast address.
	rows, err = netnstest.Fields(file, "nbdgm && data.data == "+hexColons("to everyone"),
		"ip.src", "ip.dst", "nbdgm.type", "nbdgm.source_name", "nbdgm.destination_name")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{alpha.Addr.String(), alpha.Broadcast.String(), "17", "ALPHA<00>", workgroup + "<00>"}
	if len(rows) != 1 || !sameFold(rows[0], want) {
		t.Errorf("broadcast on the wire:\n got %q\nwant %q (one packet)", rows, want)
	}

	// Registrations: ALPHA<00> unique and the workgroup<00> group, by
	// broadcast, with ALPHA's address (RFC 1002 §4.2.2; flags 0x2910).
	for _, c := range []struct{ name, nbFlags string }{{"ALPHA<00>", "0x0000"}, {workgroup + "<00>", "0x8000"}} {
		rows, err = netnstest.Fields(file, fmt.Sprintf(`nbns.flags == 0x2910 && ip.src == %s && ip.dst == %s && nbns.name matches "^%s"`, alpha.Addr, alpha.Broadcast, regexp.QuoteMeta(c.name)),
			"nbns.count.queries", "nbns.count.add_rr", "nbns.type", "nbns.class", "nbns.nb_flags", "nbns.addr", "udp.srcport", "udp.dstport")
		if err != nil {
			t.Fatal(err)
		}
		want = []string{"1", "1", "32", "1", c.nbFlags, alpha.Addr.String(), "137", "137"}
		if len(rows) == 0 || !sameFold(rows[0], want) {
			t.Errorf("registration of %s on the wire:\n got %q\nwant %q", c.name, rows, want)
		}
		if len(rows) > 3 {
			t.Errorf("registration of %s sent %d times, want at most 3 (RFC 1002 §6)", c.name, len(rows))
		}
	}

	// BRAVO released its names when it stopped on SIGTERM.
	rows, err = netnstest.Fields(file, fmt.Sprintf(`nbns.flags.opcode == 6 && ip.src == %s && nbns.name matches "^BRAVO<00>"`, bravo.Addr), "nbns.addr")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Errorf("no name release of BRAVO<00> seen after SIGTERM")
	}
}

func hexColons(s string) string {
	h := hex.EncodeToString([]byte(s))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

func sameFold(got, want []string) bool {
	if len(got) < len(want) {
		return false
	}
	for i := range want {
		if !strings.EqualFold(got[i], want[i]) {
			return false
		}
	}
	return true
}

// metricsAddr is where every test agent serves its Prometheus metrics,
// inside its own namespace.
const metricsAddr = "127.0.0.1:9137"

// agentCounters reads the agent's metrics in h.
func agentCounters(t *testing.T, h *netnstest.Host) map[string]float64 {
	t.Helper()
	m, err := h.Metrics(metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// increased returns a key matching re whose value went up, or "".
func increased(before, after map[string]float64, re string) string {
	rx := regexp.MustCompile(re)
	var keys []string
	for k := range after {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if rx.MatchString(k) && after[k] > before[k] {
			return k
		}
	}
	return ""
}
