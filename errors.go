package mailslot

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"

	"github.com/mailslot/mailslot/winerr"
)

// Errno is a Win32 error code. Every error this package returns maps to one,
// so code ported from Windows can keep its GetLastError logic; see Code.
type Errno = winerr.Errno

// Error is the type of this package's sentinel errors. It carries the Win32
// code and unwraps to the portable Go error it corresponds to (fs.ErrExist,
// os.ErrDeadlineExceeded, ...), so callers may test either.
type Error struct {
	Code Errno
	msg  string
	base error
}

func (e *Error) Error() string { return e.msg }

// Win32Code returns the error's Win32 code.
func (e *Error) Win32Code() Errno { return e.Code }
func (e *Error) Unwrap() error    { return e.base }

// Timeout reports whether the error is a read timeout (net.Error style).
func (e *Error) Timeout() bool { return e.Code == winerr.ERROR_SEM_TIMEOUT }

func newError(code Errno, msg string, base error) *Error {
	return &Error{Code: code, msg: msg, base: base}
}

// Sentinel errors. Test them with errors.Is.
var (
	ErrInvalidName      = newError(winerr.ERROR_INVALID_NAME, "invalid mailslot name", fs.ErrInvalid)
	ErrInvalidParameter = newError(winerr.ERROR_INVALID_PARAMETER, "invalid parameter", fs.ErrInvalid)
	ErrExists           = newError(winerr.ERROR_ALREADY_EXISTS, "mailslot already exists", fs.ErrExist)
	ErrNotFound         = newError(winerr.ERROR_FILE_NOT_FOUND, "mailslot not found", fs.ErrNotExist)
	ErrAccessDenied     = newError(winerr.ERROR_ACCESS_DENIED, "access denied", fs.ErrPermission)
	ErrBufferTooSmall   = newError(winerr.ERROR_INSUFFICIENT_BUFFER, "buffer too small for the next message", io.ErrShortBuffer)
	ErrMessageTooLarge  = newError(winerr.ERROR_INVALID_PARAMETER, "message larger than the mailslot's maximum message size", nil)
	ErrSlotFull         = newError(winerr.ERROR_NOT_ENOUGH_QUOTA, "mailslot queue is full", nil)
	ErrTimeout          = newError(winerr.ERROR_SEM_TIMEOUT, "timeout waiting for a message", os.ErrDeadlineExceeded)
	ErrNotSupported     = newError(winerr.ERROR_NOT_SUPPORTED, "not supported", errors.ErrUnsupported)
	// ErrBadNetPath is what Windows returns for a network write that cannot be
	// sent, e.g. a broadcast message over 424 bytes.
	ErrBadNetPath = newError(winerr.ERROR_BAD_NETPATH, "network path not usable", nil)
)

// fullTimeout is a write that found no room in the slot before its deadline.
// It matches both ErrSlotFull (the Win32 view: ERROR_NOT_ENOUGH_QUOTA) and
// os.ErrDeadlineExceeded (the net view), so either test works.
type fullTimeout struct{ detail string }

func (e *fullTimeout) Error() string {
	if e.detail == "" {
		return ErrSlotFull.msg
	}
	return ErrSlotFull.msg + ": " + e.detail
}
func (e *fullTimeout) Unwrap() []error  { return []error{ErrSlotFull, os.ErrDeadlineExceeded} }
func (e *fullTimeout) Win32Code() Errno { return winerr.ERROR_NOT_ENOUGH_QUOTA }
func (e *fullTimeout) Timeout() bool    { return true }

// OpError is the error type returned by every operation. Like *net.OpError it
// names the operation and the object (the mailslot) and wraps the cause.
type OpError struct {
	Op   string // "create", "open", "read", "write", "info", "close", ...
	Name string // the mailslot, as the caller wrote it or in canonical form
	Err  error  // a sentinel above, net.ErrClosed, or a system error
}

func (e *OpError) Error() string {
	s := "mailslot: " + e.Op
	if e.Name != "" {
		s += " " + e.Name
	}
	return s + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// Timeout reports whether the operation timed out.
func (e *OpError) Timeout() bool { return errors.Is(e.Err, os.ErrDeadlineExceeded) }

// Win32Code returns the Win32 error code of the failure.
func (e *OpError) Win32Code() Errno { return Code(e.Err) }

// Code returns the Win32 error code that corresponds to err: 0 for nil, the
// code of a wrapped sentinel, ERROR_INVALID_HANDLE for use after Close, a
// mapping of common errno values, else ERROR_GEN_FAILURE.
func Code(err error) Errno {
	if err == nil {
		return 0
	}
	if c, ok := carriedCode(err); ok {
		return c
	}
	var errno syscall.Errno
	switch {
	case errors.Is(err, net.ErrClosed):
		return winerr.ERROR_INVALID_HANDLE
	case errors.Is(err, os.ErrDeadlineExceeded):
		return winerr.ERROR_SEM_TIMEOUT
	case errors.Is(err, fs.ErrNotExist):
		return winerr.ERROR_FILE_NOT_FOUND
	case errors.Is(err, fs.ErrPermission):
		return winerr.ERROR_ACCESS_DENIED
	case errors.Is(err, fs.ErrExist):
		return winerr.ERROR_ALREADY_EXISTS
	case errors.As(err, &errno):
		return winerr.ERROR_GEN_FAILURE
	}
	return winerr.ERROR_GEN_FAILURE
}

// carriedCode returns the code of the outermost error in err's tree that
// carries one (*OpError only forwards), following both Unwrap forms.
func carriedCode(err error) (Errno, bool) {
	if c, ok := err.(winerr.Coder); ok {
		if _, forward := err.(*OpError); !forward {
			return c.Win32Code(), true
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			return carriedCode(e)
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if c, ok := carriedCode(e); ok {
				return c, true
			}
		}
	}
	return 0, false
}

func opErr(op, name string, err error) error {
	return &OpError{Op: op, Name: name, Err: err}
}
