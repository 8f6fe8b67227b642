package mailslot

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux a local mailslot is an abstract-namespace datagram socket named
// "@mailslot/<namespace>/<hash of the case-folded name>". Binding the name is
// the uniqueness check, and the kernel releases it the moment the socket is
// closed or its process dies, so a crashed reader leaves nothing behind.
// Abstract sockets have no file permissions: access is checked against the
// kernel-verified SCM_CREDENTIALS of every datagram.

const credsSupported = true

// NamespaceEnv names the environment variable that selects an isolated
// mailslot namespace (for tests, or several instances on one machine). Slots
// created in one namespace are invisible from another. Empty means the
// system namespace.
const NamespaceEnv = "MAILSLOT_NAMESPACE"

var nsRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

// namespacePrefix is the abstract address prefix of the current namespace.
func namespacePrefix() string {
	ns := os.Getenv(NamespaceEnv)
	switch {
	case ns == "":
		ns = "system"
	case !nsRE.MatchString(ns):
		h := sha256.Sum256([]byte(ns))
		ns = "h" + hex.EncodeToString(h[:8])
	}
	return "@mailslot/" + ns + "/"
}

func slotAddr(n Name) string {
	h := sha256.Sum256([]byte(n.Key()))
	return namespacePrefix() + hex.EncodeToString(h[:16])
}

func listenSlot(n Name, _ *settings) (*net.UnixConn, func(), error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			// Before bind, so that no datagram can arrive without credentials.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "unixgram", slotAddr(n))
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, nil, ErrExists
		}
		return nil, nil, err
	}
	return pc.(*net.UnixConn), func() {}, nil
}

func parseCred(h *unix.Cmsghdr, data []byte) (creds, bool) {
	if h.Type != unix.SCM_CREDENTIALS || len(data) < unix.SizeofUcred {
		return creds{}, false
	}
	u := (*unix.Ucred)(unsafe.Pointer(&data[0]))
	return creds{ok: true, pid: int(u.Pid), uid: int(u.Uid), gid: int(u.Gid)}, true
}

// inGroups reports whether process pid belongs to one of groups, by its
// supplementary group list.
func inGroups(pid int, groups []int) bool {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "Groups:")
		if !ok {
			continue
		}
		for _, field := range strings.Fields(rest) {
			g, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			for _, want := range groups {
				if g == want {
					return true
				}
			}
		}
		return false
	}
	return false
}

// slotAddrs lists the addresses of live slots in the current namespace.
func slotAddrs() ([]string, error) {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := namespacePrefix()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 {
			continue
		}
		p := fields[7]
		if strings.HasPrefix(p, prefix) && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /proc/net/unix: %w", err)
	}
	return out, nil
}

// recvBatch receives up to len(b.msgs) datagrams with one recvmmsg(2)
// call, without blocking, and returns how many arrived. The arguments live
// in b so that receiving does not allocate.
func recvBatch(fd int, b *rxBatch) (int, error) {
	n := len(b.msgs)
	for i := 0; i < n; i++ {
		h := &b.hdrs[i]
		b.iovs[i].Base = &b.msgs[i].Data[0]
		b.iovs[i].SetLen(len(b.msgs[i].Data))
		h.Hdr.Iov = &b.iovs[i]
		h.Hdr.SetIovlen(1)
		h.Hdr.Control = &b.oobs[i][0]
		h.Hdr.SetControllen(len(b.oobs[i]))
		h.Hdr.Flags = 0
		h.Len = 0
	}
	r0, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(n),
		uintptr(unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC), 0, 0)
	for i := 0; i < n; i++ {
		h := &b.hdrs[i]
		b.res[i] = rxResult{n: int(h.Len), oobn: int(h.Hdr.Controllen), flags: int(h.Hdr.Flags)}
		b.iovs[i].Base, h.Hdr.Iov, h.Hdr.Control = nil, nil, nil // do not keep buffers alive
	}
	if e != 0 {
		return 0, e
	}
	return int(r0), nil
}

// rxHeaders are recvmmsg's message headers.
type rxHeaders [rxBatchMax]unix.Mmsghdr
