package mailslot

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"

	"golang.org/x/sys/unix"
)

// On macOS (no abstract sockets, no per-datagram credentials) a local
// mailslot is a datagram socket file in /tmp/.mailslot/<namespace>/, named
// by the hash of the case-folded name. A lock file held with flock(2) makes
// the name unique and is released by the kernel when the process dies; the
// socket file's mode admits writers. Sender credentials are not available.

const credsSupported = false

// NamespaceEnv names the environment variable that selects an isolated
// mailslot namespace. Empty means the system namespace.
const NamespaceEnv = "MAILSLOT_NAMESPACE"

var nsRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)

func nsDir() string {
	ns := os.Getenv(NamespaceEnv)
	switch {
	case ns == "":
		ns = "system"
	case !nsRE.MatchString(ns):
		h := sha256.Sum256([]byte(ns))
		ns = "h" + hex.EncodeToString(h[:8])
	}
	return filepath.Join("/tmp/.mailslot", ns)
}

func slotBase(n Name) string {
	h := sha256.Sum256([]byte(n.Key()))
	return filepath.Join(nsDir(), hex.EncodeToString(h[:16]))
}

func slotAddr(n Name) string { return slotBase(n) + ".sock" }

func ensureDir(dir string) error {
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Mkdir(d, 0o1777); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		os.Chmod(d, 0o1777) // the umask applied to Mkdir; ignore others' dirs
	}
	return nil
}

func listenSlot(n Name, set *settings) (*net.UnixConn, func(), error) {
	if len(set.allowGroups) > 1 {
		return nil, nil, fmt.Errorf("%w: more than one allowed group on this platform", ErrNotSupported)
	}
	if err := ensureDir(nsDir()); err != nil {
		return nil, nil, err
	}
	base := slotBase(n)
	lock, err := lockFile(base + ".lock")
	if err != nil {
		return nil, nil, err
	}
	sock := base + ".sock"
	os.Remove(sock) // stale, from a reader that died
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	mode := os.FileMode(0o600)
	switch {
	case set.allowAnyone:
		mode = 0o666
	case len(set.allowGroups) == 1:
		mode = 0o660
		err = os.Chown(sock, -1, set.allowGroups[0])
	}
	if err == nil {
		err = os.Chmod(sock, mode)
	}
	release := func() {
		os.Remove(sock)
		os.Remove(lock.Name())
		lock.Close()
	}
	if err != nil {
		conn.Close()
		release()
		return nil, nil, err
	}
	return conn, release, nil
}

// lockFile takes the exclusive lock that owns a name.
func lockFile(path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, ErrExists
			}
			return nil, err
		}
		// The previous owner may have unlinked the file after we opened it.
		var a, b unix.Stat_t
		if unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(path, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			return f, nil
		}
		f.Close()
	}
}

func parseCred(*unix.Cmsghdr, []byte) (creds, bool) { return creds{}, false }

func inGroups(int, []int) bool { return false }

func slotAddrs() ([]string, error) {
	return filepath.Glob(filepath.Join(nsDir(), "*.sock"))
}

// recvBatch receives up to len(b.msgs) datagrams without blocking. macOS
// has no recvmmsg(2): one recvmsg(2) per message.
func recvBatch(fd int, b *rxBatch) (int, error) {
	for i := range b.msgs {
		n, oobn, flags, _, err := unix.Recvmsg(fd, b.msgs[i].Data, b.oobs[i][:], unix.MSG_DONTWAIT)
		if err != nil {
			if i > 0 {
				return i, nil
			}
			return 0, err
		}
		b.res[i] = rxResult{n: n, oobn: oobn, flags: flags}
	}
	return len(b.msgs), nil
}

// rxHeaders is unused here.
type rxHeaders struct{}
