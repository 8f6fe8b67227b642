package mailslot

import (
	"errors"

	"golang.org/x/sys/windows"

	"github.com/mailslot/mailslot/winerr"
)

// win32Error is a failure reported by Windows. It carries the real Win32
// code (Code and OpError.Win32Code return it, not the sentinel's) and
// matches the package sentinel of the same meaning, so errors.Is works the
// same on every platform.
type win32Error struct {
	code     windows.Errno
	sentinel error // nil when no sentinel fits
}

func (e *win32Error) Error() string {
	if e.sentinel != nil {
		return e.sentinel.Error() + " (" + e.code.Error() + ")"
	}
	return e.code.Error()
}

func (e *win32Error) Win32Code() Errno { return Errno(e.code) }

func (e *win32Error) Unwrap() []error {
	if e.sentinel == nil {
		return []error{e.code}
	}
	return []error{e.sentinel, e.code}
}

// sentinelOf maps the Win32 codes mailslot calls return to the sentinels.
var sentinelOf = map[windows.Errno]error{
	windows.ERROR_FILE_NOT_FOUND:      ErrNotFound,
	windows.ERROR_PATH_NOT_FOUND:      ErrNotFound,
	windows.ERROR_ACCESS_DENIED:       ErrAccessDenied,
	windows.ERROR_ALREADY_EXISTS:      ErrExists,
	windows.ERROR_SEM_TIMEOUT:         ErrTimeout,
	windows.ERROR_INSUFFICIENT_BUFFER: ErrBufferTooSmall,
	windows.ERROR_INVALID_NAME:        ErrInvalidName,
	windows.ERROR_BAD_NETPATH:         ErrBadNetPath,
	windows.ERROR_INVALID_PARAMETER:   ErrInvalidParameter,
	windows.ERROR_NOT_SUPPORTED:       ErrNotSupported,
	windows.ERROR_BAD_DEV_TYPE:        ErrNotSupported,
	windows.ERROR_INVALID_FUNCTION:    ErrNotSupported,
	windows.ERROR_NOT_ENOUGH_QUOTA:    ErrSlotFull,
}

// winErr converts an error from a Windows call into a win32Error; other
// errors pass through.
func winErr(err error) error {
	var errno windows.Errno
	if !errors.As(err, &errno) {
		return err
	}
	return &win32Error{code: errno, sentinel: sentinelOf[errno]}
}

var _ winerr.Coder = (*win32Error)(nil)
