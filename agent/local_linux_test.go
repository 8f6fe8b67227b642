package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/transport/memnet"
	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/winerr"
	"golang.org/x/sys/unix"
)

// TestLocalProtocol drives the agent socket as the root package's hooks
// do: a slot registers, a writer opens a remote target and writes, and the
// tools query. Real sockets, so no synctest; waits are generous.
func TestLocalProtocol(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root: clients check that the agent socket belongs to uid 0")
	}
	nw := memnet.New(3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := func(name string, x byte, ns string) *Agent {
		h := nw.Host(name)
		h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, x}), 24))
		a, err := New(Config{Name: name, Workgroup: "TESTGRP", Transport: h, Namespace: ns, DisableDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		go a.Run(ctx)
		return a
	}
	nsA := fmt.Sprintf("agtest-a-%d", os.Getpid())
	nsB := fmt.Sprintf("agtest-b-%d", os.Getpid())
	start("ALPHA", 11, nsA)
	start("BRAVO", 12, nsB)
	time.Sleep(1500 * time.Millisecond) // registration

	buf := make([]byte, agentproto.MaxFrame)
	// Registering needs the slot itself: its listening socket, attached.
	slot, err := agentproto.Dial(ctx, nsB)
	if err != nil {
		t.Fatal(err)
	}
	f, err := agentproto.Roundtrip(slot, &agentproto.Frame{Op: agentproto.OpRegister, Path: `App\X`}, buf)
	if err != nil || f.Code != uint32(winerr.ERROR_ACCESS_DENIED) {
		t.Fatalf("register without the slot's socket: %+v %v", f, err)
	}
	slot.Close()
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: agentproto.SlotAddr(nsB, `app\x`), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// A slot on BRAVO registers for app\x.
	slot, err = agentproto.Dial(ctx, nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer slot.Close()
	f, err = registerWith(slot, ln, `App\X`, buf)
	if err != nil || f.Op != agentproto.OpResult || f.Code != 0 {
		t.Fatalf("register: %+v %v", f, err)
	}
	// A writer on ALPHA opens \\BRAVO\mailslot\app\x.
	w, err := agentproto.Dial(ctx, nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err = agentproto.Roundtrip(w, &agentproto.Frame{Op: agentproto.OpOpen, Host: "bravo", Path: `app\x`, Timeout: 2000}, buf)
	if err != nil || f.Code != 0 || f.MaxPayload == 0 {
		t.Fatalf("open: %+v %v", f, err)
	}
	msg, _ := (&agentproto.Frame{Op: agentproto.OpWrite, Data: []byte("over the wire")}).Append(nil)
	if _, err := w.Write(msg); err != nil {
		t.Fatal(err)
	}
	slot.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := slot.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	d, err := agentproto.Decode(buf[:n])
	if err != nil || d.Op != agentproto.OpDeliver || string(d.Data) != "over the wire" ||
		string(d.FromName[:5]) != "ALPHA" || d.From != netip.MustParseAddrPort("192.0.2.11:138") {
		t.Fatalf("delivery: %+v %v", d, err)
	}

	// An unknown host fails the open with ERROR_BAD_NETPATH naming it.
	w2, err := agentproto.Dial(ctx, nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	f, err = agentproto.Roundtrip(w2, &agentproto.Frame{Op: agentproto.OpOpen, Host: "NOWHERE", Path: "x", Timeout: 1000}, buf)
	if err != nil || f.Code != uint32(winerr.ERROR_BAD_NETPATH) || !contains(f.Message, "NOWHERE") {
		t.Fatalf("open of an unknown host: %+v %v", f, err)
	}

	// The names query.
	q, err := agentproto.Dial(ctx, nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	f, err = agentproto.Roundtrip(q, &agentproto.Frame{Op: agentproto.OpQuery, Kind: agentproto.QueryNames}, buf)
	var tab agentproto.NameTable
	if err != nil || f.Op != agentproto.OpJSON || json.Unmarshal(f.Data, &tab) != nil || tab.Name != "BRAVO" || tab.Names[0].State != "active" {
		t.Fatalf("names: %+v %v %+v", f, err, tab)
	}
}

// registerWith sends a Register frame with ln's descriptor attached, as a
// slot does, and reads the answer.
func registerWith(c *net.UnixConn, ln *net.UnixListener, path string, buf []byte) (agentproto.Frame, error) {
	req, _ := (&agentproto.Frame{Op: agentproto.OpRegister, Path: path}).Append(nil)
	rc, err := ln.SyscallConn()
	if err != nil {
		return agentproto.Frame{}, err
	}
	var werr error
	rc.Control(func(fd uintptr) { werr = agentproto.WriteWithFD(c, req, int(fd)) })
	if werr != nil {
		return agentproto.Frame{}, werr
	}
	n, err := c.Read(buf)
	if err != nil {
		return agentproto.Frame{}, err
	}
	f, err := agentproto.Decode(buf[:n])
	if err == nil && f.Op == agentproto.OpResult && f.Code == 0 {
		ready, _ := (&agentproto.Frame{Op: agentproto.OpReady}).Append(nil)
		_, err = c.Write(ready)
	}
	return f, err
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestSendPolicy(t *testing.T) {
	a := &Agent{cfg: Config{AllowUsers: []int{1000}, AllowGroups: []int{2000}}}
	for _, c := range []struct {
		cred unix.Ucred
		ok   bool
	}{
		{unix.Ucred{Uid: 0, Gid: 0}, true},
		{unix.Ucred{Uid: 1000, Gid: 1000}, true},
		{unix.Ucred{Uid: 1001, Gid: 2000}, true},
		{unix.Ucred{Uid: 1001, Gid: 1001, Pid: int32(os.Getpid())}, false},
	} {
		err := a.allowed(&c.cred)
		if (err == nil) != c.ok {
			t.Errorf("uid %d gid %d: err = %v", c.cred.Uid, c.cred.Gid, err)
		}
		if err != nil && err.(*Error).Code != winerr.ERROR_ACCESS_DENIED {
			t.Errorf("code %v", err.(*Error).Code)
		}
	}
	open := &Agent{}
	if err := open.allowed(&unix.Ucred{Uid: 4242}); err != nil {
		t.Errorf("default policy refused a user: %v", err)
	}
}

// TestSendRateLimitIsBackPressure checks that a user over the outbound rate
// is slowed down, not dropped: every message arrives, and not sooner than
// the rate allows (a lower bound, which load cannot break).
func TestSendRateLimitIsBackPressure(t *testing.T) {
	nw := memnet.New(4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mk := func(name string, x byte, ns string, cfg Config) *Agent {
		h := nw.Host(name)
		h.AddInterface("lan", netip.PrefixFrom(netip.AddrFrom4([4]byte{192, 0, 2, x}), 24))
		cfg.Name, cfg.Workgroup, cfg.Transport, cfg.Namespace, cfg.DisableDNS = name, "TESTGRP", h, ns, true
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		go a.Run(ctx)
		return a
	}
	mk("ALPHA", 11, fmt.Sprintf("agrate-%d", os.Getpid()), Config{RateOut: 100, BurstOut: 10})
	b := mk("BRAVO", 12, "", Config{NoLocalSocket: true})
	sub, _ := b.Router().Subscribe("r", nil)
	time.Sleep(1500 * time.Millisecond)
	w, err := agentproto.Dial(ctx, fmt.Sprintf("agrate-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	buf := make([]byte, agentproto.MaxFrame)
	if f, err := agentproto.Roundtrip(w, &agentproto.Frame{Op: agentproto.OpOpen, Host: "BRAVO", Path: "r", Timeout: 2000}, buf); err != nil || f.Code != 0 {
		t.Fatalf("open: %+v %v", f, err)
	}
	const n = 110
	start := time.Now()
	for i := 0; i < n; i++ {
		b, _ := (&agentproto.Frame{Op: agentproto.OpWrite, Data: []byte{byte(i)}}).Append(nil)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		select {
		case d := <-sub.C:
			if d.Data[0] != byte(i) {
				t.Fatalf("message %d is %d", i, d.Data[0])
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("only %d of %d arrived", i, n)
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("%d messages at 100/s (burst 10) took only %v", n, d)
	}
}

// holdEnv makes the test binary hold a slot address (another process).
const holdEnv = "AGENT_TEST_HOLD_SLOT"

func TestMain(m *testing.M) {
	if addr := os.Getenv(holdEnv); addr != "" {
		ln, err := net.Listen("unixpacket", addr)
		if err != nil {
			os.Exit(3)
		}
		defer ln.Close()
		os.Stdout.WriteString("ready\n")
		time.Sleep(time.Minute)
		return
	}
	os.Exit(m.Run())
}

// runLocalAgent runs agent ALPHA on a memnet host, with its agent socket
// in namespace ns, until ctx ends.
func runLocalAgent(ctx context.Context, t *testing.T, ns string, seed uint64) *Agent {
	t.Helper()
	h := memnet.New(seed).Host("ALPHA")
	h.AddInterface("lan", netip.MustParsePrefix("192.0.2.11/24"))
	a, err := New(Config{Name: "ALPHA", Transport: h, Namespace: ns, DisableDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)
	return a
}

// TestRegisterNeedsTheSlotsCreator: a local process cannot register for
// (and so read the network messages of) a slot another process created.
func TestRegisterNeedsTheSlotsCreator(t *testing.T) {
	ns := fmt.Sprintf("agsteal-%d", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runLocalAgent(ctx, t, ns, 5)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+agentproto.SlotAddr(ns, "victim"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, err := out.Read(make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, agentproto.MaxFrame)
	for name, attach := range map[string]string{
		"nothing attached":      "",
		"another slot's socket": agentproto.SlotAddr(ns, "mine"),
	} {
		c, err := agentproto.Dial(ctx, ns)
		if err != nil {
			t.Fatal(err)
		}
		var f agentproto.Frame
		if attach == "" {
			f, err = agentproto.Roundtrip(c, &agentproto.Frame{Op: agentproto.OpRegister, Path: "VICTIM"}, buf)
		} else {
			ln, lerr := net.ListenUnix("unixpacket", &net.UnixAddr{Name: attach, Net: "unixpacket"})
			if lerr != nil {
				t.Fatal(lerr)
			}
			f, err = registerWith(c, ln, "VICTIM", buf)
			ln.Close()
		}
		c.Close()
		if err != nil || f.Code != uint32(winerr.ERROR_ACCESS_DENIED) {
			t.Fatalf("%s: registering another process's slot: %+v %v", name, f, err)
		}
	}
}

// TestDeliveryOrderDirectAndQueued: a slot that does not read fills its
// socket, after which deliveries go through the queue; once it reads, it
// gets every message in the order sent, those written directly first.
func TestDeliveryOrderDirectAndQueued(t *testing.T) {
	ns := fmt.Sprintf("agorder-%d", os.Getpid())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := runLocalAgent(ctx, t, ns, 6)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: agentproto.SlotAddr(ns, "order"), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	slot, err := agentproto.Dial(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	defer slot.Close()
	buf := make([]byte, agentproto.MaxFrame)
	if f, err := registerWith(slot, ln, "ORDER", buf); err != nil || f.Code != 0 {
		t.Fatalf("register: %+v %v", f, err)
	}
	// The agent reads the ready frame on its own goroutine: wait until the
	// first delivery goes direct (generous: a loaded machine).
	src := netip.MustParseAddrPort("192.0.2.12:138")
	send := func(i int) {
		a.Router().Dispatch(&Inbound{Path: "order", Src: src, Data: []byte(fmt.Sprint(i))})
	}
	next := 0
	for deadline := time.Now().Add(20 * time.Second); a.M.DeliveredDirect.Load() == 0; next++ {
		if time.Now().After(deadline) {
			t.Fatal("no delivery went direct")
		}
		send(next)
		time.Sleep(time.Millisecond)
	}
	// Within the queue's bound, so nothing may be dropped.
	const total = DefaultDeliveryQueue
	for ; next < total; next++ {
		send(next)
	}
	slot.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i := 0; i < total; i++ {
		n, err := slot.Read(buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		d, err := agentproto.Decode(buf[:n])
		if err != nil || string(d.Data) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q %v", i, d.Data, err)
		}
	}
	m := a.M.Snapshot()
	if m["queue_full"] != 0 || m["delivered"] != total || m["delivered_direct"] == total {
		t.Fatalf("want %d delivered, some through the queue, none dropped: %v", total, m)
	}
	t.Logf("%d of %d written directly", m["delivered_direct"], total)
}
