package mailslot_test

// Platform hooks of the shared tests, Windows side (run under Wine 8 in CI).
// platform_other_test.go has the twins.

import (
	"errors"
	"sync"
	"syscall"
	"testing"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/internal/winapi"
	"github.com/mailslot/mailslot/winerr"
)

var underWine = sync.OnceValue(func() bool {
	_, ok := winapi.WineVersion()
	return ok
})

// wineDeviation reports whether the test runs under Wine (ntdll exports
// wine_get_version) and, if so, logs which of Wine 8's documented mailslot
// deviations from Windows (docs/semantics.md, "Windows backend: the
// conformance suite under Wine and on Linux") the caller asserts instead of
// Windows' behaviour. Only those checks use it; everything else must pass
// under Wine exactly as on Windows.
func wineDeviation(t testing.TB, deviation string) bool {
	t.Helper()
	if !underWine() {
		return false
	}
	t.Logf("Wine deviation asserted: %s", deviation)
	return true
}

// wantWineErr checks an error that Wine returns where Windows succeeds or
// fails otherwise: an *OpError carrying Wine's real Win32 code.
func wantWineErr(t testing.TB, err error, code winerr.Errno) {
	t.Helper()
	var op *mailslot.OpError
	if !errors.As(err, &op) || mailslot.Code(err) != code || !errors.Is(err, syscall.Errno(code)) {
		t.Fatalf("err = %v (code %d), want Wine's Win32 error %d", err, mailslot.Code(err), code)
	}
}

// localSender is the Sender of a message this process wrote: Windows tells
// a mailslot reader nothing about the writer.
func localSender() mailslot.Sender { return mailslot.Sender{PID: -1, UID: -1, GID: -1} }

// localMessageCap reports whether a slot with MaxMessageSize 0 refuses
// messages over MaxLocalMessageSize. On Windows 0 means any size, as in
// CreateMailslot (slot_windows_test.go TestWindowsLargeMessage).
const localMessageCap = false

// unixOnly ends a test of Unix-backend semantics that Windows defines
// otherwise; the reason names the Windows-side test or document.
func unixOnly(t testing.TB, reason string) {
	t.Helper()
	t.Skip("Unix backend semantics; on Windows: " + reason)
}
