//go:build !windows

package mailslot_test

// Platform hooks of the shared tests, Unix side; see platform_windows_test.go.

import (
	"os"
	"testing"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/winerr"
)

// wineDeviation is false off Windows: Wine runs only Windows binaries.
func wineDeviation(testing.TB, string) bool { return false }

// wantWineErr is only reached when wineDeviation is true.
func wantWineErr(t testing.TB, _ error, _ winerr.Errno) {
	t.Helper()
	t.Fatal("wantWineErr called outside Wine")
}

// localSender is the Sender of a message this process wrote, as the kernel
// reports it.
func localSender() mailslot.Sender {
	return mailslot.Sender{PID: os.Getpid(), UID: os.Geteuid(), GID: os.Getegid()}
}

// localMessageCap: a slot with MaxMessageSize 0 refuses messages over
// MaxLocalMessageSize.
const localMessageCap = true

// unixOnly does nothing here: the test's semantics are this backend's.
func unixOnly(testing.TB, string) {}
