package mailslot_test

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
// deviations from Windows (docs/semantics.md, "Windows backend under Wine")
// the caller asserts instead of Windows' behaviour. Only those checks use it;
// everything else must pass under Wine exactly as on Windows.
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
