//go:build linux

package netns

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/internal/netnstest"
)

// impostorEnv makes the test binary play a hostile local user (see
// impostor) instead of running tests.
const impostorEnv = "NETNS_IMPOSTOR"

// impostor squats the agent's socket before the agent starts and tries
// to feed whoever connects: a forged frame of every size up to 64 bytes.
func impostor() int {
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: agentproto.Addr(""), Net: "unixpacket"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "impostor:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "impostor listening as uid %d\n", os.Getuid())
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return 1
		}
		fmt.Fprintln(os.Stderr, "impostor: a client connected")
		go func() {
			defer c.Close()
			for n := 1; n <= 64; n++ {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte(n + i)
				}
				if _, err := c.Write(b); err != nil {
					break
				}
			}
			io.Copy(io.Discard, c)
		}()
	}
}

// A local user who binds the agent's socket before the agent runs cannot
// pose as it: writers refuse it (the kernel says it is not root), an
// AllowRemote slot never takes a message from it, and the real agent says
// clearly why it cannot start.
func TestLocalImpostorAgent(t *testing.T) {
	t.Parallel()
	netnstest.Tool(t, "setpriv")
	lab := netnstest.New(t)
	h := lab.AddHost("victim")
	// The test binary, where uid 65534 can run it.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "impostor")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// Under ForkLock: a process forked by a parallel test while the file is
	// open for writing would hold it, and exec would fail with "text file
	// busy" (seen once).
	syscall.ForkLock.Lock()
	err = os.WriteFile(bin, data, 0o755)
	syscall.ForkLock.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	imp := h.Start("env", impostorEnv+"=1", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	if _, err := imp.WaitOutput(`impostor listening as uid 65534`, cmdTimeout); err != nil {
		t.Fatal(err)
	}

	r := ms(h, "send", `\\BRAVO\mailslot\lab\x`, "via the impostor")
	t.Logf("remote send with an impostor agent: %v", r)
	if r.code != 1 || !regexp.MustCompile(`(?i)root|agent`).MatchString(r.stderr) {
		t.Errorf("a remote write through an impostor agent: want exit 1 naming the problem: %v", r)
	}

	slot := listen(t, h, `\\.\mailslot\lab\x`, "--allow-remote")
	time.Sleep(quietPeriod)
	if msgs := slot.messages(); len(msgs) > 0 {
		t.Errorf("the slot took %d messages from the impostor: %+v", len(msgs), msgs)
	}
	// The slot still works locally.
	mustMS(t, h, "send", `\\.\mailslot\lab\x`, "local")
	got := slot.waitFor("local")
	if len(got) != 1 || got[0].Sender.PID == nil {
		t.Errorf("local message through the slot: %+v", got)
	}

	a := startAgent(t, h, "VICTIM")
	if err := a.Wait(cmdTimeout); err == nil {
		t.Errorf("the agent started although its socket is taken:\n%s", a.Output())
	} else if ok, _ := a.Exited(); !ok {
		t.Errorf("the agent neither started nor exited: %v", err)
	} else {
		out := strings.TrimSpace(a.Output())
		t.Logf("agent with its socket squatted: %s", out)
		if !regexp.MustCompile(`(?i)in use|already|another`).MatchString(out) {
			t.Errorf("the agent does not say why it cannot start:\n%s", out)
		}
	}
}
