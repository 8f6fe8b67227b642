package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/syncbuf"

	"github.com/mailslot/mailslot"
)

// The test binary doubles as the mailslot command when helperEnv is set, so
// the process tests run the real CLI code as separate processes (and, through
// setpriv, as another user).
const helperEnv = "MAILSLOT_TEST_RUN_CLI"

// cliPath is a copy of the test binary that any user may execute.
var cliPath string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if len(os.Args) > 1 && os.Args[1] == "rawsend-test" {
			os.Exit(rawSend())
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Stdin))
	}
	os.Setenv(mailslot.NamespaceEnv, fmt.Sprintf("clitest-%d", os.Getpid()))
	dir, err := os.MkdirTemp("", "mailslot-cli")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err == nil {
		cliPath = filepath.Join(dir, "mailslot")
		err = copyFile(cliPath)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setting up the CLI copy:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func copyFile(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(self)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

var seq atomic.Int64

func slotName(t *testing.T) string {
	return fmt.Sprintf(`\\.\mailslot\cli\%s\%d`, t.Name(), seq.Add(1))
}

// cli runs the command in-process.
func cli(stdin string, args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = run(args, &o, &e, strings.NewReader(stdin))
	return o.String(), e.String(), code
}

// cliCommand returns the CLI as a subprocess.
func cliCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(cliPath, args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	return cmd
}

// needRoot fails in CI (which runs as root) and skips elsewhere.
func needRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Fatal("setpriv (util-linux) is required: ", err)
		}
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root (to run a writer as another user); CI runs as root")
	}
	t.Skip("needs root")
}

// queued is the slot's message count; a failing Info fails the test.
func queued(t *testing.T, s *mailslot.Slot) int {
	t.Helper()
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.MessageCount
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{}, {"nope"}, {"listen"}, {"listen", "a", "b"}, {"listen", `\\.\mailslot\x`, "--timeout", "soon"},
		{"send"}, {"ls", "extra"}, {"send", `\\.\mailslot\x`, "msg", "--lines"},
		{"listen", "blah"}, {"send", "blah", "msg"}, {"send", `\\.\mailslot\x`, "--owner", "no-such-user-xyz", "m"},
	} {
		out, errOut, code := cli("", args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if out != "" || errOut == "" {
			t.Errorf("%q: usage must go to stderr only; stdout %q, stderr %q", args, out, errOut)
		}
	}
	if _, errOut, _ := cli(""); !strings.Contains(errOut, "usage: mailslot COMMAND") {
		t.Errorf("no arguments: stderr %q", errOut)
	}
	for _, c := range commands {
		out, errOut, code := cli("", c.name, "--help")
		if code != 0 || !strings.Contains(out+errOut, "usage: mailslot "+c.name) {
			t.Errorf("%s --help: exit %d, %q", c.name, code, out+errOut)
		}
	}
}

func TestSendErrorsAreOneLine(t *testing.T) {
	name := slotName(t)
	_, errOut, code := cli("", "send", name, "hi")
	if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "not found") || !strings.Contains(errOut, name) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = cli("", "listen", "blah")
	if code != 2 || !strings.Contains(errOut, "invalid mailslot name") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestSendForms(t *testing.T) {
	name := slotName(t)
	s, err := mailslot.Create(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, step := range []struct {
		stdin string
		args  []string
		want  []string
	}{
		{"", []string{"send", name, "hello", "world"}, []string{"hello world"}},
		{"all of\nstdin", []string{"send", name}, []string{"all of\nstdin"}},
		{"dash", []string{"send", name, "-"}, []string{"dash"}},
		{"one\ntwo\n\nfour\n", []string{"send", "--lines", name}, []string{"one", "two", "", "four"}},
	} {
		if _, errOut, code := cli(step.stdin, step.args...); code != 0 {
			t.Fatalf("%q: exit %d %s", step.args, code, errOut)
		}
		buf := make([]byte, 100)
		for _, want := range step.want {
			n, err := s.Read(buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("%q: got %q, %v; want %q", step.args, buf[:n], err, want)
			}
		}
		if n := queued(t, s); n != 0 {
			t.Fatalf("%q: %d extra messages", step.args, n)
		}
	}
}

// startListener runs "mailslot listen" as a subprocess and waits until the
// slot exists.
func startListener(t *testing.T, args ...string) (*exec.Cmd, *syncbuf.Buffer) {
	t.Helper()
	return startListenerCmd(t, cliCommand(append([]string{"listen"}, args...)...))
}

// startListenerCmd starts a prepared "mailslot listen" command and waits
// until the slot exists.
func startListenerCmd(t *testing.T, cmd *exec.Cmd) (*exec.Cmd, *syncbuf.Buffer) {
	t.Helper()
	out := &syncbuf.Buffer{}
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening on ") {
		t.Fatalf("listener said %q, %v", line, err)
	}
	go io.Copy(io.Discard, stderr)
	return cmd, out
}

func TestListenJSONCount(t *testing.T) {
	name := slotName(t)
	cmd, out := startListener(t, name, "--json", "--count", "3")
	for _, m := range []string{"first", "", "\xff\x00bin"} {
		if err := mailslot.Send(name, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := waitCmd(t, cmd); err != nil {
		t.Fatalf("listener: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("output %q", out.String())
	}
	for i, want := range []string{"first", "", "\xff\x00bin"} {
		var m jsonMessage
		if err := json.Unmarshal([]byte(lines[i]), &m); err != nil {
			t.Fatal(err)
		}
		data, _ := base64.StdEncoding.DecodeString(m.Data)
		if string(data) != want || m.Size != len(want) || m.Time.IsZero() {
			t.Fatalf("line %d: %s", i, lines[i])
		}
		if (m.Text != nil) != (i < 2) || (m.Text != nil && *m.Text != want) {
			t.Fatalf("line %d text: %s", i, lines[i])
		}
		if m.Sender.PID != os.Getpid() || m.Sender.UID != os.Geteuid() {
			t.Fatalf("line %d sender: %s", i, lines[i])
		}
	}
	// The slot is gone once the listener exits.
	if _, err := mailslot.Open(name); !errors.Is(err, mailslot.ErrNotFound) {
		t.Fatalf("slot survived its listener: %v", err)
	}
}

func TestListenStopsOnSIGTERM(t *testing.T) {
	name := slotName(t)
	cmd, out := startListener(t, name)
	mailslot.Send(name, []byte("plain text"))
	mailslot.Send(name, []byte("\x1b[31mred"))
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitCmd(t, cmd); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if got := out.String(); got != "plain text\n\"\\x1b[31mred\"\n" {
		t.Fatalf("output %q (escape sequences must not reach the terminal raw)", got)
	}
}

func TestListenTimeout(t *testing.T) {
	_, errOut, code := cli("", "listen", slotName(t), "--timeout", "50ms")
	if code != 1 || !strings.Contains(errOut, "timeout") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestSIGKILLFreesTheName(t *testing.T) {
	name := slotName(t)
	cmd, _ := startListener(t, name)
	w, err := mailslot.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("before")); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// Nothing is left behind: the name can be created again at once, and
	// the old writer is told its slot is gone instead of writing into a void.
	s, err := mailslot.Create(name, nil)
	if err != nil {
		t.Fatalf("create after SIGKILL: %v", err)
	}
	defer s.Close()
	if _, err := w.Write([]byte("after")); !errors.Is(err, mailslot.ErrNotFound) {
		t.Fatalf("old writer: %v", err)
	}
	if n := queued(t, s); n != 0 {
		t.Fatalf("new slot got %d messages", n)
	}
}

func TestPermissions(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name    string
		cfg     mailslot.Config
		groups  string // setpriv group options for the writer
		allowed bool
	}{
		{"default denies another user", mailslot.Config{}, "--clear-groups", false},
		{"AllowAnyone admits it", mailslot.Config{AllowAnyone: true}, "--clear-groups", true},
		{"AllowGroups admits a member by primary group", mailslot.Config{AllowGroups: []int{65534}}, "--clear-groups", true},
		{"AllowGroups admits a supplementary member", mailslot.Config{AllowGroups: []int{4242}}, "--groups=4242", true},
		{"AllowGroups denies a non-member", mailslot.Config{AllowGroups: []int{4242}}, "--groups=4343", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := slotName(t)
			s, err := mailslot.Create(name, &tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", tc.groups, cliPath, "send", name, "from nobody")
			cmd.Env = append(os.Environ(), helperEnv+"=1")
			var errOut bytes.Buffer
			cmd.Stderr = &errOut
			err = cmd.Run()
			if tc.allowed {
				if err != nil {
					t.Fatalf("send as nobody: %v: %s", err, errOut.String())
				}
				m, err := s.ReadMessage(t.Context())
				if err != nil || string(m.Data) != "from nobody" || m.Sender.UID != 65534 || m.Sender.GID != 65534 {
					t.Fatalf("message %+v, %v", m, err)
				}
				return
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(errOut.String(), "access denied") {
				t.Fatalf("want exit 1 with access denied, got %v: %q", err, errOut.String())
			}
			if n := queued(t, s); n != 0 {
				t.Fatalf("a denied writer queued %d messages", n)
			}
		})
	}
}

func TestRawSendsFromUnadmittedUsersAreRefused(t *testing.T) {
	needRoot(t)
	// A process that skips Open and writes to the slot's socket directly
	// (datagrams, or records before the slot has spoken) gets nothing in:
	// the slot admits connections, not datagrams, and hangs up on a refused
	// one without reading it.
	t.Setenv(mailslot.NamespaceEnv, fmt.Sprintf("rawtest-%d", os.Getpid()))
	name := slotName(t)
	s, err := mailslot.Create(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cliPath, "rawsend-test")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("raw sender: %v %s", err, out)
	}
	if n := queued(t, s); n != 0 {
		t.Fatalf("%d messages from an unadmitted raw sender were queued", n)
	}
}

// rawSend tries to put messages into every slot of the current namespace
// without going through Open: datagrams to the slot's address, and records
// sent on a fresh connection before the slot has said anything. It counts
// what the kernel let it send; none of it may be queued.
func rawSend() int {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	prefix := "@mailslot/" + os.Getenv(mailslot.NamespaceEnv) + "/"
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || !strings.HasPrefix(f[7], prefix) {
			continue
		}
		found++
		if c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: f[7], Net: "unixgram"}); err == nil {
			for i := 0; i < 5; i++ {
				c.Write([]byte("sneaky datagram"))
			}
			c.Close()
		}
		if c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: f[7], Net: "unixpacket"}); err == nil {
			for i := 0; i < 5; i++ {
				c.Write([]byte("sneaky record"))
			}
			c.Close()
		}
	}
	if found == 0 {
		fmt.Fprintln(os.Stderr, "no slot socket found under", prefix)
		return 1
	}
	return 0
}

func TestList(t *testing.T) {
	name := slotName(t)
	s, err := mailslot.Create(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mailslot.Send(name, []byte("x"))
	out, errOut, code := cli("", "ls", "--json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var slots []jsonSlot
	if err := json.Unmarshal([]byte(out), &slots); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sl := range slots {
		if sl.Name == name {
			found = sl.PID == os.Getpid() && sl.UID == os.Geteuid() && sl.Messages != nil && *sl.Messages == 1 && sl.Writable
		}
	}
	if !found {
		t.Fatalf("%s not listed correctly: %s", name, out)
	}
	out, _, _ = cli("", "ls")
	if !strings.Contains(out, name) || !strings.HasPrefix(out, "NAME") {
		t.Fatalf("table: %q", out)
	}
}

func TestSendOwner(t *testing.T) {
	needRoot(t)
	// Another user holds the name: --owner refuses to send to it, and
	// says who really reads it.
	name := slotName(t)
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", cliPath, "listen", name, "--allow-anyone")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	_, out := startListenerCmd(t, cmd)
	_, errOut, code := cli("", "send", "--owner", "root", name, "secret")
	if code != 1 || !strings.Contains(errOut, "access denied") || !strings.Contains(errOut, "uid 65534") {
		t.Fatalf("send --owner root to a slot of uid 65534: exit %d, %q", code, errOut)
	}
	if _, errOut, code := cli("", "send", "--owner", "65534", name, "hello"); code != 0 {
		t.Fatalf("send --owner 65534: exit %d, %q", code, errOut)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "hello") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := out.String(); got != "hello\n" {
		t.Fatalf("the listener printed %q", got)
	}
}

// waitCmd waits for a subprocess, failing the test instead of hanging.
func waitCmd(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("subprocess still running after 30 s")
		return nil
	}
}

func TestListenJSONSenderShapes(t *testing.T) {
	for _, tc := range []struct {
		from mailslot.Sender
		want string
	}{
		{mailslot.Sender{PID: 7, UID: 1000, GID: 100}, `"sender":{"pid":7,"uid":1000,"gid":100}`},
		{mailslot.Sender{PID: -1, UID: -1, GID: -1, Remote: true, Host: "ALPHA", Addr: netip.MustParseAddrPort("192.0.2.11:138")},
			`"sender":{"name":"ALPHA","ip":"192.0.2.11","port":138}`},
	} {
		var b bytes.Buffer
		if err := printJSON(&b, mailslot.Message{Data: []byte("x"), Sender: tc.from}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("%+v printed %s, want %s", tc.from, b.String(), tc.want)
		}
	}
}
