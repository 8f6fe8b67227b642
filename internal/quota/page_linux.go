// Package quota is the quota page a local mailslot shares with its writers:
// one sealed memfd page of atomics, so that a writer reserves room for a
// message before sending it, and a wake channel on which writers that wait
// for room are told when there is some.
//
// Layout of the page (little-endian, 64-bit aligned):
//
//	0  charged  int64   bytes reserved: queued messages plus messages in flight
//	8  waiters  int32   writers waiting for room
//	12 closed   uint32  1 once the slot is closed
//	16 need     int64   the smallest reservation a waiting writer waits for,
//	                    stored as MaxInt64-need so that a fresh page (zero)
//	                    means none and the slot never has to touch it
//
// Trust model: the slot creates the page and the wake channel and keeps its
// own authoritative count; an admitted writer that scribbles on the page or
// meddles with the wake channel can only make other writers' reservations
// inexact or their wake-ups late (a waiting writer looks at the page again
// at least every MaxWaitSlice, and gives up at its deadline), and the slot
// never blocks on either: it stops reading at its quota, so its memory stays
// bounded, and it signals with per-call non-blocking sends. A writer never
// trusts the page's size or lifetime: it maps it only after checking that the
// slot sealed it against shrinking, so a hostile slot cannot make the writer
// fault; and it only waits on the wake channel, with a deadline, after
// checking that it is a Unix datagram socket.
package quota

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Size is the size of the page.
const Size = 4096

// wantSeals are the seals a writer requires before it maps a page.
const wantSeals = unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL

// Page is a mapped quota page: the slot's (made by Create, which signals
// waiting writers) or a writer's (made by Map, which waits).
type Page struct {
	mem     []byte
	charged *atomic.Int64
	waiters *atomic.Int32
	closed  *atomic.Uint32
	need    *atomic.Int64

	fd   int // the slot's: the memfd it passes to writers
	wait *waiter
	// The slot's end of the wake channel, made when the first writer
	// needs it, so that an idle slot holds no socket.
	signal   atomic.Pointer[waker]
	signalMu sync.Mutex // makes it once
}

// ErrBadPage is returned by Map for descriptors that are not a sealed page
// and a wake channel.
var ErrBadPage = errors.New("quota: not a sealed quota page")

// Create makes a new page and wake channel for a slot. Descriptors returns
// what the slot passes to each admitted writer.
func Create() (*Page, error) {
	fd, err := unix.MemfdCreate("mailslot-quota", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Page, error) {
		unix.Close(fd)
		return nil, err
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
	p.fd = fd
	return p, nil
}

// Descriptors are the slot's page and the writers' end of its wake channel
// (made by the first call), to be passed (SCM_RIGHTS) to an admitted
// writer, in this order.
func (p *Page) Descriptors() ([]int, error) {
	w := p.signal.Load()
	if w == nil {
		p.signalMu.Lock()
		defer p.signalMu.Unlock()
		if w = p.signal.Load(); w == nil {
			var err error
			if w, err = newWaker(); err != nil {
				return nil, err
			}
			p.signal.Store(w)
		}
	}
	return []int{p.fd, w.peer}, nil
}

// Map checks that pagefd is a page sealed against resizing, of exactly Size
// bytes, and that wakefd is a Unix datagram socket, and maps the page. It
// takes both descriptors: it closes pagefd, and wakefd too unless it succeeds.
func Map(pagefd, wakefd int) (*Page, error) {
	defer unix.Close(pagefd)
	if err := checkPage(pagefd); err != nil {
		unix.Close(wakefd)
		return nil, err
	}
	wt, err := newWaiter(wakefd)
	if err != nil {
		return nil, err
	}
	p, err := mapPage(pagefd)
	if err != nil {
		wt.close()
		return nil, err
	}
	p.wait = wt
	return p, nil
}

func checkPage(fd int) error {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadPage, err)
	}
	if seals&wantSeals != wantSeals {
		return fmt.Errorf("%w: seals %#x", ErrBadPage, seals)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != Size {
		return fmt.Errorf("%w: mode %#o size %d", ErrBadPage, st.Mode, st.Size)
	}
	return nil
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
		waiters: (*atomic.Int32)(unsafe.Add(base, 8)),
		closed:  (*atomic.Uint32)(unsafe.Add(base, 12)),
		need:    (*atomic.Int64)(unsafe.Add(base, 16)),
		fd:      -1,
	}, nil
}

// Close unmaps the page and closes its descriptors. No method may be running
// or called later.
func (p *Page) Close() error {
	err := unix.Munmap(p.mem)
	if p.fd >= 0 {
		unix.Close(p.fd)
	}
	if w := p.signal.Load(); w != nil {
		w.close()
	}
	if p.wait != nil {
		p.wait.close()
	}
	return err
}

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

// noNeed is the need when no writer waits (stored as 0).
const noNeed = 1<<63 - 1

func (p *Page) loadNeed() int64 { return noNeed - p.need.Load() }

// Release returns n reserved bytes. On the slot's page, if writers wait for
// room, it wakes them once the smallest of them fits and an eighth of the
// quota is free: a release costs no system call while nobody waits, and
// waiting writers are woken in batches rather than once per message. (A
// writer releasing a reservation it could not send wakes nobody: waiting
// writers see the room at their next look.)
func (p *Page) Release(n, quota int64) {
	c := p.charged.Add(-n)
	if p.waiters.Load() > 0 && quota-c >= max(p.loadNeed(), quota/8) {
		if w := p.signal.Load(); w != nil {
			p.need.Store(0)
			w.wake()
		}
	}
}

// MarkClosed tells waiting and future writers that the slot is gone.
func (p *Page) MarkClosed() {
	p.closed.Store(1)
	if w := p.signal.Load(); w != nil {
		w.wake()
	}
}

// Kick makes this writer's waits look at the page, and stop() again, now.
func (p *Page) Kick() { p.wait.kick() }

// Reserve reserves n bytes within quota, waiting for room until deadline.
// It returns false if there was no room in time, or the slot closed, or
// stop returned true (checked whenever the writer looks at the page).
func (p *Page) Reserve(n, quota int64, deadline time.Time, stop func() bool) bool {
	ready := func() bool { return p.TryReserve(n, quota) }
	for {
		if ready() {
			return true
		}
		if !time.Now().Before(deadline) || p.Closed() || stop() {
			return false
		}
		// Register before the last look, so that a Release cannot miss
		// us: either it sees the waiter and its need and signals, or we
		// see its room (every access here and in Release is sequentially
		// consistent).
		p.waiters.Add(1)
		for inv := p.need.Load(); noNeed-n > inv && !p.need.CompareAndSwap(inv, noNeed-n); inv = p.need.Load() {
		}
		got := false
		p.wait.wait(deadline, func() bool {
			got = got || ready()
			return got || p.Closed() || stop()
		})
		p.waiters.Add(-1)
		if got {
			return true
		}
	}
}
