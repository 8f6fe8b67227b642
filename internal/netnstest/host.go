//go:build linux

package netnstest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/mailslot/mailslot/internal/syncbuf"
	"golang.org/x/sys/unix"
)

// Host is one network namespace of a Lab.
type Host struct {
	Role      string       // short name given to AddHost
	NS        string       // namespace name (ip netns)
	Iface     string       // its interface on the lab bridge
	Addr      netip.Addr   // its address on Iface
	Prefix    netip.Prefix // the lab subnet
	Broadcast netip.Addr   // the subnet's directed broadcast
	lab       *Lab
}

func (h *Host) String() string { return h.Role + "(" + h.Addr.String() + ")" }

// Lab returns the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// Command returns a command that runs name inside the host's namespace with
// the lab's environment. ip netns exec execs the program itself, so the
// command's pid is the program's.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	cmd.Env = h.lab.Env()
	return cmd
}

// Run runs a command to completion inside the host (at most timeout) and
// returns its combined output.
func (h *Host) Run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := h.Command(ctx, name, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s on %s: timed out after %v (%v)", name, strings.Join(args, " "), h, timeout, err)
	}
	return string(out), err
}

// RunOut is Run with stdout and stderr apart, for commands whose stdout is
// parsed (JSON) while stderr carries diagnostics.
func (h *Host) RunOut(timeout time.Duration, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := h.Command(ctx, name, args...)
	cmd.WaitDelay = time.Second
	var o, e syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s on %s: timed out after %v (%v)", name, strings.Join(args, " "), h, timeout, err)
	}
	return o.String(), e.String(), err
}

// Start starts a long-running process inside the host. Its output is kept;
// the lab stops it on cleanup. Start fails the test if the process cannot
// start.
func (h *Host) Start(name string, args ...string) *Proc {
	h.lab.t.Helper()
	p, err := h.start(name, args...)
	if err != nil {
		h.lab.t.Fatal(err)
	}
	return p
}

func (h *Host) start(name string, args ...string) (*Proc, error) {
	cmd := h.Command(context.Background(), name, args...)
	return h.lab.startProc(fmt.Sprintf("%s@%s", baseName(name), h.Role), cmd)
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// Do runs f on an OS thread that has entered the host's network namespace.
// Sockets made by f stay in that namespace for their whole life, whichever
// thread later uses them, so a test process can hold sockets in several
// hosts at once.
func (h *Host) Do(f func() error) error {
	target, err := unix.Open("/run/netns/"+h.NS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netnstest: open namespace %s: %v", h.NS, err)
	}
	defer unix.Close(target)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("netnstest: open own namespace: %v", err)
			return // the locked thread ends with the goroutine
		}
		defer unix.Close(home)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("netnstest: setns %s: %v", h.NS, err)
			return
		}
		ferr := f()
		// Back home before the thread runs anything else; if that fails
		// the thread stays locked and ends with this goroutine, so no
		// other goroutine ever runs in the wrong namespace.
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// ListenUDP opens a UDP socket inside the host. addr is "ip:port"; an empty
// ip means any address.
func (h *Host) ListenUDP(addr string) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := h.Do(func() error {
		pc, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	return c, err
}

// writeSysctl writes a per-namespace sysctl (path under /proc/sys). The
// file must be opened from inside the namespace: /proc/sys/net shows the
// opener's namespace.
func (h *Host) writeSysctl(path, value string) error {
	return h.Do(func() error {
		return os.WriteFile("/proc/sys/"+path, []byte(value), 0)
	})
}
