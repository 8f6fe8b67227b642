package messenger

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	wmsg "github.com/mailslot/mailslot/wire/messenger"
	"golang.org/x/sys/unix"
)

// UtmpPath is where the login records are.
const UtmpPath = "/var/run/utmp"

// utmp record layout on Linux (glibc, all 64-bit and 32-bit ABIs share it).
const (
	utmpSize        = 384
	utmpTypeOff     = 0
	utmpLineOff     = 8
	utmpLineLen     = 32
	utmpUserOff     = 44
	utmpUserLen     = 32
	utmpUserProcess = 7
)

// UserTerminals lists the terminals user is logged in on (from utmp) that
// accept messages: owned by uid and group-writable ("mesg y"), as write(1)
// requires.
func UserTerminals(user string, uid int) []string {
	b, err := os.ReadFile(UtmpPath)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for ; len(b) >= utmpSize; b = b[utmpSize:] {
		if int16(binary.NativeEndian.Uint16(b[utmpTypeOff:])) != utmpUserProcess {
			continue
		}
		if cstr(b[utmpUserOff:utmpUserOff+utmpUserLen]) != user {
			continue
		}
		line := cstr(b[utmpLineOff : utmpLineOff+utmpLineLen])
		if line == "" || strings.Contains(line, "..") {
			continue
		}
		p := "/dev/" + line
		var st unix.Stat_t
		if seen[p] || unix.Stat(p, &st) != nil || int(st.Uid) != uid || st.Mode&unix.S_IWGRP == 0 {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// FormatTerminal renders r for a terminal the way write(1) and wall(1)
// frame a message, with every control character escaped.
func FormatTerminal(r Record) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "\r\nMessage from %s to %s on %s (%s):\r\n",
		wmsg.Sanitize(r.From), wmsg.Sanitize(r.To), wmsg.Sanitize(r.Host), r.Time.Local().Format(time.DateTime))
	for _, l := range strings.Split(wmsg.Sanitize(r.Text), "\n") {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// WriteTerminal writes r to the terminal at path, which must be a
// character device owned by the calling user (root may write to any): a
// popup never goes to somebody else's terminal. It never blocks: a
// terminal that cannot take the text now loses it.
func WriteTerminal(path string, r Record) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return &os.PathError{Op: "write", Path: path, Err: syscall.ENOTTY}
	}
	if uid := os.Geteuid(); uid != 0 && int(st.Uid) != uid {
		return &os.PathError{Op: "write", Path: path, Err: syscall.EACCES}
	}
	_, err = f.Write(FormatTerminal(r))
	return err
}
