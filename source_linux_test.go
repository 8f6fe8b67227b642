package mailslot

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The hook the network agent uses: a connected SOCK_SEQPACKET source whose
// records are decoded into messages with a remote Sender.

// testDecode reads "HOST|payload" records; anything without '|' is refused.
func testDecode(b []byte) ([]byte, Sender, bool) {
	host, payload, ok := bytes.Cut(b, []byte("|"))
	if !ok {
		return nil, Sender{}, false
	}
	return payload, Sender{PID: -1, UID: -1, GID: -1, Remote: true, Host: string(host),
		Addr: netip.MustParseAddrPort("192.0.2.11:138")}, true
}

func TestAddSource(t *testing.T) {
	t.Setenv(NamespaceEnv, "source-test")
	s, err := Create(`\\.\mailslot\source\test`, &Config{Quota: 4 * MessageCost(1000), MaxMessageSize: 1000, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	agent := fds[1]
	defer unix.Close(agent)
	closed := make(chan struct{})
	if err := s.addSource(fds[0], testDecode, func() { close(closed) }); err != nil {
		t.Fatal(err)
	}
	send := func(rec string) {
		t.Helper()
		if _, err := unix.Write(agent, []byte(rec)); err != nil {
			t.Fatal(err)
		}
	}
	send("ALPHA|hello")
	send("garbage")
	send("BETA|")
	m, err := s.ReadMessage(context.Background())
	if err != nil || string(m.Data) != "hello" || !m.Sender.Remote || m.Sender.Host != "ALPHA" ||
		m.Sender.Addr.Port() != 138 || m.Sender.PID != -1 {
		t.Fatalf("first message %+v, %v", m, err)
	}
	m, err = s.ReadMessage(context.Background())
	if err != nil || len(m.Data) != 0 || m.Sender.Host != "BETA" {
		t.Fatalf("second message %+v, %v", m, err)
	}
	// What the quota cannot take is dropped and counted; the source never
	// blocks (every send below returns at once).
	for i := 0; i < 10; i++ {
		send("GAMMA|" + string(make([]byte, 1000)))
	}
	info, err := s.Info()
	if err != nil || info.MessageCount != 4 {
		t.Fatalf("info %+v, %v; want the 4 the quota takes", info, err)
	}
	s.mu.Lock()
	dropped := s.dropped
	s.mu.Unlock()
	if dropped != 1+6 { // the garbage record, and 6 over quota
		t.Fatalf("dropped %d, want 7", dropped)
	}
	// Local writers share the quota with the source: the slot is full.
	w, err := Open(`\\.\mailslot\source\test`)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetWriteTimeout(0)
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("a local write went past the quota the source filled")
	}
	unix.Close(agent)
	agent = -1
	s.Info() // takes in the hang-up
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("onClose did not run when the source hung up")
	}
}

func TestAddSourceOnCloseRunsWhenTheSlotCloses(t *testing.T) {
	t.Setenv(NamespaceEnv, "source-test")
	s, err := Create(`\\.\mailslot\source\close`, nil)
	if err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	closed := make(chan struct{})
	if err := s.addSource(fds[0], testDecode, func() { close(closed) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("onClose did not run when the slot closed")
	}
}
