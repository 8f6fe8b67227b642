package mailslot

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// A local mailslot write never pends, but a write through the redirector
// can. The deadline path of winWriter.write is driven here through an
// overlapped pipe nobody reads: once its buffer is full, WriteFile pends,
// and the write must give up at its deadline with ErrSlotFull and
// os.ErrDeadlineExceeded instead of hanging.
func TestPendingWriteEndsAtItsDeadline(t *testing.T) {
	name, _ := windows.UTF16PtrFromString(fmt.Sprintf(`\\.\pipe\mailslot-wdl-%d`, os.Getpid()))
	srv, err := windows.CreateNamedPipe(name, windows.PIPE_ACCESS_INBOUND|windows.FILE_FLAG_OVERLAPPED,
		windows.PIPE_TYPE_BYTE|windows.PIPE_WAIT, 1, 0, 4096, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(srv)
	c, err := windows.CreateFile(name, windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := &winWriter{h: c, ev: ev}
	defer w.close()
	msg := make([]byte, 64<<10)
	for i := 0; i < 1000; i++ {
		start := time.Now()
		err := w.write(msg, writeLimit{timeout: time.Hour, deadline: start.Add(100 * time.Millisecond).UnixNano()})
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrSlotFull) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write %d: %v, want ErrSlotFull and os.ErrDeadlineExceeded", i, err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("the pending write ended after %v", d)
		}
		return
	}
	t.Fatal("1000 writes of 64 KiB into a pipe nobody reads all succeeded")
}
