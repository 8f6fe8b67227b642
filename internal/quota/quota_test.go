//go:build linux

package quota

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writerPage maps slot's page a second time, as a writer process does, from
// copies of the descriptors the slot passes.
func writerPage(t *testing.T, slot *Page) *Page {
	t.Helper()
	var fds []int
	for _, fd := range descriptors(t, slot) {
		d, err := unix.Dup(fd)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, d)
	}
	w, err := Map(fds[0], fds[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func descriptors(t *testing.T, slot *Page) []int {
	t.Helper()
	fds, err := slot.Descriptors()
	if err != nil {
		t.Fatal(err)
	}
	return fds
}

// signal is slot's end of its wake channel, made if need be.
func signal(t *testing.T, slot *Page) *waker {
	t.Helper()
	descriptors(t, slot)
	return slot.signal.Load()
}

func newSlotPage(t *testing.T) *Page {
	t.Helper()
	slot, err := Create()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slot.Close() })
	return slot
}

// onlyWakeUps makes waiting writers look at the page only when woken (or at
// their deadline), so that a lost wake-up hangs the test instead of being
// covered by MaxWaitSlice.
func onlyWakeUps(t *testing.T) {
	old := waitSlice
	waitSlice = time.Hour
	t.Cleanup(func() { waitSlice = old })
}

func never() bool { return false }

// waitForWaiters waits (generously) until n writers wait on the page.
func waitForWaiters(t *testing.T, p *Page, n int32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for p.waiters.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d writers wait, want %d", p.waiters.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// expect waits for n results of Reserve, all want: true for writers that
// must get room, false for waits that must end without it.
func expect(t *testing.T, done <-chan bool, n int, want bool) {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case ok := <-done:
			if ok != want {
				t.Fatalf("a wait ended with reserved=%v, want %v", ok, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d waits did not end", n-i, n)
		}
	}
}

func TestReserveReleaseWake(t *testing.T) {
	onlyWakeUps(t)
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	if !w.TryReserve(60, 100) || w.TryReserve(60, 100) || slot.Charged() != 60 {
		t.Fatalf("charged %d", slot.Charged())
	}
	var wg sync.WaitGroup
	got := make(chan bool, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got <- w.Reserve(10, 100, time.Now().Add(30*time.Second), never)
		}()
	}
	wg.Wait() // 4 × 10 fit beside 60
	expect(t, got, 4, true)
	done := make(chan bool, 1)
	go func() { done <- w.Reserve(50, 100, time.Now().Add(time.Hour), never) }()
	waitForWaiters(t, slot, 1)
	slot.Release(60, 100) // the slot, through its own mapping, wakes it
	expect(t, done, 1, true)
}

func TestIdleSlotHasNoWakeChannel(t *testing.T) {
	// The channel is made for the first writer: an idle slot holds one
	// descriptor, and releasing or closing without one is fine.
	slot := newSlotPage(t)
	slot.Release(0, 100)
	slot.MarkClosed()
	if slot.signal.Load() != nil {
		t.Fatal("a slot without writers made a wake channel")
	}
	a, b := descriptors(t, slot), descriptors(t, slot)
	if len(a) != 2 || a[0] != b[0] || a[1] != b[1] {
		t.Fatalf("descriptors %v then %v", a, b)
	}
}

func TestDeadlineWithoutWakeUp(t *testing.T) {
	// A slot that never signals (hostile, or stopped) cannot hold a writer
	// past its deadline.
	onlyWakeUps(t)
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	w.TryReserve(100, 100)
	start := time.Now()
	if w.Reserve(50, 100, time.Now().Add(50*time.Millisecond), never) {
		t.Fatal("reserved beyond the quota")
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("gave up before its deadline")
	}
	if slot.waiters.Load() != 0 {
		t.Fatal("a writer that gave up is still counted as waiting")
	}
}

func TestKickEndsWaits(t *testing.T) {
	// Closing a Writer kicks its waits (leader and followers) out at once.
	onlyWakeUps(t)
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	w.TryReserve(100, 100)
	var stop sync.Mutex
	stopped := false
	isStopped := func() bool { stop.Lock(); defer stop.Unlock(); return stopped }
	done := make(chan bool, 3)
	for i := 0; i < 3; i++ {
		go func() { done <- w.Reserve(10, 100, time.Now().Add(time.Hour), isStopped) }()
	}
	waitForWaiters(t, slot, 3)
	stop.Lock()
	stopped = true
	stop.Unlock()
	w.Kick()
	expect(t, done, 3, false)
}

func TestMarkClosedWakesWaiters(t *testing.T) {
	onlyWakeUps(t)
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	w.TryReserve(100, 100)
	done := make(chan bool, 1)
	go func() { done <- w.Reserve(10, 100, time.Now().Add(time.Hour), never) }()
	waitForWaiters(t, slot, 1)
	slot.MarkClosed()
	expect(t, done, 1, false)
	if !w.Closed() {
		t.Fatal("the writer does not see the slot closed")
	}
}

func TestWaitersSharingAPageAreAllWoken(t *testing.T) {
	// Goroutines of one writer (one waits in the poller, the others behind
	// it) and of a second writer's mapping: one release that frees room for
	// all of them wakes all of them.
	onlyWakeUps(t)
	slot := newSlotPage(t)
	a, b := writerPage(t, slot), writerPage(t, slot)
	if !a.TryReserve(100, 100) {
		t.Fatal("no room in an empty page")
	}
	done := make(chan bool, 6)
	for _, w := range []*Page{a, a, a, b, b, b} {
		go func() { done <- w.Reserve(10, 100, time.Now().Add(time.Hour), never) }()
	}
	waitForWaiters(t, slot, 6)
	slot.Release(100, 100)
	expect(t, done, 6, true)
}

// drainCount empties the writers' end of slot's channel and counts the
// wake-ups it held.
func drainCount(t *testing.T, slot *Page) int {
	peer := signal(t, slot).peer
	n := 0
	var b [1]byte
	for {
		if _, _, err := unix.Recvfrom(peer, b[:], unix.MSG_DONTWAIT); err != nil {
			return n
		}
		n++
	}
}

func TestReleaseWakesInBatches(t *testing.T) {
	// A release that leaves less than an eighth of the quota free signals
	// nobody: the slot makes no system call per message. Once enough is
	// free, exactly one wake-up goes out, however many releases follow.
	onlyWakeUps(t)
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	const quota = 8000
	w.TryReserve(quota, quota)
	slot.Release(100, quota) // nobody waits: no wake-up
	w.TryReserve(100, quota)
	done := make(chan bool, 1)
	go func() { done <- w.Reserve(10, quota, time.Now().Add(time.Hour), never) }()
	waitForWaiters(t, slot, 1)
	slot.Release(100, quota) // room for the writer, but not an eighth free
	if n := drainCount(t, slot); n != 0 {
		t.Fatalf("%d wake-ups for a release below the batch size", n)
	}
	slot.Release(quota/8, quota)
	expect(t, done, 1, true)
	slot.Release(100, quota)
	if n := drainCount(t, slot); n != 1 {
		t.Fatalf("%d wake-ups, want 1", n)
	}
}

func TestUnreadWakeUpsNeverBlockTheSlot(t *testing.T) {
	// Nobody reads the channel, and a hostile writer clears O_NONBLOCK on
	// the file all copies share: the slot still never blocks, and keeps
	// waking writers once its send buffer has filled.
	onlyWakeUps(t)
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	if err := unix.SetNonblock(signal(t, slot).peer, false); err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	wk := signal(t, slot)
	go func() {
		for i := 0; i < 20000; i++ {
			wk.wake()
		}
		close(sent)
	}()
	select {
	case <-sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the slot blocked on its wake channel")
	}
	fullThenFreed(t, slot, w)
}

func TestShutDownChannelDelaysOnlyToTheSlice(t *testing.T) {
	// A hostile writer shuts the shared channel down: the slot's wake-ups
	// fail (without blocking), and a waiting writer still gets the room it
	// waits for, at its next look.
	slot := newSlotPage(t)
	w := writerPage(t, slot)
	if err := unix.Shutdown(signal(t, slot).peer, unix.SHUT_RDWR); err != nil {
		t.Fatal(err)
	}
	fullThenFreed(t, slot, w)
}

// fullThenFreed fills the page (quota 100) through w, has a writer wait
// for room, and frees the room through the slot's page: the writer must get
// it.
func fullThenFreed(t *testing.T, slot, w *Page) {
	t.Helper()
	w.TryReserve(100, 100)
	done := make(chan bool, 1)
	go func() { done <- w.Reserve(10, 100, time.Now().Add(time.Hour), never) }()
	waitForWaiters(t, slot, 1)
	slot.Release(100, 100)
	expect(t, done, 1, true)
}

func TestMapRefusesUnsealed(t *testing.T) {
	slot := newSlotPage(t)
	wake := func() int {
		d, err := unix.Dup(signal(t, slot).peer)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	page := func(size int64, seals int) int {
		fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			t.Fatal(err)
		}
		unix.Ftruncate(fd, size)
		if seals != 0 {
			unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals)
		}
		return fd
	}
	if _, err := Map(page(Size, 0), wake()); !errors.Is(err, ErrBadPage) {
		t.Fatalf("mapped a page the slot could still shrink: %v", err)
	}
	if _, err := Map(page(2*Size, wantSeals), wake()); !errors.Is(err, ErrBadPage) {
		t.Fatalf("mapped a page of the wrong size: %v", err)
	}
	p, err := Map(page(Size, wantSeals), wake())
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}

func TestMapRefusesWhatIsNotAWakeChannel(t *testing.T) {
	// A hostile slot passes something else as the wake channel: a regular
	// file (never in the poller), a pipe, a stream socket.
	slot := newSlotPage(t)
	pipe := make([]int, 2)
	if err := unix.Pipe2(pipe, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pipe[1])
	stream, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(stream[1])
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	file, _ := unix.Dup(int(f.Fd()))
	f.Close()
	for name, fd := range map[string]int{"file": file, "pipe": pipe[0], "stream socket": stream[0]} {
		pagefd, _ := unix.Dup(slot.fd)
		if p, err := Map(pagefd, fd); !errors.Is(err, ErrBadPage) {
			if p != nil {
				p.Close()
			}
			t.Errorf("%s as the wake channel: %v", name, err)
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			t.Errorf("%s: Map kept a descriptor it refused", name)
		}
	}
}
