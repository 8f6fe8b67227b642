package privdrop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Keeper is the thread that keeps the capabilities.
type Keeper struct {
	req  chan func()
	keep uint64 // capability mask kept after Drop
}

// New starts the keeper thread. Until Drop it runs with the process's
// privileges.
func New() *Keeper {
	k := &Keeper{req: make(chan func())}
	go k.loop()
	return k
}

func (k *Keeper) loop() {
	// Never unlocked: when the goroutine ends, its thread ends too, and no
	// other goroutine ever runs with the keeper's capabilities.
	runtime.LockOSThread()
	for f := range k.req {
		f()
	}
}

// Do runs f on the keeper thread and returns its error. Calls are
// serialised.
func (k *Keeper) Do(f func() error) error {
	errc := make(chan error, 1)
	k.req <- func() { errc <- f() }
	return <-errc
}

// Kept returns the capabilities the keeper holds after Drop, as a mask of
// 1<<CAP_x bits.
func (k *Keeper) Kept() uint64 { return k.keep }

// Needed returns what binding a device-bound UDP socket on a port below
// 1024 needs: CAP_NET_BIND_SERVICE, and before Linux 5.7 also CAP_NET_RAW
// (SO_BINDTODEVICE was privileged until then; since 5.7 anyone may set it
// on a socket not yet bound to a device).
func Needed() uint64 {
	keep := uint64(1) << unix.CAP_NET_BIND_SERVICE
	if kernelBefore(5, 7) {
		keep |= 1 << unix.CAP_NET_RAW
	}
	return keep
}

// Drop switches every thread of the process to uid and gid, with no
// supplementary groups. Every thread but the keeper loses all
// capabilities; the keeper keeps those in keep (effective and permitted;
// none inheritable or ambient). The bounding set is narrowed to keep on
// the keeper, and on every thread when the binary has no cgo
// (AllThreadsSyscall). The process must run as root.
func (k *Keeper) Drop(uid, gid int, keep uint64) error {
	if uid == 0 {
		return errors.New("privdrop: refusing to drop to uid 0")
	}
	err := k.Do(func() error { return drop(uid, gid, keep) })
	if err != nil {
		return err
	}
	k.keep = keep
	return k.Do(func() error { return verify(keep) })
}

// drop runs on the keeper thread.
func drop(uid, gid int, keep uint64) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	if err := narrowBounding(keep, last); err != nil {
		return err
	}
	// Keep the permitted set across the switch on this thread only: the
	// flag is per thread, so the others lose everything.
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("privdrop: PR_SET_KEEPCAPS: %w", err)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("privdrop: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("privdrop: setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("privdrop: setuid: %w", err)
	}
	// The switch cleared the effective set; raise exactly keep again and
	// shrink the permitted set to it (inheritable empty, which also
	// empties the ambient set).
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	data[0].Effective, data[0].Permitted = uint32(keep), uint32(keep)
	data[1].Effective, data[1].Permitted = uint32(keep>>32), uint32(keep>>32)
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("privdrop: capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("privdrop: PR_SET_KEEPCAPS: %w", err)
	}
	return nil
}

// narrowBounding drops every capability but keep from the bounding set,
// which limits what an execve can ever grant (a set-uid root program run
// by a compromised process). It needs CAP_SETPCAP, so it runs before the
// switch: on every thread when the runtime can reach them all
// (AllThreadsSyscall, binaries without cgo), else on the keeper's. Without
// CAP_SETPCAP (a service manager that left it out) the set stays as the
// manager narrowed it.
func narrowBounding(keep uint64, last int) error {
	all := true
	for c := 0; c <= last; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		var err error
		if all {
			if _, _, e := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e == syscall.ENOTSUP {
				all = false
			} else if e != 0 {
				err = e
			}
		}
		if !all {
			err = unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		}
		switch {
		case errors.Is(err, syscall.EPERM):
			return nil
		case err != nil:
			return fmt.Errorf("privdrop: dropping capability %d from the bounding set: %w", c, err)
		}
	}
	return nil
}

// verify runs on the keeper thread after the drop: it holds exactly keep,
// and every other thread of the process holds nothing.
func verify(keep uint64) error {
	self := unix.Gettid()
	tasks, err := filepath.Glob("/proc/self/task/*")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(filepath.Base(t))
		if err != nil {
			continue
		}
		eff, prm, err := caps(tid)
		if errors.Is(err, syscall.ESRCH) {
			continue // the thread ended meanwhile
		}
		if err != nil {
			return fmt.Errorf("privdrop: capget %d: %w", tid, err)
		}
		want := uint64(0)
		if tid == self {
			want = keep
		}
		if eff != want || prm != want {
			return fmt.Errorf("privdrop: thread %d holds capabilities %#x/%#x after the drop, want %#x", tid, eff, prm, want)
		}
	}
	return nil
}

func caps(tid int) (eff, prm uint64, err error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(tid)}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32,
		uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32, nil
}

func lastCap() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("privdrop: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// kernelBefore reports whether the running kernel is older than
// major.minor.
func kernelBefore(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma < major || ma == major && mi < minor
}
