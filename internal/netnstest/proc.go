//go:build linux

package netnstest

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/internal/syncbuf"
)

// Proc is a process started in a lab host. Stdout and stderr are kept
// together (Output); stdout alone is kept too (Stdout), for JSON lines.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  syncbuf.Buffer // stdout + stderr, interleaved
	sout syncbuf.Buffer // stdout only
	done chan struct{}
	err  error // valid after done
}

func (l *Lab) startProc(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil { // else the caller reads it (Capture)
		cmd.Stdout = teeWriter{&p.out, &p.sout}
	}
	cmd.Stderr = &p.out
	// Own process group: stop() can reach whatever the program forks.
	// Pdeathsig kills it if this process dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netnstest: lab already closed")
	}
	if err := spawn(cmd); err != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("netnstest: start %s: %v", name, err)
	}
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pdeathsig fires when the *thread* that forked the child exits, not the
// process, and Go ends threads (a goroutine that exits while locked to its
// thread, as Host.Do's did) whenever it likes. So every child is forked
// from one locked thread that lives as long as the process.
var spawnReq = make(chan spawnCall)

type spawnCall struct {
	cmd *exec.Cmd
	err chan error
}

var spawnOnce sync.Once

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: this thread stays
			for c := range spawnReq {
				c.err <- c.cmd.Start()
			}
		}()
	})
	c := spawnCall{cmd: cmd, err: make(chan error, 1)}
	spawnReq <- c
	return <-c.err
}

// Name is "program@role".
func (p *Proc) Name() string { return p.name }

// Pid is the program's pid (ip netns exec execs it in place).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Stdout returns what the process wrote to stdout so far.
func (p *Proc) Stdout() string { return p.sout.String() }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	return p.cmd.Process.Signal(sig)
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (an *exec.ExitError for a non-zero status).
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", p.name, timeout)
	}
}

// WaitOutput waits until the output matches re (a regular expression) and
// returns the first match. It gives up at timeout or when the process exits
// without matching.
func (p *Proc) WaitOutput(re string, timeout time.Duration) (string, error) {
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		if m := rx.FindString(p.Output()); m != "" {
			return m, nil
		}
		if ok, err := p.Exited(); ok {
			if m := rx.FindString(p.Output()); m != "" {
				return m, nil
			}
			return "", fmt.Errorf("%s exited (%v) before printing %q; output:\n%s", p.name, err, re, Tail(p.Output(), 2048))
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s did not print %q within %v; output:\n%s", p.name, re, timeout, Tail(p.Output(), 2048))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop ends the process: SIGTERM, then SIGKILL to its group after grace.
// It returns the exit error.
func (p *Proc) Stop(grace time.Duration) error {
	p.stop(grace)
	return p.err
}

func (p *Proc) stop(grace time.Duration) {
	if ok, _ := p.Exited(); ok {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

func (p *Proc) state() string {
	if ok, err := p.Exited(); ok {
		if err == nil {
			return "exited 0"
		}
		return err.Error()
	}
	return "running"
}

type teeWriter struct{ a, b *syncbuf.Buffer }

func (t teeWriter) Write(p []byte) (int, error) {
	_, _ = t.a.Write(p)
	return t.b.Write(p)
}

// Lines splits output into non-empty lines.
func Lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
