package mailslot

import (
	"context"
	"errors"
	"net"
	"time"

	"golang.org/x/sys/windows"

	"github.com/mailslot/mailslot/internal/winapi"
)

// Read reads the next message into p and returns its length. If p is shorter
// than the message, Read fails with ErrBufferTooSmall and the message stays
// queued (Windows; Wine 8 truncates instead, see docs/semantics.md). When
// the slot is empty Read waits as the read timeout and deadline say, then
// fails with an error satisfying errors.Is(err, os.ErrDeadlineExceeded).
func (s *Slot) Read(p []byte) (int, error) {
	b, err := s.take(context.Background(), p, false)
	if err != nil {
		return 0, opErr("read", s.name.String(), err)
	}
	return len(b), nil
}

// ReadMessage returns the next message with its metadata. It waits like Read
// and also returns early when ctx is done. Windows tells a reader nothing
// about a message's writer: Sender's PID, UID and GID are -1, and Time is
// when ReadFile returned it.
func (s *Slot) ReadMessage(ctx context.Context) (Message, error) {
	b, err := s.take(ctx, nil, true)
	if err != nil {
		return Message{}, opErr("read", s.name.String(), err)
	}
	return Message{Data: b, Time: time.Now(), Sender: Sender{PID: -1, UID: -1, GID: -1}}, nil
}

// take reads one message into p, or, for ReadMessage (grow), into the
// slot's scratch buffer, grown to the message's size if needed, and returns
// a copy. The read timeout is the one in force when take starts; the
// deadline is read afresh on every turn, as Go deadlines are.
func (s *Slot) take(ctx context.Context, p []byte, grow bool) ([]byte, error) {
	timeout := time.Duration(s.readTimeout.Load())
	start := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	if ctx.Done() != nil {
		// A cancelled ctx interrupts the ReadFile in flight, whoever's it
		// is; that reader then simply starts its read again.
		stop := context.AfterFunc(ctx, s.kick)
		defer stop()
	}
	tried := false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wait, forever := s.remaining(start, timeout)
		if !forever && wait <= 0 && tried {
			return nil, ErrTimeout
		}
		if err := s.turn(ctx, wait, forever, &timer); err != nil {
			if err == errKicked {
				continue // a new deadline: compute the wait again
			}
			return nil, err
		}
		b, err := s.readLocked(p, grow, wait, forever)
		tried = true
		<-s.sem
		switch {
		case err == nil:
			return b, nil
		case isCode(err, windows.ERROR_SEM_TIMEOUT), isCode(err, windows.ERROR_OPERATION_ABORTED):
			// A slice ended or a kick: look at Close, ctx and the deadline again.
			continue
		default:
			return nil, err
		}
	}
}

// readLocked does one turn's reading; the caller holds s.sem. For
// ReadMessage (grow) a message larger than the scratch buffer is read again
// at once into a buffer of its size, and the result is copied out.
func (s *Slot) readLocked(p []byte, grow bool, wait time.Duration, forever bool) ([]byte, error) {
	if !grow {
		return s.readOnce(p, wait, forever)
	}
	if len(s.buf) < s.maxSize {
		s.buf = make([]byte, s.maxSize)
	}
	b, err := s.readOnce(s.buf, wait, forever)
	for grown := 0; grown < 3 && isCode(err, windows.ERROR_INSUFFICIENT_BUFFER); grown++ {
		info, ierr := mailslotInfo(s.h)
		if ierr != nil || info.NextSize <= len(s.buf) {
			break
		}
		s.buf = make([]byte, info.NextSize)
		b, err = s.readOnce(s.buf, 0, false)
	}
	if err != nil {
		return nil, err
	}
	return append([]byte{}, b...), nil
}

// turn waits until this reader may call ReadFile (it then holds s.sem), or
// fails: net.ErrClosed, ctx's error, ErrTimeout when wait passes first (a
// reader already in ReadFile would have taken any message), errKicked when
// the deadline changed.
func (s *Slot) turn(ctx context.Context, wait time.Duration, forever bool, timer **time.Timer) error {
	s.mu.Lock()
	closed, wake := s.closed, s.wake
	s.mu.Unlock()
	if closed {
		return net.ErrClosed
	}
	var tc <-chan time.Time
	if !forever {
		if wait <= 0 {
			select {
			case s.sem <- struct{}{}:
				return nil
			default:
				return ErrTimeout
			}
		}
		if *timer == nil {
			*timer = time.NewTimer(wait)
		} else {
			(*timer).Reset(wait)
		}
		tc = (*timer).C
	}
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-s.done:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
		return errKicked
	case <-tc:
		return ErrTimeout
	}
}

func isCode(err error, code windows.Errno) bool {
	var w *win32Error
	return errors.As(err, &w) && w.code == code
}

// errKicked is turn's answer when the deadline changed while waiting.
var errKicked = errors.New("read interrupted")

// readOnce issues one ReadFile that waits at most wait (or forever) and
// returns the message in p. The caller holds s.sem.
func (s *Slot) readOnce(p []byte, wait time.Duration, forever bool) ([]byte, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	if err := s.setKernelTimeout(wait, forever); err != nil {
		return nil, err
	}
	gen := s.gen.Load()
	s.ov = windows.Overlapped{HEvent: s.ev}
	err := windows.ReadFile(s.h, p, &s.n, &s.ov)
	if err == windows.ERROR_IO_PENDING {
		s.mu.Lock()
		s.inflight = true
		s.mu.Unlock()
		if s.gen.Load() != gen {
			windows.CancelIoEx(s.h, &s.ov) // a kick came before inflight was set
		}
		err = windows.GetOverlappedResult(s.h, &s.ov, &s.n, true)
		s.mu.Lock()
		s.inflight = false
		s.mu.Unlock()
	}
	if err != nil {
		return nil, winErr(err)
	}
	return p[:s.n], nil
}

// setKernelTimeout gives the slot the read timeout for the next ReadFile
// (see kernelTimeoutMs), calling SetMailslotInfo only when it changes.
func (s *Slot) setKernelTimeout(wait time.Duration, forever bool) error {
	ms := kernelTimeoutMs(wait, forever, s.syncIO)
	if ms == s.kernelTimeout {
		return nil
	}
	if err := winapi.SetMailslotInfo(s.h, ms); err != nil {
		return winErr(err)
	}
	s.kernelTimeout = ms
	return nil
}

// remaining is how long a read that started at start with timeout may still
// wait.
func (s *Slot) remaining(start time.Time, timeout time.Duration) (wait time.Duration, forever bool) {
	return readWait(start, timeout, s.deadline.Load())
}

// kernelTimeoutMs is the mailslot read timeout for a ReadFile that may wait
// wait (or forever): whole milliseconds rounded up, at most 49.7 days, and
// on a synchronous handle never more than syncReadSlice.
func kernelTimeoutMs(wait time.Duration, forever, syncIO bool) uint32 {
	if syncIO && (forever || wait > syncReadSlice) {
		forever, wait = false, syncReadSlice
	}
	if forever {
		return winapi.MAILSLOT_WAIT_FOREVER
	}
	// The longest finite timeout a DWORD holds; a longer wait is served in
	// several reads (take loops), never wrapped to a short one.
	const maxMs = winapi.MAILSLOT_WAIT_FOREVER - 1
	switch {
	case wait <= 0:
		return 0
	case wait >= maxMs*time.Millisecond:
		return maxMs
	}
	return uint32((wait + time.Millisecond - 1) / time.Millisecond)
}
