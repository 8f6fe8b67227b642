package mailslot_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/winerr"
)

func TestErrorsMatchGoConventions(t *testing.T) {
	for _, tc := range []struct {
		err    error
		target error
		code   mailslot.Errno
	}{
		{mailslot.ErrExists, fs.ErrExist, 183},
		{mailslot.ErrNotFound, fs.ErrNotExist, 2},
		{mailslot.ErrAccessDenied, fs.ErrPermission, 5},
		{mailslot.ErrTimeout, os.ErrDeadlineExceeded, 121},
		{mailslot.ErrBufferTooSmall, mailslot.ErrBufferTooSmall, 122},
		{mailslot.ErrInvalidName, fs.ErrInvalid, 123},
		{mailslot.ErrBadNetPath, mailslot.ErrBadNetPath, 53},
		{&mailslot.OpError{Op: "read", Name: "x", Err: net.ErrClosed}, net.ErrClosed, 6},
	} {
		if !errors.Is(tc.err, tc.target) {
			t.Errorf("%v is not %v", tc.err, tc.target)
		}
		if got := mailslot.Code(tc.err); got != tc.code {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.code)
		}
	}
}

func TestOpErrorNamesTheSlot(t *testing.T) {
	name := uniqueName(t)
	_, err := mailslot.Open(name)
	var op *mailslot.OpError
	if !errors.As(err, &op) || op.Op != "open" || !strings.Contains(err.Error(), name) {
		t.Fatalf("%v", err)
	}
	if op.Win32Code() != winerr.ERROR_FILE_NOT_FOUND || op.Timeout() {
		t.Fatalf("code %d timeout %v", op.Win32Code(), op.Timeout())
	}
	s := mustCreate(t, uniqueName(t), nil)
	_, err = s.Read(nil)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read timeout is not a net.Error timeout: %v", err)
	}
}
