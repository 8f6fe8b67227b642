//go:build linux

package netnstest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func nsExists(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// Broadcast reaches every other host once, unicast only its target, and
// nothing leaks into the namespace the test runs in.
func TestLabTraffic(t *testing.T) {
	l := New(t)
	hs := l.AddHosts("a", "b", "c")
	// A free port of the test's own namespace: traffic to it in the lab
	// must not show up here.
	outside, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	port := outside.LocalAddr().(*net.UDPAddr).Port
	conns := make([]*net.UDPConn, len(hs))
	for i, h := range hs {
		c, err := h.ListenUDP(fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}

	if _, err := conns[0].WriteTo([]byte("bcast"), &net.UDPAddr{IP: hs[0].Broadcast.AsSlice(), Port: port}); err != nil {
		t.Fatal(err)
	}
	if _, err := conns[0].WriteTo([]byte("uni"), &net.UDPAddr{IP: hs[2].Addr.AsSlice(), Port: port}); err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{1: {"bcast"}, 2: {"bcast", "uni"}}
	for i := 1; i < len(hs); i++ {
		var got []string
		buf := make([]byte, 100)
		// Generous for the expected datagrams (a loaded machine), short
		// for the check that nothing more comes.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if len(got) == len(want[i]) {
				deadline = time.Now().Add(200 * time.Millisecond)
			}
			conns[i].SetReadDeadline(deadline)
			n, from, err := conns[i].ReadFromUDP(buf)
			if err != nil {
				break
			}
			if !from.IP.Equal(hs[0].Addr.AsSlice()) {
				t.Errorf("%s: datagram from %v, want %v", hs[i], from, hs[0].Addr)
			}
			got = append(got, string(buf[:n]))
		}
		if fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("%s received %q, want %q", hs[i], got, want[i])
		}
	}
	outside.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, from, err := outside.ReadFrom(make([]byte, 100)); err == nil {
		t.Errorf("the test's own namespace received %d bytes from %v", n, from)
	}

	out, err := hs[1].Run(10*time.Second, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, hs[1].Addr.String()+"/24 brd 192.0.2.255") {
		t.Errorf("ip addr in %s: %v %s", hs[1], err, out)
	}
}

// Processes are reaped and namespaces deleted when the test ends, also
// when it panics. The panicking test runs in a child process.
func TestCleanupAfterPanic(t *testing.T) {
	if os.Getenv("NETNSTEST_PANIC_CHILD") != "" {
		l := New(t)
		h := l.AddHost("x")
		p := h.Start("sleep", "1000")
		report := fmt.Sprintf("%s %s %d", l.BridgeNS(), h.NS, p.Pid())
		if err := os.WriteFile(os.Getenv("NETNSTEST_PANIC_CHILD"), []byte(report), 0o644); err != nil {
			t.Fatal(err)
		}
		panic("deliberate panic to test cleanup")
	}
	file := filepath.Join(t.TempDir(), "report")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCleanupAfterPanic$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NETNSTEST_PANIC_CHILD="+file)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deliberate panic") {
		t.Fatalf("child did not panic: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("child wrote no report: %v\n%s", err, out)
	}
	f := strings.Fields(string(b))
	for _, ns := range f[:2] {
		if nsExists(t, ns) {
			t.Errorf("namespace %s survived the panic", ns)
			deleteNS(ns)
		}
	}
	pid, _ := strconv.Atoi(f[2])
	if pidAlive(pid) {
		t.Errorf("process %d survived the panic", pid)
	}
}

// Namespaces of dead runs are swept; those of live runs are kept.
func TestSweepStale(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
	// A pid above pid_max can never be alive.
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	stale := fmt.Sprintf("%s%d-0-old", Prefix, pidMax+1)
	live := fmt.Sprintf("%s%d-0-live", Prefix, os.Getpid())
	for _, ns := range []string{stale, live} {
		if err := runIP("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{stale, live} {
			if nsExists(t, ns) {
				deleteNS(ns)
			}
		}
	})
	staleDir := filepath.Join(os.TempDir(), fmt.Sprintf("%s%d-bin-123", Prefix, pidMax+1))
	liveDir, err := TempDir("bin")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(liveDir)
	if err := os.Mkdir(staleDir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(staleDir)
	if err := SweepStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staleDir); err == nil {
		t.Errorf("stale directory %s not swept", staleDir)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("directory %s of a live run was swept: %v", liveDir, err)
	}
	if nsExists(t, stale) {
		t.Errorf("stale namespace %s not swept", stale)
	}
	if !nsExists(t, live) {
		t.Errorf("namespace %s of a live run was swept", live)
	}
}

func TestProcOutputAndStop(t *testing.T) {
	l := New(t)
	h := l.AddHost("a")
	p := h.Start("sh", "-c", "echo ready; echo err >&2; trap 'echo bye; exit 3' TERM; while :; do sleep 0.05; done")
	if _, err := p.WaitOutput("ready", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(5 * time.Second); err == nil {
		t.Error("want exit status 3 after SIGTERM")
	}
	if !strings.Contains(p.Output(), "err") || strings.Contains(p.Stdout(), "err") {
		t.Errorf("output %q / stdout %q", p.Output(), p.Stdout())
	}
	if !strings.Contains(p.Output(), "bye") {
		t.Errorf("SIGTERM handler did not run: %q", p.Output())
	}
	k := h.Start("sleep", "1000")
	if err := k.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := k.Wait(10 * time.Second); err == nil {
		t.Error("killed process reported success")
	}
}

// Started processes survive the end of Go threads: Pdeathsig is tied to
// the thread that forked, and a goroutine that exits locked ends its thread.
func TestProcSurvivesThreadExit(t *testing.T) {
	l := New(t)
	h := l.AddHost("a")
	var procs []*Proc
	for i := 0; i < 20; i++ {
		procs = append(procs, h.Start("sleep", "1000"))
		// End a few threads, as a goroutine locked to its thread does.
		for j := 0; j < 5; j++ {
			done := make(chan struct{})
			go func() {
				runtime.LockOSThread()
				close(done)
			}()
			<-done
		}
	}
	time.Sleep(200 * time.Millisecond)
	for _, p := range procs {
		if ok, err := p.Exited(); ok {
			t.Fatalf("%s died when a Go thread ended: %v", p.Name(), err)
		}
	}
}
