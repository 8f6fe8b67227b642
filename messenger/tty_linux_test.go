package messenger

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/internal/netnstest"
)

var discard = slog.New(slog.DiscardHandler)

func TestTerminalDeliveryEscapes(t *testing.T) {
	pty := netnstest.OpenPTY(t)
	r := Record{From: "EVE\x1b]0;owned\x07", To: "BOB", Host: "EVIL", Time: time.Now(),
		Text: "line1\nclear\x1b[2J\r\x9b31m\u202eEND"}
	if err := WriteTerminal(pty.Path, r); err != nil {
		t.Fatal(err)
	}
	got := pty.ReadUntil("END\r\n", 10*time.Second)
	for i, c := range []byte(got) {
		if (c < 0x20 || c == 0x7f) && c != '\r' && c != '\n' {
			t.Fatalf("raw control byte %#x at %d in %q", c, i, got)
		}
	}
	for _, want := range []string{`EVE\x1b]0;owned\x07`, "line1\r\nclear\\x1b[2J\\x0d\\ufffd31m\\u202eEND\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in %q", want, got)
		}
	}
}

// A popup never goes to a path that is not a terminal, nor (for a normal
// user) to a terminal someone else owns.
func TestTerminalRefusesNonTTY(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "notatty")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := WriteTerminal(f.Name(), Record{Text: "x"}); err == nil {
		t.Fatal("wrote a popup to a regular file")
	}
	if b, _ := os.ReadFile(f.Name()); len(b) != 0 {
		t.Fatalf("file got %q", b)
	}
}

func TestUserTerminalsFromUtmp(t *testing.T) {
	// No entry for a user that does not exist; the parser copes with
	// whatever the host's utmp holds.
	if got := UserTerminals("no-such-user-mailslot", 99999); len(got) != 0 {
		t.Fatalf("%v", got)
	}
}
