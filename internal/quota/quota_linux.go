// Package quota is the quota page a local mailslot shares with its writers:
// one sealed memfd page of atomics, so that a writer reserves room for a
// message before sending it and waits (futex) for room when there is none.
//
// Layout (little-endian, 64-bit aligned):
//
//	0  charged  int64   bytes reserved: queued messages plus messages in flight
//	8  gen      uint32  space generation; bumped when room frees, futex word
//	12 waiters  int32   writers sleeping on gen
//	16 closed   uint32  1 once the slot is closed
//	24 need     int64   the smallest reservation a sleeping writer waits for,
//	                    stored as MaxInt64-need so that a fresh page (zero)
//	                    means none and the slot never has to touch it
//
// Trust model: the slot creates the page and keeps its own authoritative
// count; an admitted writer that scribbles on the page can only make other
// writers' reservations inexact (the slot then stops reading until there is
// room, so its memory stays bounded). A writer never trusts the page's size
// or lifetime: it maps it only after checking that the slot sealed it against
// shrinking, so a hostile slot cannot make the writer fault.
package quota

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Size is the size of the page.
const Size = 4096

const (
	futexWait = 0
	futexWake = 1
)

// wantSeals are the seals a writer requires before it maps a page.
const wantSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// Page is a mapped quota page.
type Page struct {
	mem     []byte
	charged *atomic.Int64
	gen     *atomic.Uint32
	waiters *atomic.Int32
	closed  *atomic.Uint32
	need    *atomic.Int64
}

// ErrBadPage is returned by Map for a descriptor that is not a sealed page.
var ErrBadPage = errors.New("quota: not a sealed quota page")

// Create makes a new page and returns it with its descriptor (close-on-exec),
// which the slot passes to writers.
func Create() (*Page, int, error) {
	fd, err := unix.MemfdCreate("mailslot-quota", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, -1, err
	}
	fail := func(err error) (*Page, int, error) {
		unix.Close(fd)
		return nil, -1, err
	}
	if err := unix.Ftruncate(fd, Size); err != nil {
		return fail(err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, wantSeals); err != nil {
		return fail(err)
	}
	p, err := mapPage(fd)
	if err != nil {
		return fail(err)
	}
	return p, fd, nil
}

// Map checks that fd is a page sealed against resizing, of exactly Size
// bytes, and maps it. The caller keeps (and may close) fd.
func Map(fd int) (*Page, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPage, err)
	}
	if seals&wantSeals != wantSeals {
		return nil, fmt.Errorf("%w: seals %#x", ErrBadPage, seals)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != Size {
		return nil, fmt.Errorf("%w: mode %#o size %d", ErrBadPage, st.Mode, st.Size)
	}
	return mapPage(fd)
}

func mapPage(fd int) (*Page, error) {
	mem, err := unix.Mmap(fd, 0, Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	base := unsafe.Pointer(&mem[0])
	return &Page{
		mem:     mem,
		charged: (*atomic.Int64)(base),
		gen:     (*atomic.Uint32)(unsafe.Add(base, 8)),
		waiters: (*atomic.Int32)(unsafe.Add(base, 12)),
		closed:  (*atomic.Uint32)(unsafe.Add(base, 16)),
		need:    (*atomic.Int64)(unsafe.Add(base, 24)),
	}, nil
}

// Unmap releases the mapping. No method may be running or called later.
func (p *Page) Unmap() error { return unix.Munmap(p.mem) }

// Charged is the number of bytes reserved.
func (p *Page) Charged() int64 { return p.charged.Load() }

// Closed reports whether the slot has closed.
func (p *Page) Closed() bool { return p.closed.Load() != 0 }

// TryReserve reserves n bytes if that keeps the charge within quota.
func (p *Page) TryReserve(n, quota int64) bool {
	for {
		cur := p.charged.Load()
		if cur+n > quota {
			return false
		}
		if p.charged.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// noNeed is the need when no writer sleeps (stored as 0).
const noNeed = 1<<63 - 1

func (p *Page) loadNeed() int64 { return noNeed - p.need.Load() }

// Release returns n reserved bytes. If writers sleep waiting for room, it
// wakes them once the smallest of them fits and an eighth of the quota is
// free: a release costs no system call while nobody waits, and sleeping
// writers are woken in batches rather than once per message. A sleeping
// writer also looks again at its own deadline.
func (p *Page) Release(n, quota int64) {
	c := p.charged.Add(-n)
	if p.waiters.Load() > 0 && quota-c >= max(p.loadNeed(), quota/8) {
		p.need.Store(0)
		p.WakeAll()
	}
}

// WakeAll wakes every writer waiting for room (they check again).
func (p *Page) WakeAll() {
	p.gen.Add(1)
	futex(p.gen, futexWake, 1<<30, nil)
}

// MarkClosed tells waiting and future writers that the slot is gone.
func (p *Page) MarkClosed() {
	p.closed.Store(1)
	p.WakeAll()
}

// Reserve reserves n bytes within quota, waiting for room until deadline.
// It returns false if there was no room in time, or the slot closed, or
// stop returned true (checked after every wake-up).
func (p *Page) Reserve(n, quota int64, deadline time.Time, stop func() bool) bool {
	for {
		if p.TryReserve(n, quota) {
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 || p.Closed() || stop() {
			return false
		}
		// Register before the last check, so that a Release that misses
		// the waiter count cannot happen after that check: either it sees
		// us, or we see its room.
		g := p.gen.Load()
		p.waiters.Add(1)
		for inv := p.need.Load(); noNeed-n > inv && !p.need.CompareAndSwap(inv, noNeed-n); inv = p.need.Load() {
		}
		if p.TryReserve(n, quota) {
			p.waiters.Add(-1)
			return true
		}
		ts := unix.NsecToTimespec(int64(wait))
		futex(p.gen, futexWait, g, &ts)
		p.waiters.Add(-1)
	}
}

// futex calls futex(2) on a word of the shared page (not FUTEX_PRIVATE: the
// slot and its writers are different processes).
func futex(addr *atomic.Uint32, op int, val uint32, ts *unix.Timespec) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), uintptr(op), uintptr(val),
		uintptr(unsafe.Pointer(ts)), 0, 0)
}
