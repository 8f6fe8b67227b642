package mailslot

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// writerBackend is one platform's (or the network agent's) way to reach a
// slot. lim.at() is when a write waiting for room in a full slot gives up;
// a time already past means "do not wait".
type writerBackend interface {
	write(p []byte, lim writeLimit) error
	info() (Info, error)
	owner() (Sender, error)
	close() error
}

// DefaultWriteTimeout bounds how long Writer.Write waits for room in a full
// slot before it fails with ErrSlotFull. See Writer.SetWriteTimeout.
const DefaultWriteTimeout = 100 * time.Millisecond

// Writer is the client (writing) end of a mailslot. Each Write sends one
// whole message. A Writer is safe for concurrent use, and every Write waits
// at most its own timeout.
type Writer struct {
	name     Name
	b        writerBackend
	timeout  atomic.Int64 // nanoseconds
	deadline atomic.Int64 // UnixNano; 0 = none
	closed   atomic.Bool
}

// Open opens a mailslot for writing, within DefaultOpenTimeout unless
// WithTimeout says otherwise. A local slot that does not exist gives
// ErrNotFound; a slot whose owner does not admit the caller, or that is not
// owned by the uid of WithOwner, ErrAccessDenied.
func Open(name string, opts ...OpenOption) (*Writer, error) {
	return OpenContext(context.Background(), name, opts...)
}

// OpenContext is Open with a context that can cancel or bound opening. The
// context does not affect the Writer once it is open.
func OpenContext(ctx context.Context, name string, opts ...OpenOption) (*Writer, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, opErr("open", name, err)
	}
	o := newOpenOptions(opts)
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	var b writerBackend
	if n.IsLocal() {
		b, err = openLocal(ctx, n, o)
	} else {
		b, err = openRemote(ctx, n, o)
	}
	if err != nil {
		return nil, opErr("open", n.String(), err)
	}
	w := &Writer{name: n, b: b}
	w.timeout.Store(int64(DefaultWriteTimeout))
	return w, nil
}

// Send opens name, writes p as one message and closes it.
func Send(name string, p []byte, opts ...OpenOption) error {
	w, err := Open(name, opts...)
	if err != nil {
		return err
	}
	_, err = w.Write(p)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// Name returns the name the Writer was opened with.
func (w *Writer) Name() Name { return w.name }

// SetWriteTimeout sets how long each later Write may wait for room when the
// slot is full (default DefaultWriteTimeout). 0 fails at once when the
// slot's quota cannot take the message, as Windows does. Negative values are
// invalid: a Writer never waits forever.
func (w *Writer) SetWriteTimeout(d time.Duration) error {
	if w.closed.Load() {
		return opErr("set timeout", w.name.String(), net.ErrClosed)
	}
	if d < 0 {
		return opErr("set timeout", w.name.String(), fmt.Errorf("%w: negative write timeout", ErrInvalidParameter))
	}
	w.timeout.Store(int64(d))
	return nil
}

// SetWriteDeadline sets an absolute limit for writes waiting for room, in
// addition to the write timeout. Like the timeout it applies to writes that
// start after it is set. The zero time clears it.
func (w *Writer) SetWriteDeadline(t time.Time) error {
	if w.closed.Load() {
		return opErr("set deadline", w.name.String(), net.ErrClosed)
	}
	w.deadline.Store(deadlineNanos(t))
	return nil
}

// writeLimit is how long a write may wait for room: its timeout, counted
// from when it starts waiting, and no later than deadline (UnixNano; 0 =
// none). Backends call at only when they have to wait, so a write that finds
// room at once never reads the clock.
type writeLimit struct {
	timeout  time.Duration
	deadline int64
}

// at is when a write that starts waiting now gives up.
func (l writeLimit) at() time.Time {
	dl := time.Now().Add(l.timeout)
	if l.deadline != 0 {
		if t := time.Unix(0, l.deadline); t.Before(dl) {
			dl = t
		}
	}
	return dl
}

// limit is the write limit in force for a write starting now.
func (w *Writer) limit() writeLimit {
	return writeLimit{timeout: time.Duration(w.timeout.Load()), deadline: w.deadline.Load()}
}

// Write sends p as one message and returns len(p). A message larger than
// the slot's maximum fails with ErrMessageTooLarge and nothing is queued. When
// the slot's quota cannot take the message before the write timeout (or
// deadline) passes, Write fails with an error that matches both ErrSlotFull
// and os.ErrDeadlineExceeded. A Write that returns nil is counted by Info
// and will be read unless the slot is closed first.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed.Load() {
		return 0, opErr("write", w.name.String(), net.ErrClosed)
	}
	if err := w.b.write(p, w.limit()); err != nil {
		if w.closed.Load() {
			err = net.ErrClosed
		}
		return 0, opErr("write", w.name.String(), err)
	}
	return len(p), nil
}

// Info returns the slot's state as its reader sees it (like GetMailslotInfo
// on a client handle, which Windows 8 and later allow). It answers promptly
// however full the slot is.
func (w *Writer) Info() (Info, error) {
	if w.closed.Load() {
		return Info{}, opErr("info", w.name.String(), net.ErrClosed)
	}
	info, err := w.b.info()
	if err != nil {
		return Info{}, opErr("info", w.name.String(), err)
	}
	return info, nil
}

// Owner returns the identity of the slot's reader as the kernel reports it:
// the pid, effective uid and gid of the process that created the slot. The
// slot cannot forge it.
func (w *Writer) Owner() (Sender, error) {
	if w.closed.Load() {
		return Sender{}, opErr("owner", w.name.String(), net.ErrClosed)
	}
	s, err := w.b.owner()
	if err != nil {
		return Sender{}, opErr("owner", w.name.String(), err)
	}
	return s, nil
}

// Close closes the Writer. Messages already written stay queued. Writes
// still waiting for room return net.ErrClosed.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return opErr("close", w.name.String(), net.ErrClosed)
	}
	if err := w.b.close(); err != nil {
		return opErr("close", w.name.String(), err)
	}
	return nil
}

// deadlineNanos encodes a deadline for an atomic: 0 for none, else UnixNano
// (never 0).
func deadlineNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if v := t.UnixNano(); v != 0 {
		return v
	}
	return 1
}
