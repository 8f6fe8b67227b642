package messenger

import (
	"bytes"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var discard = slog.New(slog.DiscardHandler)

// openPTY opens a pseudo-terminal the test owns and returns the path of
// its terminal side and the controlling side to read from.
func openPTY(t *testing.T) (string, *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(fd), "ptmx") // non-blocking: read deadlines work
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	path := "/dev/pts/" + strconv.Itoa(n)
	// Keep the terminal side open so what is written stays readable.
	slave, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	// Raw output: the test sees the bytes as written (no ONLCR).
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return path, master
}

// readPTY reads what arrived on the controlling side, up to until (or 10
// seconds).
func readPTY(t *testing.T, master *os.File, until string) string {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 4096)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !bytes.Contains(out.Bytes(), []byte(until)) {
		n, err := master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.String()
}

func TestTerminalDeliveryEscapes(t *testing.T) {
	tty, master := openPTY(t)
	r := Record{From: "EVE\x1b]0;owned\x07", To: "BOB", Host: "EVIL", Time: time.Now(),
		Text: "line1\nclear\x1b[2J\r\x9b31m\u202eEND"}
	if err := WriteTerminal(tty, r); err != nil {
		t.Fatal(err)
	}
	got := readPTY(t, master, "END\r\n")
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
