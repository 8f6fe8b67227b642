//go:build linux

package netns

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
	"github.com/mailslot/mailslot/internal/privdrop"
	"golang.org/x/sys/unix"
)

// An agent that dropped to nobody still serves an interface whose address
// appears after the drop: one OS thread keeps CAP_NET_BIND_SERVICE (and
// nothing else) to bind the new interface's UDP 137/138, every other
// thread has no capability at all.
func TestDroppedAgentServesLaterInterfaces(t *testing.T) {
	t.Parallel()
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	lab := netnstest.New(t)
	late, peer := lab.AddHost("dropped"), lab.AddHost("dpeer")
	prefix := fmt.Sprintf("%s/%d", late.Addr, late.Prefix.Bits())
	if out, err := late.Run(cmdTimeout, "ip", "addr", "del", prefix, "dev", late.Iface); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	a := late.Start(mailslotBin, "agent", "--name", "DROPPED", "--workgroup", workgroup, "--user", "nobody")
	t.Cleanup(func() { checkNoRace(t, a) })
	startAgent(t, peer, "DPEER")
	// The address comes only once the agent runs as nobody.
	deadline := time.Now().Add(startTimeout)
	for uid := ""; uid != nobody.Uid; {
		if ok, err := a.Exited(); ok {
			t.Fatalf("the agent exited: %v\n%s", err, a.Output())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent did not switch to nobody within %v (uid %q)\n%s", startTimeout, uid, a.Output())
		}
		time.Sleep(100 * time.Millisecond)
		if st, err := taskStatus(a.Pid(), a.Pid()); err == nil {
			uid = strings.Fields(st["Uid"])[1] // effective
		}
	}
	if out, err := late.Run(cmdTimeout, "ip", "addr", "add", prefix, "brd", late.Broadcast.String(), "dev", late.Iface); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitName(t, peer, "DROPPED", late.Addr)
	waitName(t, late, "DPEER", peer.Addr) // the sender's agent is up too
	in := listen(t, late, `\\.\mailslot\lab\late`, "--allow-remote")
	mustMS(t, peer, "send", `\\DROPPED\mailslot\lab\late`, "after the drop")
	in.expectOnce("after the drop", "DPEER", peer.Addr)
	if strings.Contains(a.Output(), "interface change") {
		t.Errorf("the agent logged an interface failure:\n%s", netnstest.Tail(a.Output(), 2000))
	}
	checkDroppedCaps(t, a.Pid(), nobody.Uid)
}

// checkDroppedCaps asserts that every thread of pid runs as uid with no
// capability but the kept ones, which exactly one thread holds.
func checkDroppedCaps(t *testing.T, pid int, uid string) {
	t.Helper()
	// CAP_NET_BIND_SERVICE, and CAP_NET_RAW before Linux 5.7.
	keep := privdrop.Needed()
	if keep&(1<<unix.CAP_NET_BIND_SERVICE) == 0 || keep&^(1<<unix.CAP_NET_BIND_SERVICE|1<<unix.CAP_NET_RAW) != 0 {
		t.Fatalf("privdrop.Needed() = %#x", keep)
	}
	self, err := taskStatus(os.Getpid(), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	started := capField(t, self, "CapBnd") // the agent inherited ours
	tids, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tids) == 0 {
		t.Fatalf("threads of %d: %v", pid, err)
	}
	holders := 0
	for _, dir := range tids {
		tid, _ := strconv.Atoi(filepath.Base(dir))
		st, err := taskStatus(pid, tid)
		if err != nil {
			continue // the thread ended
		}
		for _, id := range strings.Fields(st["Uid"]) {
			if id != uid {
				t.Errorf("thread %d: Uid %s, want %s everywhere", tid, st["Uid"], uid)
				break
			}
		}
		eff, prm, inh, amb, bnd := capField(t, st, "CapEff"), capField(t, st, "CapPrm"), capField(t, st, "CapInh"), capField(t, st, "CapAmb"), capField(t, st, "CapBnd")
		t.Logf("thread %d: CapEff %#x CapPrm %#x CapInh %#x CapAmb %#x CapBnd %#x", tid, eff, prm, inh, amb, bnd)
		if inh != 0 || amb != 0 || eff != prm || eff&^keep != 0 {
			t.Errorf("thread %d holds more than %#x", tid, keep)
		}
		switch eff {
		case keep:
			holders++
			if bnd != keep {
				t.Errorf("thread %d keeps the capabilities with bounding set %#x, want %#x", tid, bnd, keep)
			}
		case 0:
			if bnd != keep && bnd != started {
				t.Errorf("thread %d: bounding set %#x, neither narrowed (%#x) nor as started (%#x)", tid, bnd, keep, started)
			}
		default:
			t.Errorf("thread %d keeps part of the capabilities: %#x", tid, eff)
		}
	}
	if holders != 1 {
		t.Errorf("%d threads hold %#x, want exactly one", holders, keep)
	}
}

// taskStatus reads /proc/PID/task/TID/status into a map.
func taskStatus(pid, tid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

func capField(t *testing.T, st map[string]string, k string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(st[k], 16, 64)
	if err != nil {
		t.Fatalf("%s: %q: %v", k, st[k], err)
	}
	return v
}
