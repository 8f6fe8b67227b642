//go:build !windows

package mailslot_test

import (
	"testing"

	"github.com/mailslot/mailslot/winerr"
)

// wineDeviation is false off Windows: Wine runs only Windows binaries. See
// wine_windows_test.go.
func wineDeviation(testing.TB, string) bool { return false }

// wantWineErr is only reached when wineDeviation is true.
func wantWineErr(t testing.TB, _ error, _ winerr.Errno) {
	t.Helper()
	t.Fatal("wantWineErr called outside Wine")
}
