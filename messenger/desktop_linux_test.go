package messenger

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/mailslot/mailslot/internal/netnstest"
)

// insideBus is set in the environment of the test binary re-run under
// dbus-run-session.
const insideBus = "MAILSLOT_TEST_INSIDE_DBUS"

// onSessionBus runs the test named by t in a fresh private session bus
// (dbus-run-session from Debian's dbus-daemon package) and reports its
// result; it returns true when the caller is that inner run.
func onSessionBus(t *testing.T) bool {
	if os.Getenv(insideBus) == "1" {
		return true
	}
	if _, err := exec.LookPath("dbus-run-session"); err != nil {
		t.Fatalf("dbus-run-session is needed (apt-get install dbus-daemon): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dbus-run-session", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=90s")
	cmd.Env = append(os.Environ(), insideBus+"=1")
	// The bus and the inner test die with their process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("under dbus-run-session: %v\n%s", err, out)
	}
	return false
}

// notifications is a test-owned org.freedesktop.Notifications server that
// records calls; with block set it never answers.
type notifications struct {
	mu    sync.Mutex
	calls [][]any
	block chan struct{}
}

func (n *notifications) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	if n.block != nil {
		<-n.block
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.calls = append(n.calls, []any{app, summary, body})
	return uint32(len(n.calls)), nil
}

func serveNotifications(t *testing.T, n *notifications) {
	t.Helper()
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.Export(n, "/org/freedesktop/Notifications", "org.freedesktop.Notifications"); err != nil {
		t.Fatal(err)
	}
	reply, err := conn.RequestName("org.freedesktop.Notifications", dbus.NameFlagDoNotQueue)
	if err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning the name: %v %v", reply, err)
	}
}

var popup = Record{From: "ALICE", To: "BRAVO", Host: "ALPHA", Text: "<b>lunch</b> & \\x1b[2J?", Time: time.Now()}

func TestDesktopNotification(t *testing.T) {
	if !onSessionBus(t) {
		return
	}
	srv := &notifications{}
	serveNotifications(t, srv)
	ctx := context.Background()
	d, err := ConnectDesktop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Notify(ctx, popup); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.calls) != 1 {
		t.Fatalf("%d calls", len(srv.calls))
	}
	c := srv.calls[0]
	if c[0] != "mailslot" || c[1] != "Message from ALICE to BRAVO" || c[2] != `&lt;b&gt;lunch&lt;/b&gt; &amp; \x1b[2J?` {
		t.Errorf("call %q", c)
	}
}

// No notification server, or one that never answers: Notify fails, it
// does not hang (the bound is NotifyTimeout), and the messenger falls
// back to the terminal.
func TestDesktopMissingOrStuck(t *testing.T) {
	if !onSessionBus(t) {
		return
	}
	ctx := context.Background()
	d, err := ConnectDesktop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Notify(ctx, popup); err == nil {
		t.Fatal("Notify succeeded with no notification server")
	}
	srv := &notifications{block: make(chan struct{})}
	defer close(srv.block)
	serveNotifications(t, srv)
	done := make(chan error, 1)
	go func() { done <- d.Notify(ctx, popup) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("stuck server: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Notify hung on a stuck server")
	}
	// The fallback: show() writes the popup to the terminal.
	pty := netnstest.OpenPTY(t)
	s := &shower{o: Options{Terminals: []string{pty.Path}}, log: discard}
	s.show(ctx, popup)
	if got := pty.ReadUntil("?\r\n", 10*time.Second); !strings.Contains(got, "Message from ALICE to BRAVO") {
		t.Errorf("terminal got %q", got)
	}
}
