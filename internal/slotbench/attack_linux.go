package slotbench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The attack benchmark: a user the slot does not admit (uid 65534, through
// setpriv) floods it while an admitted writer measures its throughput, in
// the same run as the unattacked baseline. The attacker is this very
// program in attacker mode (AttackerMain), so the benchmark needs root.

// AttackerEnv selects attacker mode: "connect" or "datagram"; its target
// is the namespace prefix in the first argument.
const AttackerEnv = "MAILSLOT_BENCH_ATTACKER"

// AttackerMain runs the attacker if this process was started as one, and
// then exits. Call it first thing in main (or TestMain).
func AttackerMain() {
	mode := os.Getenv(AttackerEnv)
	if mode == "" {
		return
	}
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	stop := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(stop) }()
	fmt.Println("ready")
	attack(mode, os.Args[1], stop)
	os.Exit(0)
}

// attack floods every address under prefix until stop is closed: "connect"
// connects and hangs up, "datagram" sends empty datagrams (what cut an
// admitted writer to a tenth with the first design), "idle" spins the same
// loop against an address nothing is bound at (the control).
func attack(mode, prefix string, stop <-chan struct{}) {
	var addrs []*unix.SockaddrUnix
	refresh := func() {
		addrs = addrs[:0]
		b, _ := os.ReadFile("/proc/net/unix")
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 8 && strings.HasPrefix(f[7], prefix) {
				addrs = append(addrs, &unix.SockaddrUnix{Name: f[7]})
			}
		}
		if mode == "idle" || len(addrs) == 0 {
			addrs = append(addrs[:0], &unix.SockaddrUnix{Name: prefix + "nothing-here"})
		}
	}
	refresh()
	dg, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	for last := time.Now(); ; {
		select {
		case <-stop:
			return
		default:
		}
		if time.Since(last) > 100*time.Millisecond {
			refresh()
			last = time.Now()
		}
		for _, sa := range addrs {
			for i := 0; i < 32; i++ {
				switch mode {
				case "datagram":
					unix.Sendto(dg, nil, unix.MSG_DONTWAIT, sa)
				default:
					c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK, 0)
					if err != nil {
						continue
					}
					if unix.Connect(c, sa) == unix.EAGAIN {
						time.Sleep(50 * time.Microsecond) // backlog full
					}
					unix.Close(c)
				}
			}
		}
	}
}

// Attacker is a running attacker process.
type Attacker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	dir   string
}

// StartAttacker starts an attacker of the given mode as uid 65534 against
// the benchmark namespace.
func StartAttacker(mode string) (*Attacker, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "mailslot-attacker")
	if err != nil {
		return nil, err
	}
	a := &Attacker{dir: dir}
	exe := filepath.Join(dir, "attacker")
	if err := os.Chmod(dir, 0o755); err != nil {
		a.Stop()
		return nil, err
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		a.Stop()
		return nil, err
	}
	a.cmd = exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", exe, "@mailslot/"+Namespace+"/")
	a.cmd.Env = append(os.Environ(), AttackerEnv+"="+mode)
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		a.Stop()
		return nil, err
	}
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		a.Stop()
		return nil, err
	}
	a.cmd.Stderr = os.Stderr
	if err := a.cmd.Start(); err != nil {
		a.Stop()
		return nil, fmt.Errorf("starting the attacker (needs root and setpriv): %w", err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		a.Stop()
		return nil, fmt.Errorf("attacker said %q, %v", line, err)
	}
	return a, nil
}

// Stop ends the attacker.
func (a *Attacker) Stop() {
	if a.stdin != nil {
		a.stdin.Close()
	}
	if a.cmd != nil && a.cmd.Process != nil {
		done := make(chan struct{})
		go func() { a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			a.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(a.dir)
}

// Attack measures one attack mode: medians of repeat alternating runs of n
// messages of size bytes from one admitted writer.
func Attack(mode string, size, n, repeat int) (AttackResult, error) {
	r := AttackResult{Mode: mode}
	var base, ctrl, hit []float64
	measure := func(attacker string, into *[]float64) error {
		if attacker != "" {
			a, err := StartAttacker(attacker)
			if err != nil {
				return err
			}
			defer a.Stop()
			time.Sleep(50 * time.Millisecond)
		}
		rate, err := Throughput(Slot, size, 1, n)
		*into = append(*into, rate)
		return err
	}
	for i := 0; i < repeat; i++ {
		if err := measure("", &base); err != nil {
			return r, err
		}
		if err := measure("idle", &ctrl); err != nil {
			return r, err
		}
		if err := measure(mode, &hit); err != nil {
			return r, err
		}
	}
	r.Baseline, r.Control, r.Attacked = Median(base), Median(ctrl), Median(hit)
	cpu, err := idleCPU(mode)
	r.IdleCPU = cpu
	return r, err
}

// idleCPU is the CPU share this process spends on an idle slot under attack.
func idleCPU(mode string) (float64, error) {
	ep, err := open(Slot)
	if err != nil {
		return 0, err
	}
	defer ep.close()
	a, err := StartAttacker(mode)
	if err != nil {
		return 0, err
	}
	defer a.Stop()
	time.Sleep(100 * time.Millisecond)
	c0, t0 := cpuTime(), time.Now()
	time.Sleep(time.Second)
	return (cpuTime() - c0).Seconds() / time.Since(t0).Seconds(), nil
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
