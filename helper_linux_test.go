package mailslot_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/internal/ctlmsg"
	"golang.org/x/sys/unix"
)

// Helpers run as another user (uid 65534 through setpriv): the attacker,
// the squatter, decoys, and writers in a supplementary group. They are this
// test binary in a helper mode, copied where any user may execute it.

var (
	helperOnce sync.Once
	helperPath string
	helperErr  error
)

// asNobody returns a command that runs this test binary's helper mode as
// uid/gid 65534 with the given setpriv group options.
func asNobody(t *testing.T, groups, mode string, args ...string) *exec.Cmd {
	t.Helper()
	return asUser(t, 65534, groups, mode, args...)
}

// removeHelper deletes the copy of the test binary, if one was made.
func removeHelper() {
	if helperPath != "" {
		os.RemoveAll(filepath.Dir(helperPath))
	}
}

// asUser is asNobody for any uid (the gid is the same number).
func asUser(t *testing.T, uid int, groups, mode string, args ...string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root (to run a process as another user); CI runs as root")
		}
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv (util-linux) is required: ", err)
	}
	helperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mailslot-helper")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		var self []byte
		if err == nil {
			var exe string
			exe, err = os.Executable()
			if err == nil {
				self, err = os.ReadFile(exe)
			}
		}
		if err == nil {
			helperPath = filepath.Join(dir, "helper")
			// Under ForkLock, so that no process forked meanwhile holds
			// the file open and makes its exec fail ("text file busy").
			syscall.ForkLock.Lock()
			err = os.WriteFile(helperPath, self, 0o755)
			syscall.ForkLock.Unlock()
		}
		helperErr = err
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	id := strconv.Itoa(uid)
	ids := []string{"--reuid=" + id, "--regid=" + id}
	if strings.HasPrefix(groups, "setuid:") {
		// A set-user-ID-root program run by this user: real uid, effective 0.
		ids, groups = []string{"--ruid=" + id, "--euid=0", "--rgid=" + id, "--egid=0"}, strings.TrimPrefix(groups, "setuid:")
	}
	argv := append(append(ids, groups, helperPath), args...)
	cmd := exec.Command("setpriv", argv...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// startHelper starts a helper and waits for its "ready" line.
func startHelper(t *testing.T, cmd *exec.Cmd) (stdin io.WriteCloser, out *bufio.Reader) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out = bufio.NewReader(pipe)
	ready := make(chan error, 1)
	go func() {
		line, err := out.ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("helper said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("helper: %v; stderr: %s", err, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("helper not ready after 30 s")
	}
	return stdin, out
}

func runHelper(mode string, args []string) int {
	var err error
	switch mode {
	case "wedge":
		err = attackWedge(args[0], 3*time.Second)
	case "flood":
		err = attackFlood(args[0], stdinClosed())
	case "squat":
		err = squat(args[0])
	case "decoys":
		err = decoys(args[0], args[1])
	case "send":
		err = sendLong(args[0], args[1])
	case "hog":
		err = hog(args[0])
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// stdinClosed is closed when the test closes the helper's standard input.
func stdinClosed() <-chan struct{} {
	c := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(c) }()
	return c
}

// attackWedge tries, for d, everything that wedged or fed the slot of the
// first design: datagrams carrying descriptors (a filled socketpair whose
// O_NONBLOCK it keeps clearing; a socket connected back to the slot) as
// "control requests", and the same on a connection, sent before the slot
// has said anything, never reading.
func attackWedge(addr string, d time.Duration) error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	unix.SetNonblock(pair[0], true)
	for { // fill it so that any write to pair[0] blocks
		if _, err := unix.Write(pair[0], make([]byte, 65536)); err != nil {
			break
		}
	}
	unix.SetNonblock(pair[0], false)
	sa := &unix.SockaddrUnix{Name: addr}
	back, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	unix.Connect(back, sa) // a "reply socket" that leads back to the slot
	var held []int
	fmt.Println("ready")
	for end := time.Now().Add(d); time.Now().Before(end); {
		for _, reply := range []int{pair[0], back} {
			if g, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0); err == nil {
				unix.Sendmsg(g, []byte{1}, unix.UnixRights(reply), sa, unix.MSG_DONTWAIT)
				unix.Close(g)
			}
			if c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0); err == nil {
				if unix.Connect(c, sa) == nil {
					for i := 0; i < 20; i++ {
						unix.Sendmsg(c, []byte{1}, unix.UnixRights(reply), nil, unix.MSG_DONTWAIT)
						unix.Sendmsg(c, []byte("injected"), nil, nil, unix.MSG_DONTWAIT)
					}
				}
				if len(held) < 100 {
					held = append(held, c) // never read, never closed
				} else {
					unix.Close(c)
				}
			}
		}
		unix.SetNonblock(pair[0], false) // undo a slot's O_NONBLOCK
		time.Sleep(time.Millisecond)
	}
	return nil
}

// attackFlood connects to the slot and hangs up, as fast as it can, until
// stop is closed.
func attackFlood(addr string, stop <-chan struct{}) error {
	sa := &unix.SockaddrUnix{Name: addr}
	fmt.Println("ready")
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		for i := 0; i < 64; i++ {
			c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK, 0)
			if err != nil {
				time.Sleep(time.Millisecond)
				continue
			}
			if unix.Connect(c, sa) == unix.EAGAIN {
				time.Sleep(100 * time.Microsecond) // backlog full
			}
			unix.Close(c)
		}
	}
}

// squat creates name first and prints what it receives.
func squat(name string) error {
	s, err := mailslot.Create(name, &mailslot.Config{AllowAnyone: true, ReadTimeout: mailslot.WaitForever})
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Println("ready")
	buf := make([]byte, 1024)
	for {
		n, err := s.Read(buf)
		if err != nil {
			return err
		}
		fmt.Printf("got %q\n", buf[:n])
	}
}

// decoys binds count sockets under addr's namespace prefix that never
// answer (listeners that never accept, datagram sockets), and one that
// answers but claims a name other than the one its address hashes.
func decoys(addr, count string) error {
	prefix := addr[:strings.LastIndex(addr, "/")+1]
	var n int
	fmt.Sscan(count, &n)
	for i := 0; i < n; i++ {
		typ := unix.SOCK_SEQPACKET
		if i%2 == 1 {
			typ = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(unix.AF_UNIX, typ, 0)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrUnix{Name: fmt.Sprintf("%sdecoy%04d", prefix, i)}); err != nil {
			return err
		}
		if typ == unix.SOCK_SEQPACKET {
			unix.Listen(fd, 16)
		}
	}
	// A liar: it answers at addr (the hash of one name) and claims another.
	liar, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(liar, &unix.SockaddrUnix{Name: addr}); err != nil {
		return err
	}
	unix.Listen(liar, 16)
	go func() {
		for {
			c, _, err := unix.Accept(liar)
			if err != nil {
				return
			}
			// A denial record naming a slot it is not.
			rec := (&ctlmsg.Hello{Name: `\\.\mailslot\app\bank`}).Append(nil)
			unix.Write(c, rec)
			unix.Close(c)
		}
	}()
	fmt.Println("ready")
	<-stdinClosed()
	return nil
}

// sendLong opens name, says ready, and when its standard input closes
// writes msg with a long write timeout and exits without closing: the
// process is gone right after its write returned.
func sendLong(name, msg string) error {
	w, err := mailslot.Open(name, mailslot.WithTimeout(30*time.Second))
	if err != nil {
		return err
	}
	w.SetWriteTimeout(30 * time.Second)
	fmt.Println("ready")
	<-stdinClosed()
	_, err = w.Write([]byte(msg))
	return err
}

// hog opens writers to name until one fails, prints how many it got and
// the error, and keeps them open until its standard input closes.
func hog(name string) error {
	var ws []*mailslot.Writer
	var err error
	for len(ws) < 4*mailslot.MaxPeersPerUser {
		var w *mailslot.Writer
		if w, err = mailslot.Open(name, mailslot.WithTimeout(30*time.Second)); err != nil {
			break
		}
		ws = append(ws, w)
	}
	fmt.Printf("ready\n%d %v\n", len(ws), err)
	<-stdinClosed()
	return nil
}
