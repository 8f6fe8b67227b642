package mailslot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mailslot/mailslot/internal/winapi"
)

// Windows gives CreateMailslotW an asynchronous handle, and there a read
// pends in the kernel until CancelIoEx ends it. Wine 8's mailslot handles
// are synchronous (reads are sliced instead), so that path cannot be reached
// through a Wine mailslot. It is driven here through an overlapped named
// pipe, whose reads Wine does queue asynchronously: the same Slot read code,
// on a handle where only CancelIoEx can end a pending ReadFile. The slot's
// kernel timeout starts at WAIT_FOREVER so no SetMailslotInfo is needed.

var pipeSeq atomic.Int64

// asyncPipeSlot returns a Slot reading an overlapped pipe, and the pipe's
// client end to write to it.
func asyncPipeSlot(t *testing.T) (*Slot, windows.Handle) {
	t.Helper()
	name, _ := windows.UTF16PtrFromString(fmt.Sprintf(`\\.\pipe\mailslot-async-%d-%d`, os.Getpid(), pipeSeq.Add(1)))
	h, err := windows.CreateNamedPipe(name, windows.PIPE_ACCESS_INBOUND|windows.FILE_FLAG_OVERLAPPED,
		windows.PIPE_TYPE_MESSAGE|windows.PIPE_READMODE_MESSAGE|windows.PIPE_WAIT, 1, 0, 64<<10, 0, nil)
	if err != nil {
		t.Fatalf("CreateNamedPipe: %v", err)
	}
	c, err := windows.CreateFile(name, windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		windows.CloseHandle(h)
		t.Fatalf("CreateFile(pipe): %v", err)
	}
	t.Cleanup(func() { windows.CloseHandle(c) })
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Slot{name: Name{Host: ".", Path: "async-pipe"}, h: h, syncIO: isSynchronous(h), maxSize: 64,
		sem: make(chan struct{}, 1), ev: ev, kernelTimeout: winapi.MAILSLOT_WAIT_FOREVER,
		done: make(chan struct{}), wake: make(chan struct{})}
	s.readTimeout.Store(int64(WaitForever))
	if s.syncIO {
		t.Fatal("an overlapped pipe handle reports synchronous I/O")
	}
	return s, c
}

// pendingRead starts ReadMessage and waits until its ReadFile is pending.
func pendingRead(t *testing.T, s *Slot, ctx context.Context) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		m, err := s.ReadMessage(ctx)
		if err == nil && string(m.Data) != "data" {
			err = fmt.Errorf("read %q", m.Data)
		}
		errc <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		pending := s.inflight
		s.mu.Unlock()
		if pending {
			return errc
		}
		if time.Now().After(deadline) {
			t.Fatal("the read never pended")
		}
	}
}

func waitRead(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("the pending read was not ended within 20 s")
		return nil
	}
}

func TestAsyncReadPath(t *testing.T) {
	t.Run("a write completes the pending read", func(t *testing.T) {
		s, c := asyncPipeSlot(t)
		defer s.Close()
		errc := pendingRead(t, s, context.Background())
		if err := windows.WriteFile(c, []byte("data"), nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := waitRead(t, errc); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Close cancels the pending read", func(t *testing.T) {
		s, _ := asyncPipeSlot(t)
		errc := pendingRead(t, s, context.Background())
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }() // Close waits for the read to end
		if err := waitRead(t, errc); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
		if err := waitRead(t, closed); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
	t.Run("ctx cancels the pending read", func(t *testing.T) {
		s, _ := asyncPipeSlot(t)
		defer s.Close()
		ctx, cancel := context.WithCancel(context.Background())
		errc := pendingRead(t, s, ctx)
		cancel()
		if err := waitRead(t, errc); !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v", err)
		}
	})
}

func TestKernelTimeoutMs(t *testing.T) {
	for _, tc := range []struct {
		wait    time.Duration
		forever bool
		syncIO  bool
		want    uint32
	}{
		{0, false, false, 0},
		{-time.Second, false, false, 0},
		{time.Microsecond, false, false, 1}, // rounded up: never shorter than asked
		{1500 * time.Millisecond, false, false, 1500},
		{0, true, false, winapi.MAILSLOT_WAIT_FOREVER},
		{0, true, true, uint32(syncReadSlice / time.Millisecond)},
		{time.Second, false, true, uint32(syncReadSlice / time.Millisecond)},
		{time.Millisecond, false, true, 1},
		// A wait beyond what a DWORD of milliseconds holds (49.7 days) must
		// not wrap around to a short wait, nor become WAIT_FOREVER.
		{100 * 24 * time.Hour, false, false, winapi.MAILSLOT_WAIT_FOREVER - 1},
		{time.Duration(1<<63 - 1), false, false, winapi.MAILSLOT_WAIT_FOREVER - 1},
	} {
		if got := kernelTimeoutMs(tc.wait, tc.forever, tc.syncIO); got != tc.want {
			t.Errorf("kernelTimeoutMs(%v, forever %v, sync %v) = %d, want %d", tc.wait, tc.forever, tc.syncIO, got, tc.want)
		}
	}
}
