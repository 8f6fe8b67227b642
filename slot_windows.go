package mailslot

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/mailslot/mailslot/internal/winapi"
)

// The Windows backend: a Slot is a real Win32 mailslot (CreateMailslotW), a
// Writer a CreateFile handle on it, so native Windows programs and this
// package interoperate in both directions, locally and through Windows' own
// redirector for \\HOST\mailslot\... names.
//
// Reads. CreateMailslotW returns an asynchronous handle on Windows: a read
// is an overlapped ReadFile that Close, SetReadDeadline and a cancelled ctx
// interrupt with CancelIoEx. Wine 8 makes the handle synchronous instead
// (its server creates the mailslot fd with FILE_SYNCHRONOUS_IO_NONALERT), and
// there a blocked ReadFile can be ended by nothing but a message or the
// slot's own read timeout (CancelIoEx finds nothing to cancel). So on a
// synchronous handle, which Create detects with FileModeInformation, every
// ReadFile waits at most syncReadSlice (the slot's read timeout is set per
// call) and the reader loops, re-checking Close, ctx and the deadline. The
// code path is the same on both; only the slice differs.

// syncReadSlice bounds one ReadFile on a synchronous handle: how late a
// Close, deadline change or ctx cancel is noticed under Wine.
const syncReadSlice = 50 * time.Millisecond

// nsRoot is the path component under which a namespace's slots live: on
// Windows the mailslot name space is machine-wide, so Config.Namespace and
// WithNamespace("ns") map \\.\mailslot\x to \\.\mailslot\mailslot-ns\ns\x.
// The default (empty) namespace uses names exactly as given, so native
// Windows programs see them.
const nsRoot = `mailslot-ns\`

// Slot is the server (reading) end of a local mailslot. Only the process
// that created it can read; any number of Writers can send to it. A Slot is
// safe for concurrent use; reads are served one at a time, in FIFO order.
type Slot struct {
	name        Name
	kernelName  string // the Win32 name given to CreateMailslotW
	h           windows.Handle
	syncIO      bool // the handle does synchronous I/O (Wine): reads are sliced
	maxSize     int  // as configured, for ReadMessage's buffer
	readTimeout atomic.Int64
	deadline    atomic.Int64 // UnixNano; 0 = none
	gen         atomic.Uint64

	// sem admits one ReadFile at a time; the holder owns ev, ov, n, buf and
	// kernelTimeout. Close takes it for good before closing the handle.
	sem           chan struct{}
	ev            windows.Handle
	ov            windows.Overlapped
	n             uint32
	buf           []byte
	kernelTimeout uint32

	mu       sync.Mutex
	closed   bool
	done     chan struct{} // closed by Close
	wake     chan struct{} // closed and replaced by SetReadDeadline
	inflight bool          // a ReadFile is pending on ov (async handles)
}

// Create creates the local mailslot name (`\\.\mailslot\...`) with
// CreateMailslotW and returns its reading end. A nil cfg means the defaults
// described on Config. The name is free again as soon as the Slot is closed
// or its process exits.
func Create(name string, cfg *Config) (*Slot, error) {
	n, err := ParseName(name)
	if err != nil {
		return nil, opErr("create", name, err)
	}
	s, err := create(n, cfg)
	if err != nil {
		return nil, opErr("create", n.String(), err)
	}
	return s, nil
}

func create(n Name, cfg *Config) (*Slot, error) {
	if !n.IsLocal() {
		return nil, fmt.Errorf("%w: only local mailslots can be created (a process cannot create a remote mailslot)", ErrInvalidName)
	}
	set, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if set.allowRemote || len(set.remoteNetworks) > 0 {
		// Windows delivers remote messages itself, to every slot, and says
		// nothing about their origin: there is nothing to opt into or filter.
		return nil, fmt.Errorf("%w: AllowRemote/RemoteNetworks: Windows' own mailslot server delivers remote messages to every slot", ErrNotSupported)
	}
	kname, err := kernelName(n, set.namespace)
	if err != nil {
		return nil, err
	}
	sa, err := securityAttributes(&set)
	if err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(kname)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidName, err)
	}
	// The read timeout is 0 here: each read sets the kernel's timeout to
	// what that read may still wait (see take); Info reports Config's.
	h, err := winapi.CreateMailslot(p, uint32(set.maxMessageSize), 0, sa)
	if err != nil {
		return nil, winErr(err)
	}
	s := &Slot{name: n, kernelName: kname, h: h, maxSize: set.limit(), sem: make(chan struct{}, 1),
		done: make(chan struct{}), wake: make(chan struct{})}
	s.readTimeout.Store(int64(set.readTimeout))
	s.syncIO = isSynchronous(h)
	if s.ev, err = windows.CreateEvent(nil, 1, 0, nil); err != nil {
		windows.CloseHandle(h)
		return nil, winErr(err)
	}
	return s, nil
}

// kernelName is the Win32 name of a local slot in namespace ns.
func kernelName(n Name, ns string) (string, error) {
	if err := checkWin32Path(n); err != nil {
		return "", err
	}
	if ns == "" {
		return n.String(), nil
	}
	if ns == "." || ns == ".." || strings.ContainsAny(ns, `\/*?"<>|`) || strings.IndexFunc(ns, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("%w: namespace %q must be one plain path component", ErrInvalidParameter, ns)
	}
	return `\\.\mailslot\` + nsRoot + ns + `\` + n.Path, nil
}

// checkWin32Path refuses what Win32 path normalisation would change: it
// resolves "." and ".." components and trims trailing dots and spaces from
// the last one (verified under Wine: `abc. ` is `abc`). Two names that
// differ only there must not reach one slot: `a\..\b` would be `b`.
func checkWin32Path(n Name) error {
	for _, c := range strings.Split(n.Path, `\`) {
		if c == "." || c == ".." {
			return fmt.Errorf("%w %q: Windows resolves %q components", ErrInvalidName, n.String(), c)
		}
	}
	if strings.HasSuffix(n.Path, ".") || strings.HasSuffix(n.Path, " ") {
		return fmt.Errorf("%w %q: Windows trims trailing dots and spaces", ErrInvalidName, n.String())
	}
	return nil
}

// isSynchronous reports whether h does synchronous I/O. When the mode cannot
// be read it answers true: slicing reads is safe on any handle.
func isSynchronous(h windows.Handle) bool {
	const fileModeInformation = 16
	var mode uint32
	var iosb windows.IO_STATUS_BLOCK
	if windows.NtQueryInformationFile(h, &iosb, (*byte)(unsafe.Pointer(&mode)), 4, fileModeInformation) != nil {
		return true
	}
	return mode&(windows.FILE_SYNCHRONOUS_IO_ALERT|windows.FILE_SYNCHRONOUS_IO_NONALERT) != 0
}

// Name returns the slot's name as created.
func (s *Slot) Name() Name { return s.name }

// Info returns the slot's state from GetMailslotInfo. ReadTimeout is the
// slot's configured timeout (the kernel's is managed per read).
func (s *Slot) Info() (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Info{}, opErr("info", s.name.String(), net.ErrClosed)
	}
	info, err := mailslotInfo(s.h)
	if err != nil {
		return Info{}, opErr("info", s.name.String(), err)
	}
	info.ReadTimeout = time.Duration(s.readTimeout.Load())
	return info, nil
}

// mailslotInfo calls GetMailslotInfo; ReadTimeout is the kernel's.
func mailslotInfo(h windows.Handle) (Info, error) {
	var max, next, count, timeout uint32
	if err := winapi.GetMailslotInfo(h, &max, &next, &count, &timeout); err != nil {
		return Info{}, winErr(err)
	}
	info := Info{MaxMessageSize: int(max), NextSize: int(next), MessageCount: int(count),
		ReadTimeout: time.Duration(timeout) * time.Millisecond}
	if next == winapi.MAILSLOT_NO_MESSAGE {
		info.NextSize = NoMessage
	}
	if timeout == winapi.MAILSLOT_WAIT_FOREVER {
		info.ReadTimeout = WaitForever
	}
	return info, nil
}

// SetReadTimeout changes the read timeout (SetMailslotInfo): 0 returns at
// once when empty, WaitForever (any negative value) blocks. It applies to
// reads that start afterwards.
func (s *Slot) SetReadTimeout(d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return opErr("set timeout", s.name.String(), net.ErrClosed)
	}
	s.readTimeout.Store(int64(normTimeout(d)))
	return nil
}

// SetReadDeadline sets an absolute limit for pending and future reads, in
// addition to the read timeout. The zero time clears it.
func (s *Slot) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return opErr("set deadline", s.name.String(), net.ErrClosed)
	}
	s.deadline.Store(deadlineNanos(t))
	close(s.wake) // readers waiting for their turn recompute their wait
	s.wake = make(chan struct{})
	s.mu.Unlock()
	s.kick() // and the one in ReadFile starts over with the new deadline
	return nil
}

// Close deletes the mailslot: unread messages are discarded, blocked reads
// return net.ErrClosed, and the name can be created again once no Writer
// holds it open (Windows keeps a slot's name while clients are open).
func (s *Slot) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return opErr("close", s.name.String(), net.ErrClosed)
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	s.kick()
	s.sem <- struct{}{} // the read in flight has returned; none will start
	err := windows.CloseHandle(s.h)
	windows.CloseHandle(s.ev)
	if err != nil {
		return opErr("close", s.name.String(), winErr(err))
	}
	return nil
}

// kick makes the ReadFile in flight, if any, return now (CancelIoEx on an
// asynchronous handle) and tells a read about to start to look again.
func (s *Slot) kick() {
	s.gen.Add(1)
	s.mu.Lock()
	if s.inflight {
		windows.CancelIoEx(s.h, &s.ov)
	}
	s.mu.Unlock()
}
