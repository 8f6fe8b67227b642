package mailslot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/winerr"
)

// Remote and broadcast names go through the host's network agent ("mailslot
// agent"), which owns the NetBIOS ports, the host's network identity and
// the policy of who may send. The writer connects to the agent's socket,
// checks with the kernel that the agent runs as root (so no local user can
// pose as it and read our messages), and asks it to open the target. The
// agent resolves the host name at this point: an unknown host fails Open
// with ErrBadNetPath within the open timeout, rather than at the first
// Write as on Windows (see docs/semantics.md). Each Write is then one
// record on the connection, which the agent turns into one datagram.

// openRemote opens \\HOST\mailslot\PATH (HOST a computer or workgroup name,
// or "*") through the agent.
func openRemote(ctx context.Context, n Name, o *openOptions) (writerBackend, error) {
	for i := 0; i < len(n.Path); i++ {
		if n.Path[i] >= 0x80 {
			return nil, fmt.Errorf("%w: a network mailslot name must be ASCII (NetBIOS carries it as such)", ErrInvalidName)
		}
	}
	c, err := agentproto.Dial(ctx, o.namespace)
	if err != nil {
		return nil, agentErr(err)
	}
	timeout := o.timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		c.SetDeadline(dl)
	}
	if timeout <= 0 {
		timeout = DefaultOpenTimeout
	}
	buf := make([]byte, agentproto.MaxFrame)
	f, err := agentproto.Roundtrip(c, &agentproto.Frame{Op: agentproto.OpOpen, Host: n.Host, Path: n.Path,
		Timeout: uint32(timeout / time.Millisecond)}, buf)
	if err != nil {
		c.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: \\\\%s did not resolve within the open timeout", ErrBadNetPath, n.Host)
		}
		return nil, agentErr(err)
	}
	if f.Op != agentproto.OpResult {
		c.Close()
		return nil, fmt.Errorf("%w: unexpected answer from the agent", ErrBadNetPath)
	}
	if f.Code != 0 {
		c.Close()
		return nil, codeErr(winerr.Errno(f.Code), f.Message)
	}
	c.SetDeadline(time.Time{})
	return &remoteWriter{c: c, host: n.Host, max: int(f.MaxPayload)}, nil
}

// agentErr maps a failure to reach the agent.
func agentErr(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, agentproto.ErrNoAgent):
		return fmt.Errorf("%w: %v", ErrBadNetPath, err)
	case errors.Is(err, agentproto.ErrNotAgent):
		return fmt.Errorf("%w: %v", ErrAccessDenied, err)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: the mailslot agent did not answer in time", ErrBadNetPath)
	}
	return fmt.Errorf("%w: talking to the mailslot agent: %v", ErrBadNetPath, err)
}

// codeErr turns an agent's refusal into the matching sentinel.
func codeErr(code winerr.Errno, msg string) error {
	base := ErrBadNetPath
	switch code {
	case winerr.ERROR_ACCESS_DENIED:
		base = ErrAccessDenied
	case winerr.ERROR_INVALID_NAME:
		base = ErrInvalidName
	case winerr.ERROR_INVALID_PARAMETER:
		base = ErrInvalidParameter
	case winerr.ERROR_NOT_ENOUGH_QUOTA:
		base = ErrSlotFull
	}
	return fmt.Errorf("%w: %s", base, msg)
}

// remoteWriter sends through the agent.
type remoteWriter struct {
	c    *net.UnixConn
	host string
	max  int
	mu   sync.Mutex // one deadline and write at a time
	buf  []byte
	rc   syscall.RawConn // for non-blocking writes; under mu
}

// write sends p as one record. The agent reads at the rate its policy
// allows this user; when it lags, the socket fills and the write waits
// until deadline, then fails like a full local slot.
func (w *remoteWriter) write(p []byte, lim writeLimit) error {
	if len(p) > w.max {
		return fmt.Errorf("%w: %d bytes exceed the %d-byte limit of one network mailslot message to \\\\%s", ErrBadNetPath, len(p), w.max, w.host)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	b, err := (&agentproto.Frame{Op: agentproto.OpWrite, Data: p}).Append(w.buf[:0])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidParameter, err)
	}
	w.buf = b
	// Most writes find room in the socket: send them without arming the
	// connection's deadline timer, which costs a runtime timer update per
	// message. Only a full socket (the agent lags) waits, until deadline.
	sent, err := w.tryWrite(b)
	if sent {
		return nil
	}
	if err == nil {
		err = w.waitWrite(b, lim.at())
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return &fullTimeout{detail: "the network agent's send rate limit for this user"}
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		return fmt.Errorf("%w: the mailslot agent stopped (reopen once it runs again)", ErrBadNetPath)
	}
	return err
}

// tryWrite sends b if the socket has room, without waiting: sent false and
// a nil error mean the socket is full.
func (w *remoteWriter) tryWrite(b []byte) (sent bool, err error) {
	if w.rc == nil {
		if w.rc, err = w.c.SyscallConn(); err != nil {
			return false, err
		}
	}
	cerr := w.rc.Control(func(fd uintptr) {
		for {
			err = syscall.Sendto(int(fd), b, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, nil)
			if err != syscall.EINTR {
				break
			}
		}
	})
	switch {
	case cerr != nil:
		return false, cerr
	case err == syscall.EAGAIN:
		return false, nil
	}
	return err == nil, err
}

// waitWrite sends b, waiting for room in the socket until deadline.
func (w *remoteWriter) waitWrite(b []byte, deadline time.Time) error {
	if !time.Now().Before(deadline) {
		// Do not wait: one non-blocking attempt.
		deadline = time.Now().Add(time.Millisecond)
	}
	w.c.SetWriteDeadline(deadline)
	_, err := w.c.Write(b)
	return err
}

// info is not available for a remote slot: Windows does not answer
// GetMailslotInfo on a network handle either.
func (w *remoteWriter) info() (Info, error) {
	return Info{}, fmt.Errorf("%w: the state of a remote mailslot is not visible from here", ErrNotSupported)
}

// owner is unknown across the network: NetBIOS carries no identity.
func (w *remoteWriter) owner() (Sender, error) {
	return Sender{}, fmt.Errorf("%w: the reader of a remote mailslot cannot be verified", ErrNotSupported)
}

func (w *remoteWriter) close() error { return w.c.Close() }
