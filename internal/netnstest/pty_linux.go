package netnstest

import (
	"bytes"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal a test owns: programs write to Path (its
// terminal side), the test reads what arrived from the controlling side.
type PTY struct {
	Path   string
	master *os.File
}

// OpenPTY opens a pseudo-terminal with raw output (no newline
// translation), closed at the end of the test.
func OpenPTY(t TB) *PTY {
	t.Helper()
	// Non-blocking, so that the poller serves it and read deadlines work.
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	master := os.NewFile(uintptr(fd), "ptmx")
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
	// The test keeps the terminal side open, so what is written stays
	// readable after the writer closes it.
	slave, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(slave.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return &PTY{Path: path, master: master}
}

// ReadUntil returns what arrived, reading until it contains until or
// timeout passes (then it returns what it has).
func (p *PTY) ReadUntil(until string, timeout time.Duration) string {
	var out bytes.Buffer
	buf := make([]byte, 4096)
	p.master.SetReadDeadline(time.Now().Add(timeout))
	for !bytes.Contains(out.Bytes(), []byte(until)) {
		n, err := p.master.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return out.String()
}
