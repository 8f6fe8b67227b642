//go:build linux

package netnstest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Prefix starts the name of every namespace this package creates. The full
// name is Prefix + pid + "-" + lab counter + "-" + role.
const Prefix = "msnt"

var (
	labCounter atomic.Int64
	staleRE    = regexp.MustCompile(`^` + Prefix + `(\d+)-`)
	sweepOnce  sync.Once
)

// Subnet is the lab's address block. Host i (from 0) gets .11+i.
var Subnet = netip.MustParsePrefix("192.0.2.0/24")

// BroadcastAddr is the directed broadcast address of Subnet.
var BroadcastAddr = netip.MustParseAddr("192.0.2.255")

// TB is the part of testing.TB a lab uses; *testing.T and *testing.B
// satisfy it, and so can a benchmark program.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
}

// Lab is a set of hosts on one broadcast domain.
type Lab struct {
	t        TB
	id       string // Prefix + pid + "-" + counter
	bridgeNS string
	env      []string

	mu     sync.Mutex
	hosts  []*Host
	procs  []*Proc
	ns     []string // every namespace made, bridge first
	closed bool
}

// Bridge is the name of the bridge device inside BridgeNS.
const Bridge = "br0"

// New creates an empty lab (a bridge in its own namespace) and registers its
// cleanup with t. It fails t when not root or when ip is missing.
func New(t TB) *Lab {
	t.Helper()
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	sweepOnce.Do(func() {
		if err := SweepStale(); err != nil {
			t.Logf("netnstest: sweeping stale namespaces: %v", err)
		}
	})
	l := &Lab{
		t:  t,
		id: fmt.Sprintf("%s%d-%d", Prefix, os.Getpid(), labCounter.Add(1)),
	}
	l.env = append(os.Environ(), "MAILSLOT_NAMESPACE=lab-"+strings.TrimPrefix(l.id, Prefix))
	t.Cleanup(l.Close)
	l.bridgeNS = l.id + "-br"
	l.addNS(l.bridgeNS)
	l.must(l.ip("-n", l.bridgeNS, "link", "add", Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"))
	l.must(l.ip("-n", l.bridgeNS, "link", "set", Bridge, "up"))
	return l
}

// Check reports why the lab cannot run here: not root, or no ip command.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("netnstest: network namespace tests need root (CI runs them as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return errors.New("netnstest: the ip command (iproute2) is missing: apt-get install iproute2")
	}
	return nil
}

// Tool fails t when a command the test needs is missing. Interop tests
// never skip: make deps installs the tools.
func Tool(t TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("%s is missing (make deps installs it): %v", n, err)
		}
	}
}

// ID is the lab's unique name prefix.
func (l *Lab) ID() string { return l.id }

// BridgeNS is the namespace that holds the bridge (where a capture runs).
func (l *Lab) BridgeNS() string { return l.bridgeNS }

// Hosts returns the hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.hosts...)
}

// Env is the environment every process of the lab starts with: ours plus a
// MAILSLOT_NAMESPACE unique to the lab.
func (l *Lab) Env() []string { return append([]string(nil), l.env...) }

// AddHost adds a namespace with one interface, eth0, bridged to the others,
// with the next free address of Subnet. role names it in logs and in the
// namespace name (keep it short: letters and digits).
func (l *Lab) AddHost(role string) *Host {
	l.t.Helper()
	l.mu.Lock()
	i := len(l.hosts)
	l.mu.Unlock()
	h := &Host{
		Role:      role,
		NS:        fmt.Sprintf("%s-%s", l.id, role),
		Iface:     "eth0",
		Addr:      netip.AddrFrom4([4]byte{192, 0, 2, byte(11 + i)}),
		Prefix:    Subnet,
		Broadcast: BroadcastAddr,
		lab:       l,
	}
	port := fmt.Sprintf("p%d", i)
	l.addNS(h.NS)
	// Quiet lab: no IPv6 (router solicitations, MLD) in the captures.
	l.must(h.writeSysctl("net/ipv6/conf/all/disable_ipv6", "1"))
	l.must(h.writeSysctl("net/ipv6/conf/default/disable_ipv6", "1"))
	// Both ends are made from the bridge namespace: the root namespace never
	// sees them.
	l.must(l.ip("-n", l.bridgeNS, "link", "add", port, "type", "veth", "peer", "name", h.Iface, "netns", h.NS))
	l.must(l.ip("-n", l.bridgeNS, "link", "set", port, "master", Bridge, "up"))
	l.must(l.ip("-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", h.Addr, h.Prefix.Bits()), "brd", h.Broadcast.String(), "dev", h.Iface))
	l.must(l.ip("-n", h.NS, "link", "set", "lo", "up"))
	l.must(l.ip("-n", h.NS, "link", "set", h.Iface, "up"))
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h
}

// AddHosts adds one host per role.
func (l *Lab) AddHosts(roles ...string) []*Host {
	hs := make([]*Host, len(roles))
	for i, r := range roles {
		hs[i] = l.AddHost(r)
	}
	return hs
}

func (l *Lab) addNS(name string) {
	l.t.Helper()
	l.mu.Lock()
	l.ns = append(l.ns, name)
	l.mu.Unlock()
	l.must(l.ip("netns", "add", name))
}

func (l *Lab) must(err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *Lab) ip(args ...string) error {
	return runIP(args...)
}

func runIP(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Close stops every process of the lab and deletes its namespaces. It runs
// from t.Cleanup; calling it earlier is fine.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	procs := append([]*Proc(nil), l.procs...)
	nss := append([]string(nil), l.ns...)
	l.mu.Unlock()

	for _, p := range procs {
		p.stop(2 * time.Second)
	}
	if l.t.Failed() {
		for _, p := range procs {
			l.t.Logf("--- output of %s (%s), last 4 KiB:\n%s", p.name, p.state(), Tail(p.Output(), 4096))
		}
	}
	// Hosts before the bridge namespace, so no veth end is left half-moved.
	for i := len(nss) - 1; i >= 0; i-- {
		if err := deleteNS(nss[i]); err != nil {
			l.t.Errorf("netnstest: %v", err)
		}
	}
}

// deleteNS kills whatever still runs inside the namespace (only processes
// this harness started end up there) and deletes it.
func deleteNS(name string) error {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return runIP("netns", "del", name)
}

// TempDir makes a directory for a lab's files (binaries, configurations,
// captures) named after this process, so that SweepStale can remove it if
// the process dies before its cleanup runs.
func TempDir(kind string) (string, error) {
	return os.MkdirTemp("", fmt.Sprintf("%s%d-%s-", Prefix, os.Getpid(), kind))
}

// SweepStale deletes namespaces and temporary directories left by earlier
// runs of this harness whose process is gone. Those of live runs (parallel
// go test binaries) are left alone.
func SweepStale() error {
	if err := sweepTempDirs(); err != nil {
		return err
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %v", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := staleRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pidAlive(pid) {
			continue
		}
		if err := deleteNS(f[0]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sweepTempDirs() error {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		m := staleRE.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); !pidAlive(pid) {
			if err := os.RemoveAll(filepath.Join(os.TempDir(), e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Tail returns the last n bytes of s, marked as cut when it was longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
