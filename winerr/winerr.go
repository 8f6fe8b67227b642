// Package winerr holds the Win32 error codes that mailslot operations and
// wire formats report, so that code ported from Windows can keep its
// GetLastError logic. They live only here: package mailslot returns
// errors that carry them (mailslot.Code) but does not re-export them.
package winerr

import "strconv"

// Errno is a Win32 error code.
type Errno uint32

// Win32 error codes used by mailslots (winerror.h).
const (
	ERROR_FILE_NOT_FOUND      Errno = 2
	ERROR_PATH_NOT_FOUND      Errno = 3
	ERROR_ACCESS_DENIED       Errno = 5
	ERROR_INVALID_HANDLE      Errno = 6
	ERROR_GEN_FAILURE         Errno = 31
	ERROR_NOT_SUPPORTED       Errno = 50
	ERROR_BAD_NETPATH         Errno = 53
	ERROR_INVALID_PARAMETER   Errno = 87
	ERROR_SEM_TIMEOUT         Errno = 121
	ERROR_INSUFFICIENT_BUFFER Errno = 122
	ERROR_INVALID_NAME        Errno = 123
	ERROR_ALREADY_EXISTS      Errno = 183
	ERROR_NOT_ENOUGH_QUOTA    Errno = 1816
)

func (e Errno) String() string { return "Win32 error " + strconv.Itoa(int(e)) }

// Coder is implemented by errors that carry a Win32 code.
type Coder interface {
	Win32Code() Errno
}
