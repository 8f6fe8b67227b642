package mailslot

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

// winWriter is a client handle from CreateFile: Windows itself routes its
// writes to a local slot, or through its redirector to \\HOST\mailslot\...
// and broadcasts to \\*\ or \\DOMAIN\ (no agent involved).
type winWriter struct {
	h   windows.Handle
	max int        // the slot's maximum message size when known and not 0
	mu  sync.Mutex // one WriteFile at a time: ev and ov are shared
	ev  windows.Handle
	ov  windows.Overlapped
}

// openLocal opens a local slot in o's namespace.
func openLocal(ctx context.Context, n Name, o *openOptions) (writerBackend, error) {
	kname, err := kernelName(n, o.namespace)
	if err != nil {
		return nil, err
	}
	b, err := openWin(ctx, kname, o)
	if err != nil {
		return nil, err
	}
	// Windows 8 and later tell a client the slot's maximum message size:
	// check it before sending, as the Unix backend does, so that a message
	// that is too large fails with ErrMessageTooLarge and queues nothing
	// whatever the kernel would do (Wine 8 answers ERROR_INVALID_HANDLE and
	// its kernel queues anything).
	if info, err := mailslotInfo(b.h); err == nil {
		b.max = info.MaxMessageSize
	}
	return b, nil
}

// openRemote opens \\HOST\mailslot\... through Windows' redirector. Windows
// opens remote names without looking for the slot (and datagrams are never
// acknowledged), so a missing slot or host shows only at write time, if at
// all (ERROR_BAD_NETPATH).
func openRemote(ctx context.Context, n Name, o *openOptions) (writerBackend, error) {
	if err := checkWin32Path(n); err != nil {
		return nil, err
	}
	b, err := openWin(ctx, n.String(), o)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func openWin(ctx context.Context, name string, o *openOptions) (*winWriter, error) {
	if o.owner >= 0 {
		// WithOwner takes a Unix uid. Windows cannot tell a client who
		// created a mailslot either: GetSecurityInfo on a client handle
		// reports no owner (see Writer.Owner).
		return nil, fmt.Errorf("%w: WithOwner: Windows does not report a mailslot's owner to writers", ErrNotSupported)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	// FILE_SHARE_WRITE too: Wine (like Windows XP) refuses a second writer
	// unless every writer shares write access.
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
	if err != nil {
		return nil, winErr(err)
	}
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		windows.CloseHandle(h)
		return nil, winErr(err)
	}
	return &winWriter{h: h, ev: ev}, nil
}

// write sends p as one message. A local write completes at once (Windows
// has no write timeouts: a message that cannot be queued fails). A write
// that pends (the redirector resolving a remote name) is cancelled at the
// deadline and fails with ErrSlotFull/os.ErrDeadlineExceeded, like a local
// write that found no room in time.
func (w *winWriter) write(p []byte, lim writeLimit) error {
	deadline := lim.at()
	if w.max > 0 && len(p) > w.max {
		return fmt.Errorf("%w: %d bytes, the slot takes at most %d", ErrMessageTooLarge, len(p), w.max)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ov = windows.Overlapped{HEvent: w.ev}
	var n uint32
	err := windows.WriteFile(w.h, p, &n, &w.ov)
	if err == windows.ERROR_IO_PENDING {
		t := time.AfterFunc(time.Until(deadline), func() { windows.CancelIoEx(w.h, &w.ov) })
		err = windows.GetOverlappedResult(w.h, &w.ov, &n, true)
		t.Stop()
		if err == windows.ERROR_OPERATION_ABORTED {
			return &fullTimeout{detail: "the write was still pending at its deadline"}
		}
	}
	if err != nil {
		return winErr(err)
	}
	if int(n) != len(p) {
		return fmt.Errorf("%w: wrote %d of %d bytes", io.ErrShortWrite, n, len(p))
	}
	return nil
}

// info is GetMailslotInfo on the client handle, which Windows 8 and later
// answer with the slot's state (Wine 8 fails it with ERROR_INVALID_HANDLE).
// The read timeout is the kernel's, which a reader of this package manages
// per read (see Slot.Info).
func (w *winWriter) info() (Info, error) {
	return mailslotInfo(w.h)
}

// owner: Windows gives a client no way to learn who created a mailslot (no
// process id, and the security descriptor's owner is not readable through
// a write-only client handle), so there is nothing kernel-verified to return.
func (w *winWriter) owner() (Sender, error) {
	return Sender{}, fmt.Errorf("%w: Windows does not report a mailslot's reader to writers", ErrNotSupported)
}

func (w *winWriter) close() error {
	w.mu.Lock() // a Write in progress finishes first
	defer w.mu.Unlock()
	err := windows.CloseHandle(w.h)
	windows.CloseHandle(w.ev)
	if err != nil {
		return winErr(err)
	}
	return nil
}
