package mailslot

import (
	"os"
	"time"
	"unsafe"

	"github.com/mailslot/mailslot/internal/ctlmsg"
	"golang.org/x/sys/unix"
)

// Admission. The slot decides about a writer once, when it accepts the
// writer's connection, from what the kernel recorded at connect(2): the
// pid and effective uid and gid (SO_PEERCRED) and the supplementary groups
// (SO_PEERGROUPS) of the connecting process. Nothing is looked up later, so
// no exited writer, reused pid or cache can change a decision. The slot
// speaks first, with one non-blocking send into the fresh connection (its
// buffer is empty, so the record always fits): a refused client gets a
// "denied" record carrying the slot's name only and is hung up on; an
// admitted one gets the handshake and the quota page. The slot never reads
// from a client before deciding and never waits for one.

// maxPeers bounds the connections of one slot (descriptors of its process).
// maxPeersPerUser bounds those of any one user other than the owner and
// root, so that an admitted user (with AllowAnyone: any user) who opens
// writers in a loop cannot take every connection and lock others out.
const (
	maxPeers        = 4096
	maxPeersPerUser = maxPeers / 8
)

// Denied connections cost the reader an accept, two getsockopt calls, a send
// and a close each. A token bucket bounds that cost: past denyBurst refusals
// the accept loop takes at most denyRate per second and pauses in between.
// Connected writers are not affected (their records go through the epoll
// set, not the accept loop); new Opens wait while the loop pauses.
const (
	denyRate     = 2000 // refusals per second, sustained
	denyBurst    = 200
	acceptBackup = 10 * time.Millisecond
)

// floodLogGap is the interval of flood log lines: at most one per interval.
var floodLogGap = 10 * time.Second

// listen binds the slot's name. The listener is an *os.File because Go's
// net listeners cannot be waited on with RawConn.Read.
func listen(addr string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	// Before bind: accepted connections inherit it on kernels that have
	// it (6.16+), so that no client can pass the slot descriptors.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSRIGHTS, 0)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: addr}); err != nil {
		unix.Close(fd)
		if err == unix.EADDRINUSE {
			return nil, ErrExists
		}
		return nil, err
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "mailslot-listener"), nil
}

// listenBacklog is the kernel's queue of connections not yet accepted. It
// is short on purpose: during a flood of refused connections the accept loop
// takes denyRate per second, so an admitted Open waits at most about
// listenBacklog/denyRate (130 ms) behind the flood once it is queued.
const listenBacklog = 256

// denyLimiter is the token bucket on refusals, and the flood log.
type denyLimiter struct {
	gap     time.Duration // between log lines
	tokens  float64
	last    time.Time
	logged  time.Time
	denied  int // since the last log line
	paused  time.Duration
	flooded bool
}

// deny records one refusal and returns how long the accept loop must pause.
func (d *denyLimiter) deny(now time.Time) time.Duration {
	if d.last.IsZero() {
		d.tokens, d.last, d.logged = denyBurst, now, now
	}
	d.tokens = min(denyBurst, d.tokens+now.Sub(d.last).Seconds()*denyRate)
	d.last = now
	d.denied++
	d.tokens--
	if d.tokens >= 0 {
		return 0
	}
	d.flooded = true
	wait := time.Duration(-d.tokens / denyRate * float64(time.Second))
	d.paused += wait
	return wait
}

// report returns a log line once per floodLogGap while refusals flood in.
func (d *denyLimiter) report(now time.Time) (denied int, paused time.Duration, ok bool) {
	if !d.flooded || now.Sub(d.logged) < d.gap {
		return 0, 0, false
	}
	denied, paused = d.denied, d.paused
	d.denied, d.paused, d.flooded, d.logged = 0, 0, false, now
	return denied, paused, true
}

// acceptLoop admits or refuses every connection until the slot closes.
func (s *Slot) acceptLoop() {
	defer close(s.accepted)
	raw, err := s.ln.SyscallConn()
	if err != nil {
		return
	}
	var (
		nfd  int
		aerr error
		lim  = denyLimiter{gap: s.floodGap}
	)
	accept := func(fd uintptr) bool {
		nfd, _, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		return aerr != unix.EAGAIN
	}
	for {
		if err := raw.Read(accept); err != nil {
			return // the slot closed
		}
		if aerr != nil {
			if aerr == unix.EMFILE || aerr == unix.ENFILE || aerr == unix.ENOBUFS || aerr == unix.ENOMEM {
				time.Sleep(acceptBackup) // out of descriptors: let some go
			}
			continue
		}
		if s.handshake(nfd) {
			continue
		}
		now := time.Now()
		wait := lim.deny(now)
		if n, paused, ok := lim.report(now); ok {
			s.logger.Printf("mailslot %s: refused %d connections from users it does not admit in the last %v; accepting paused for %v in all",
				s.name, n, lim.gap, paused.Round(time.Millisecond))
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-s.done:
				return
			}
		}
	}
}

// handshake admits or refuses one accepted connection, and reports whether
// it was admitted. It never blocks on the client.
func (s *Slot) handshake(fd int) bool {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || !s.admits(fd, cred) {
		s.refuse(fd, s.denied)
		return false
	}
	if err := setupPeerSocket(fd); err != nil {
		unix.Close(fd)
		return true // not the client's doing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	uid := int(cred.Uid)
	if s.closed || len(s.peers) >= maxPeers || (uid != 0 && uid != s.owner.UID && s.peersOf[uid] >= maxPeersPerUser) {
		s.refuse(fd, s.busy)
		return false
	}
	p := &peer{fd: fd, pid: int(cred.Pid), uid: uid, gid: int(cred.Gid)}
	if err := s.addPeerLocked(p); err != nil {
		unix.Close(fd)
		return true
	}
	info := s.infoLocked() // takes in what others sent: the snapshot is exact
	h := ctlmsg.Hello{Admitted: true, MaxMessageSize: s.set.maxMessageSize, Quota: int64(s.set.quota),
		ReadTimeoutMS: durationMS(info.ReadTimeout), MessageCount: info.MessageCount, NextSize: info.NextSize,
		Name: s.name.String()}
	s.hello = h.Append(s.hello[:0])
	fds, err := s.page.Descriptors()
	if err == nil {
		err = unix.Sendmsg(fd, s.hello, unix.UnixRights(fds...), nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
	}
	if err != nil {
		s.removePeerLocked(p)
	}
	return true
}

// refuse tells a client it is not admitted (record s.denied) or that its
// user holds too many connections (s.busy), and hangs up. The records carry
// the slot's name only and are made once at Create, so a refusal takes no
// lock.
func (s *Slot) refuse(fd int, record []byte) {
	unix.Sendto(fd, record, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, nil)
	unix.Close(fd)
}

// admits reports whether the process that connected on fd may write: root,
// the slot's owner (by effective uid, as the kernel reports both), anyone
// with AllowAnyone, or a member of an allowed group by its effective gid or
// supplementary groups at connect time.
func (s *Slot) admits(fd int, c *unix.Ucred) bool {
	if c.Uid == 0 || int(c.Uid) == s.owner.UID || s.set.allowAnyone {
		return true
	}
	if len(s.set.allowGroups) == 0 {
		return false
	}
	groups, err := peerGroups(fd)
	if err != nil {
		return false
	}
	for _, g := range s.set.allowGroups {
		if g == int(c.Gid) {
			return true
		}
		for _, h := range groups {
			if g == int(h) {
				return true
			}
		}
	}
	return false
}

// peerGroups returns the supplementary groups of the process that connected
// on fd, as the kernel recorded them at connect(2) (SO_PEERGROUPS).
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 64)
	for {
		n := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		switch e {
		case 0:
			return buf[:n/4], nil
		case unix.ERANGE:
			if int(n/4) <= len(buf) || n > 1<<20 {
				return nil, e
			}
			buf = make([]uint32, n/4)
		default:
			return nil, e
		}
	}
}

func durationMS(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}
