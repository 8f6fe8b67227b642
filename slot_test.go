package mailslot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/winerr"
)

func TestCloseWakesBlockedReaders(t *testing.T) {
	s := mustCreate(t, uniqueName(t), &mailslot.Config{ReadTimeout: mailslot.WaitForever})
	errc := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			_, err := s.Read(make([]byte, 8))
			errc <- err
		}()
	}
	// The readers must be blocked (not failed early) before Close.
	select {
	case err := <-errc:
		t.Fatalf("a reader returned before Close: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("reader %d: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("reader %d still blocked after Close", i)
		}
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReadMessageContextAndMetadata(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{ReadTimeout: mailslot.WaitForever})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := s.ReadMessage(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	before := time.Now()
	mustWrite(t, mustOpen(t, name), "hello")
	m, err := s.ReadMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "hello" || m.Time.Before(before) {
		t.Fatalf("message %+v", m)
	}
	want := localSender() // platform hook: -1s on Windows
	if m.Sender != want {
		t.Fatalf("sender %+v, want %+v", m.Sender, want)
	}
}

func TestDeadlines(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{ReadTimeout: mailslot.WaitForever})
	// A deadline set while a read is blocked ends that read.
	errc := make(chan error, 1)
	go func() { _, err := s.Read(make([]byte, 8)); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	s.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if err := waitErr(t, errc); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	// A past deadline fails at once; clearing it restores blocking reads.
	s.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	s.SetReadDeadline(time.Time{})
	sent := make(chan error, 1)
	go func() { time.Sleep(20 * time.Millisecond); sent <- mailslot.Send(name, []byte("x")) }()
	go func() { _, err := s.Read(make([]byte, 8)); errc <- err }()
	if err := waitErr(t, sent); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, errc); err != nil {
		t.Fatalf("after clearing: %v", err)
	}
	// SetReadTimeout changes later reads and Info reports it.
	s.SetReadTimeout(0)
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, mailslot.ErrTimeout) {
		t.Fatalf("timeout 0: %v", err)
	}
	if info := mustInfo(t, s); info.ReadTimeout != 0 {
		t.Fatalf("info timeout %v", info.ReadTimeout)
	}
}

func TestFIFOAcrossWriters(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{ReadTimeout: time.Minute})
	const writers, each = 8, 500
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		w := mustOpen(t, name)
		w.SetWriteTimeout(time.Minute)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if _, err := fmt.Fprintf(w, "%d %d", i, j); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	buf := make([]byte, 64)
	for k := 0; k < writers*each; k++ {
		n, err := s.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var i, j int
		fmt.Sscanf(string(buf[:n]), "%d %d", &i, &j)
		if j != next[i] {
			t.Fatalf("writer %d: got message %d, want %d", i, j, next[i])
		}
		next[i]++
	}
	wg.Wait()
}

func TestOrderFollowsWriteCompletion(t *testing.T) {
	// A message whose Write returned before another Write started is read first.
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	a, b := mustOpen(t, name), mustOpen(t, name)
	for i := 0; i < 100; i++ {
		mustWrite(t, a, "a")
		mustWrite(t, b, "b")
	}
	buf := make([]byte, 1)
	for i := 0; i < 200; i++ {
		if _, err := s.Read(buf); err != nil || buf[0] != "ab"[i%2] {
			t.Fatalf("message %d: %q %v", i, buf, err)
		}
	}
}

func TestOrderFollowsWriteCompletionWhileReading(t *testing.T) {
	// The same across eight connections while the reader keeps up: a read
	// takes in only part of what the kernel holds, so messages taken in
	// must wait for older ones still in other connections.
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{ReadTimeout: time.Minute})
	total := 20000 // enough rounds of drains to catch a wrong cut-off most times
	if runtime.GOOS != "linux" {
		total = 4000 // Wine is slow, and has no partial drains to catch
	}
	var tw turns
	tw.start(t, name, 8, total)
	for read := 0; read < total; {
		readInOrder(t, s, &read)
	}
	tw.wg.Wait()
}

// turns are writers that take turns: each write, under mu, sends the
// decimal number written and then counts it, so every Write returns before
// the next begins and the numbers must be read in order.
type turns struct {
	mu      sync.Mutex
	written int
	stop    bool
	wg      sync.WaitGroup
}

// start opens n writers on name that write in turns until limit writes or
// stop. They stop before the writers close when the test ends.
func (tw *turns) start(t *testing.T, name string, n, limit int) {
	defer t.Cleanup(func() {
		tw.mu.Lock()
		tw.stop = true
		tw.mu.Unlock()
		tw.wg.Wait()
	})
	for i := 0; i < n; i++ {
		w := mustOpen(t, name)
		w.SetWriteTimeout(time.Minute)
		tw.wg.Add(1)
		go func() {
			defer tw.wg.Done()
			for {
				tw.mu.Lock()
				if tw.stop || tw.written == limit {
					tw.mu.Unlock()
					return
				}
				_, err := fmt.Fprint(w, tw.written)
				if err == nil {
					tw.written++
				}
				tw.mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
}

// readInOrder reads the next message of turns and fails unless it is the
// number *read, which it then advances.
func readInOrder(t *testing.T, s *mailslot.Slot, read *int) {
	t.Helper()
	buf := make([]byte, 16)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != fmt.Sprint(*read) {
		t.Fatalf("read %d: %q, %v", *read, buf[:n], err)
	}
	*read++
}

func TestMessageTooLargeQueuesNothing(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{MaxMessageSize: 10})
	w := mustOpen(t, name)
	_, err := w.Write(make([]byte, 11))
	if wineDeviation(t, "size limit not enforced") {
		// Wine queues the message (and a Writer cannot ask a Wine slot for
		// its maximum); read it away so that the rest holds.
		if _, rerr := s.Read(make([]byte, 11)); err != nil || rerr != nil {
			t.Fatalf("Wine: write %v, read %v", err, rerr)
		}
	} else if !errors.Is(err, mailslot.ErrMessageTooLarge) {
		t.Fatalf("err %v", err)
	}
	mustWrite(t, w, "0123456789")
	if info := mustInfo(t, s); info.MessageCount != 1 || info.NextSize != 10 || info.MaxMessageSize != 10 {
		t.Fatalf("info %+v", info)
	}
}

func TestLargestLocalMessage(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	w := mustOpen(t, name)
	big := bytes.Repeat([]byte("0123456789abcdef"), mailslot.MaxLocalMessageSize/16)
	mustWrite(t, w, string(big))
	if _, err := w.Write(append(big, 'x')); localMessageCap && !errors.Is(err, mailslot.ErrMessageTooLarge) {
		t.Fatalf("64 KiB + 1: %v", err)
	}
	buf := make([]byte, len(big))
	if n, err := s.Read(buf); err != nil || !bytes.Equal(buf[:n], big) {
		t.Fatalf("read %d, %v", n, err)
	}
}

func TestFullSlotFailsWritersWithinBound(t *testing.T) {
	unixOnly(t, "Windows' kernel bounds its own queue; Config.Quota is not used (docs/semantics.md)")
	name := uniqueName(t)
	const quota = 16 << 10
	s := mustCreate(t, name, &mailslot.Config{Quota: quota, MaxMessageSize: 1024})
	w := mustOpen(t, name)
	msg := make([]byte, 1000)
	accepted := 0
	var err error
	for accepted < 10000 {
		start := time.Now()
		if _, err = w.Write(msg); err != nil {
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Fatalf("write took %v to fail", elapsed)
			}
			break
		}
		accepted++
	}
	if !errors.Is(err, mailslot.ErrSlotFull) || mailslot.Code(err) != winerr.ERROR_NOT_ENOUGH_QUOTA {
		t.Fatalf("after %d messages: %v", accepted, err)
	}
	// Bounded by the quota exactly: nothing waits uncounted in the kernel.
	// (MessageCost is how the Linux backend charges; Windows has its own.)
	if want := quota / mailslot.MessageCost(len(msg)); runtime.GOOS == "linux" && accepted != want {
		t.Fatalf("accepted %d messages, the quota takes %d", accepted, want)
	}
	// Every accepted message is delivered: none is lost.
	buf := make([]byte, 1024)
	for i := 0; i < accepted; i++ {
		if _, err := s.Read(buf); err != nil {
			t.Fatalf("message %d of %d: %v", i, accepted, err)
		}
	}
	if _, err := s.Read(buf); !errors.Is(err, mailslot.ErrTimeout) {
		t.Fatalf("extra message: %v", err)
	}
	// Reading made room: writes succeed again.
	mustWrite(t, w, "again")
	// With a zero write timeout a full slot fails immediately.
	w.SetWriteTimeout(0)
	for i := 0; i < 10000; i++ {
		if _, err = w.Write(msg); err != nil {
			break
		}
	}
	if !errors.Is(err, mailslot.ErrSlotFull) {
		t.Fatalf("timeout 0: %v", err)
	}
}

func TestWriterAfterReaderCloses(t *testing.T) {
	unixOnly(t, "writers keep a closed slot's queue and name (TestWindowsWriterAfterReaderCloses)")
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	w := mustOpen(t, name)
	s.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, mailslot.ErrNotFound) {
		t.Fatalf("write to a closed slot: %v", err)
	}
	// A new slot of the same name is not reached by the old writer, and
	// the old writer does not disturb it.
	s2 := mustCreate(t, name, nil)
	w.Write([]byte("x"))
	if info := mustInfo(t, s2); info.MessageCount != 0 {
		t.Fatalf("old writer reached the new slot: %+v", info)
	}
}

func TestUseAfterClose(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	w := mustOpen(t, name)
	w.Close()
	for _, err := range []error{
		func() error { _, err := w.Write(nil); return err }(),
		func() error { _, err := w.Info(); return err }(),
		w.Close(),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("writer after close: %v", err)
		}
	}
	s.Close()
	for _, err := range []error{
		s.SetReadTimeout(0), s.SetReadDeadline(time.Now()),
		func() error { _, err := s.ReadMessage(context.Background()); return err }(),
	} {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("slot after close: %v", err)
		}
	}
}

func TestConcurrentReadersEachGetOneMessage(t *testing.T) {
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{ReadTimeout: mailslot.WaitForever})
	const readers, total = 4, 400
	got := make(chan string, total)
	var wg sync.WaitGroup
	for i := 0; i < readers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 16)
			for {
				n, err := s.Read(buf)
				if err != nil {
					return
				}
				got <- string(buf[:n])
			}
		}()
	}
	w := mustOpen(t, name)
	for i := 0; i < total; i++ {
		mustWrite(t, w, fmt.Sprint(i))
	}
	seen := make([]string, 0, total)
	for i := 0; i < total; i++ {
		select {
		case m := <-got:
			seen = append(seen, m)
		case <-time.After(20 * time.Second):
			t.Fatalf("%d of %d messages after 20 s", i, total)
		}
	}
	s.Close()
	wg.Wait()
	sort.Strings(seen)
	for i := 1; i < len(seen); i++ {
		if seen[i] == seen[i-1] {
			t.Fatalf("message %s delivered twice", seen[i])
		}
	}
}

func TestList(t *testing.T) {
	unixOnly(t, "names only, PIDs unknown (TestWindowsList)")
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	mustWrite(t, mustOpen(t, name), "x")
	slots, err := mailslot.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range slots {
		if st.Name.Equal(s.Name()) {
			if st.PID != os.Getpid() || st.UID != os.Geteuid() || st.Info.MessageCount != 1 || !st.Admitted {
				t.Fatalf("listed %+v", st)
			}
			return
		}
	}
	t.Fatalf("%s not listed in %+v", name, slots)
}

func TestNamespacesAreIsolated(t *testing.T) {
	name := uniqueName(t)
	mustCreate(t, name, nil)
	t.Setenv(mailslot.NamespaceEnv, "another-namespace")
	if _, err := mailslot.Open(name); !errors.Is(err, mailslot.ErrNotFound) {
		t.Fatalf("visible from another namespace: %v", err)
	}
	mustCreate(t, name, nil) // the same name is free there
}

func TestReadAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates; make test runs this test without it")
	}
	name := uniqueName(t)
	s := mustCreate(t, name, nil)
	w := mustOpen(t, name)
	msg, buf := make([]byte, 100), make([]byte, 128)
	for i := 0; i < 100; i++ { // warm the buffer pools
		w.Write(msg)
		s.Read(buf)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per message", allocs)
	}
}

// waitErr waits for a result, failing the test instead of hanging.
func waitErr(t *testing.T, c <-chan error) error {
	t.Helper()
	select {
	case err := <-c:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("still waiting after 20 s")
		return nil
	}
}

func TestSetReadTimeoutAffectsLaterReadsOnly(t *testing.T) {
	// Finding 13: SetReadTimeout, like SetMailslotInfo, applies to reads
	// that start afterwards. A read already waiting forever keeps waiting,
	// even when something else (a new deadline) wakes it to look again.
	name := uniqueName(t)
	s := mustCreate(t, name, &mailslot.Config{ReadTimeout: mailslot.WaitForever})
	errc := make(chan error, 1)
	buf := make([]byte, 8)
	go func() { _, err := s.Read(buf); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	s.SetReadTimeout(time.Millisecond)
	s.SetReadDeadline(time.Now().Add(time.Hour)) // wakes waiting reads
	select {
	case err := <-errc:
		t.Fatalf("the waiting read took the new timeout: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := mailslot.Send(name, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, errc); err != nil {
		t.Fatalf("the waiting read: %v", err)
	}
	// A read that starts now uses the new timeout.
	if _, err := s.Read(buf); !errors.Is(err, mailslot.ErrTimeout) {
		t.Fatalf("later read: %v", err)
	}
}
