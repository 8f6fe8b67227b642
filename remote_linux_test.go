package mailslot_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/winerr"
)

// fakeAgent is a test double of "mailslot agent" on the real agent socket
// of a test namespace. Tests run as root, so its socket belongs to uid 0,
// which is what the hooks check.
type fakeAgent struct {
	t      *testing.T
	ns     string
	ln     *net.UnixListener
	opens  chan agentproto.Frame
	writes chan []byte
	slots  chan *net.UnixConn
	regs   chan agentproto.Frame
	refuse atomic.Uint32 // Win32 code to answer Open with
	max    uint16
}

var agentSeq atomic.Int64

func startFakeAgent(t *testing.T, ns string) *fakeAgent {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the hooks accept only a root-owned agent socket")
	}
	ln, err := agentproto.Listen(ns)
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{t: t, ns: ns, ln: ln, opens: make(chan agentproto.Frame, 16), writes: make(chan []byte, 1024),
		slots: make(chan *net.UnixConn, 16), regs: make(chan agentproto.Frame, 16), max: 424}
	t.Cleanup(func() { ln.Close() })
	go a.serve()
	return a
}

func (a *fakeAgent) serve() {
	for {
		c, err := a.ln.AcceptUnix()
		if err != nil {
			return
		}
		go a.handle(c)
	}
}

func (a *fakeAgent) handle(c *net.UnixConn) {
	buf := make([]byte, agentproto.MaxFrame)
	n, err := c.Read(buf)
	if err != nil {
		c.Close()
		return
	}
	f, err := agentproto.Decode(buf[:n])
	if err != nil {
		c.Close()
		return
	}
	reply := func(code uint32, msg string, max uint16) {
		b, _ := (&agentproto.Frame{Op: agentproto.OpResult, Code: code, Message: msg, MaxPayload: max}).Append(nil)
		c.Write(b)
	}
	switch f.Op {
	case agentproto.OpRegister:
		f.Path = strings.Clone(f.Path)
		a.regs <- f
		reply(0, "", 0)
		a.slots <- c
	case agentproto.OpOpen:
		f.Host, f.Path = strings.Clone(f.Host), strings.Clone(f.Path)
		a.opens <- f
		if code := a.refuse.Load(); code != 0 {
			reply(code, "cannot resolve the NetBIOS name "+f.Host, 0)
			c.Close()
			return
		}
		reply(0, "", a.max)
		defer c.Close()
		for {
			n, err := c.Read(buf)
			if err != nil || n == 0 {
				return
			}
			w, err := agentproto.Decode(buf[:n])
			if err == nil && w.Op == agentproto.OpWrite {
				a.writes <- append([]byte(nil), w.Data...)
			}
		}
	default:
		c.Close()
	}
}

func deliver(t *testing.T, c *net.UnixConn, from string, addr string, data string) {
	t.Helper()
	f := agentproto.Frame{Op: agentproto.OpDeliver, From: netip.MustParseAddrPort(addr), Data: []byte(data)}
	copy(f.FromName[:], fmt.Sprintf("%-16s", from))
	b, err := f.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func testNS(t *testing.T) string {
	return fmt.Sprintf("remote-%d-%d", os.Getpid(), agentSeq.Add(1))
}

func TestRemoteDeliveryToAllowRemoteSlot(t *testing.T) {
	ns := testNS(t)
	a := startFakeAgent(t, ns)
	s := mustCreate(t, `\\.\mailslot\app\remote`, &mailslot.Config{Namespace: ns, AllowRemote: true,
		RemoteNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, ReadTimeout: 10 * time.Second})
	reg := <-a.regs
	if reg.Path != `app\remote` || len(reg.Networks) != 1 || reg.Networks[0].String() != "192.0.2.0/24" {
		t.Fatalf("registration %+v", reg)
	}
	c := <-a.slots
	deliver(t, c, "ALPHA", "192.0.2.11:138", "from afar")
	m, err := s.ReadMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := mailslot.Sender{PID: -1, UID: -1, GID: -1, Remote: true, Host: "ALPHA", Addr: netip.MustParseAddrPort("192.0.2.11:138")}
	if string(m.Data) != "from afar" || m.Sender != want {
		t.Fatalf("message %q from %+v", m.Data, m.Sender)
	}
	// Local writers still write, and are not remote.
	w := mustOpenNS(t, `\\.\mailslot\app\remote`, ns)
	w.Write([]byte("local"))
	m, err = s.ReadMessage(context.Background())
	if err != nil || m.Sender.Remote || m.Sender.UID != os.Geteuid() {
		t.Fatalf("local message %+v %v", m, err)
	}
}

func mustOpenNS(t *testing.T, name, ns string) *mailslot.Writer {
	t.Helper()
	w, err := mailslot.Open(name, mailslot.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestSlotWithoutAllowRemoteNeverRegisters(t *testing.T) {
	ns := testNS(t)
	a := startFakeAgent(t, ns)
	mustCreate(t, `\\.\mailslot\app\private`, &mailslot.Config{Namespace: ns})
	select {
	case r := <-a.regs:
		t.Fatalf("a slot without AllowRemote registered: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
}

func TestRemoteSlotReconnectsAfterAgentRestart(t *testing.T) {
	ns := testNS(t)
	a := startFakeAgent(t, ns)
	s := mustCreate(t, `\\.\mailslot\again`, &mailslot.Config{Namespace: ns, AllowRemote: true, ReadTimeout: 20 * time.Second})
	<-a.regs
	c := <-a.slots
	// The agent dies: its socket and connections go away.
	a.ln.Close()
	c.Close()
	a2 := startFakeAgent(t, ns)
	select {
	case <-a2.regs:
	case <-time.After(20 * time.Second):
		t.Fatal("the slot did not register with the restarted agent")
	}
	deliver(t, <-a2.slots, "BRAVO", "192.0.2.12:138", "resumed")
	m, err := s.ReadMessage(context.Background())
	if err != nil || string(m.Data) != "resumed" || m.Sender.Host != "BRAVO" {
		t.Fatalf("after restart: %+v %v", m, err)
	}
}

func TestSlotDropsFramesThatAreNotDeliveries(t *testing.T) {
	ns := testNS(t)
	a := startFakeAgent(t, ns)
	s := mustCreate(t, `\\.\mailslot\strict`, &mailslot.Config{Namespace: ns, AllowRemote: true, ReadTimeout: 10 * time.Second})
	<-a.regs
	c := <-a.slots
	c.Write([]byte("not a frame"))
	deliver(t, c, "ALPHA", "192.0.2.11:138", "good")
	m, err := s.ReadMessage(context.Background())
	if err != nil || string(m.Data) != "good" {
		t.Fatalf("%+v %v", m, err)
	}
}

func TestRemoteWriter(t *testing.T) {
	ns := testNS(t)
	a := startFakeAgent(t, ns)
	w, err := mailslot.Open(`\\BRAVO\mailslot\app\x`, mailslot.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if o := <-a.opens; o.Host != "BRAVO" || o.Path != `app\x` || o.Timeout == 0 {
		t.Fatalf("open frame %+v", o)
	}
	for _, m := range []string{"one", "", "three"} {
		if _, err := w.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-a.writes:
			if string(got) != m {
				t.Fatalf("agent got %q, want %q", got, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("write did not reach the agent")
		}
	}
	if _, err := w.Write(make([]byte, 425)); !errors.Is(err, mailslot.ErrBadNetPath) {
		t.Fatalf("425-byte write: %v", err)
	}
	if _, err := w.Info(); !errors.Is(err, mailslot.ErrNotSupported) {
		t.Fatalf("info: %v", err)
	}
}

func TestRemoteOpenFailures(t *testing.T) {
	ns := testNS(t)
	// No agent at all: a clear error that says what to do.
	_, err := mailslot.Open(`\\BRAVO\mailslot\x`, mailslot.WithNamespace(ns))
	if !errors.Is(err, mailslot.ErrBadNetPath) || !strings.Contains(err.Error(), "mailslot agent") {
		t.Fatalf("without an agent: %v", err)
	}
	a := startFakeAgent(t, ns)
	a.refuse.Store(uint32(winerr.ERROR_BAD_NETPATH))
	_, err = mailslot.Open(`\\NOWHERE\mailslot\x`, mailslot.WithNamespace(ns))
	if !errors.Is(err, mailslot.ErrBadNetPath) || !strings.Contains(err.Error(), "NOWHERE") || mailslot.Code(err) != winerr.ERROR_BAD_NETPATH {
		t.Fatalf("unresolvable: %v", err)
	}
	a.refuse.Store(uint32(winerr.ERROR_ACCESS_DENIED))
	_, err = mailslot.Open(`\\*\mailslot\x`, mailslot.WithNamespace(ns))
	if !errors.Is(err, mailslot.ErrAccessDenied) {
		t.Fatalf("refused by policy: %v", err)
	}
}
