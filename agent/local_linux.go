package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/winerr"
	"golang.org/x/sys/unix"
)

// client is one local connection.
type client struct {
	c    *net.UnixConn
	cred *unix.Ucred
}

// maxResolveTimeout caps what a client may ask for; readyTimeout bounds
// how long a registering slot may take to say it is ready.
const (
	maxResolveTimeout = 10 * time.Second
	readyTimeout      = 5 * time.Second
)

func (a *Agent) serveLocal(ctx context.Context) {
	for {
		c, err := a.listener.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("accepting a local connection", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		cred, err := agentproto.PeerCred(c)
		if err != nil {
			c.Close()
			continue
		}
		cl := &client{c: c, cred: cred}
		a.mu.Lock()
		perUser := 0
		for o := range a.clients {
			if o.cred.Uid == cred.Uid {
				perUser++
			}
		}
		if len(a.clients) >= MaxClients || (cred.Uid != 0 && perUser >= MaxClientsPerUser) {
			a.mu.Unlock()
			a.reply(cl, &Error{Code: winerr.ERROR_NOT_ENOUGH_QUOTA, Msg: "too many connections to the mailslot agent"}, 0)
			c.Close()
			continue
		}
		a.clients[cl] = struct{}{}
		a.mu.Unlock()
		go func() {
			defer func() {
				a.mu.Lock()
				delete(a.clients, cl)
				a.mu.Unlock()
				c.Close()
			}()
			a.serveClient(ctx, cl)
		}()
	}
}

func (a *Agent) closeClients() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for cl := range a.clients {
		cl.c.Close()
	}
}

func (a *Agent) reply(cl *client, err error, max int) {
	f := agentproto.Frame{Op: agentproto.OpResult, MaxPayload: uint16(max)}
	if err != nil {
		f.Code = uint32(winerr.ERROR_GEN_FAILURE)
		var e *Error
		if errors.As(err, &e) {
			f.Code = uint32(e.Code)
		}
		f.Message = err.Error()
	}
	a.writeFrame(cl, &f)
}

func (a *Agent) writeFrame(cl *client, f *agentproto.Frame) error {
	b, err := f.Append(nil)
	if err != nil {
		return err
	}
	_, err = cl.c.Write(b)
	return err
}

// serveClient reads the first frame, which says what the client is.
func (a *Agent) serveClient(ctx context.Context, cl *client) {
	buf := make([]byte, agentproto.MaxFrame)
	cl.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, fds, err := agentproto.ReadWithFDs(cl.c, buf)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if err != nil || n == 0 {
		return
	}
	cl.c.SetReadDeadline(time.Time{})
	f, err := agentproto.Decode(buf[:n])
	if err != nil {
		a.reply(cl, &Error{Code: winerr.ERROR_INVALID_PARAMETER, Msg: err.Error()}, 0)
		return
	}
	switch f.Op {
	case agentproto.OpRegister:
		err := a.slotOwned(f.Path, fds)
		// Drop the slot's socket at once: holding it would keep the slot's
		// name bound after the slot closes.
		for _, fd := range fds {
			unix.Close(fd)
		}
		fds = nil
		if err != nil {
			a.M.DeniedSenders.Add(1)
			a.reply(cl, err, 0)
			return
		}
		a.serveSlot(cl, &f, buf)
	case agentproto.OpOpen:
		a.serveWriter(ctx, cl, &f, buf)
	case agentproto.OpQuery:
		a.serveQuery(ctx, cl, &f)
	default:
		a.reply(cl, &Error{Code: winerr.ERROR_INVALID_PARAMETER, Msg: "unexpected first frame"}, 0)
	}
}

// serveSlot registers a slot and forwards its deliveries until it hangs up.
func (a *Agent) serveSlot(cl *client, f *agentproto.Frame, buf []byte) {
	sub, err := a.router.Subscribe(f.Path, f.Networks)
	if err != nil {
		a.reply(cl, err, 0)
		return
	}
	defer sub.Close()
	if a.writeFrame(cl, &agentproto.Frame{Op: agentproto.OpResult}) != nil {
		return
	}
	// Deliveries wait (in the subscription's queue) until the slot says its
	// receive path holds the connection, so the first one cannot race it.
	cl.c.SetReadDeadline(time.Now().Add(readyTimeout))
	n, err := cl.c.Read(buf)
	if err != nil || n == 0 {
		return
	}
	if r, err := agentproto.Decode(buf[:n]); err != nil || r.Op != agentproto.OpReady {
		return
	}
	cl.c.SetReadDeadline(time.Time{})
	a.log.Debug("slot registered for remote messages", "path", f.Path, "uid", cl.cred.Uid, "networks", f.Networks)
	rc, err := cl.c.SyscallConn()
	if err != nil {
		return
	}
	hup := make(chan struct{})
	go func() {
		// The slot never writes again: a read returns when it hangs up. A
		// read of 0 bytes is also what an empty record gives on a
		// SOCK_SEQPACKET socket, so only the kernel's hang-up flag ends
		// the registration.
		for {
			n, err := cl.c.Read(buf)
			if err == nil && n > 0 {
				continue
			}
			if n == 0 && errors.Is(err, io.EOF) && !hungUp(rc) {
				continue
			}
			close(hup)
			return
		}
	}()
	// Deliveries are written in batches: whatever queued while the last
	// batch was written goes out with one sendmmsg. When nothing is queued
	// the receive path writes deliveries itself (sc), sparing the wake-up of
	// this goroutine: those of one receive batch together, with one
	// sendmmsg. It falls back to the queue when the slot's socket is full,
	// and leaves this goroutine what it staged but could not write.
	sc := newSlotConn(rc)
	sub.setWriter(sc)
	defer sub.setWriter(nil)
	var (
		bt     = newSeqBatch(1)
		out    = agentproto.Frame{Op: agentproto.OpDeliver}
		scr    = make([]byte, 0, ioBatch*agentproto.MaxFrame/4)
		frames [][]byte
	)
	// out, scr and frames are used under the sink's lock only.
	add := func(d Delivery) {
		start := len(scr)
		var err error
		if scr, err = appendDelivery(scr, &out, &d); err == nil {
			frames = append(frames, scr[start:len(scr):len(scr)])
		}
	}
	// send writes a batch; false when the slot is gone.
	send := func(first *Delivery) bool {
		var (
			err  error
			lost int
		)
		sub.sending(func(staged int) int {
			scr, frames = scr[:0], frames[:0]
			n := 0
			if first != nil {
				add(*first)
				n++
			}
		more:
			for n < ioBatch {
				select {
				case d := <-sub.C:
					add(d)
					n++
				default:
					break more
				}
			}
			// What the receive path staged is older than the queue.
			if err = sc.drain(); err != nil {
				lost = staged + len(frames)
			} else if err = bt.send(rc, frames); err != nil {
				lost = len(frames)
			}
			return n
		})
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, net.ErrClosed) {
			return false
		}
		if err != nil {
			// Anything else (ENOBUFS under memory pressure) costs this
			// batch, not the slot's registration.
			a.M.QueueFull.Add(uint64(lost))
			a.log.Debug("delivering to a slot", "path", f.Path, "err", err)
		}
		return true
	}
	for {
		var ok bool
		select {
		case <-hup:
			return
		case d := <-sub.C:
			ok = send(&d)
		case <-sub.staged():
			ok = send(nil)
		}
		if !ok {
			return // the slot is gone
		}
	}
}

// appendDelivery appends d as an OpDeliver frame, encoded with the scratch
// frame out.
func appendDelivery(b []byte, out *agentproto.Frame, d *Delivery) ([]byte, error) {
	out.FromName = d.From.Raw
	out.From, out.Data = d.Addr, d.Data
	if !out.From.Addr().Is4() {
		out.From = netip.AddrPortFrom(netip.IPv4Unspecified(), d.Addr.Port())
	}
	b, err := out.Append(b)
	out.Data = nil // do not keep the message alive
	return b, err
}

// hungUp reports whether the peer of a connection has hung up, without
// reading.
func hungUp(rc syscall.RawConn) bool {
	up := true
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0 {
			return
		}
		up = false
	})
	return up
}

// slotOwned checks that the registering process owns the local slot
// \\.\mailslot\path: it must attach the slot's listening socket, which only
// the process that bound the slot's name holds. No local user can therefore
// register for, and read, the network messages of another user's slot; and
// the agent never connects to slots, so the check costs them nothing.
func (a *Agent) slotOwned(path string, fds []int) error {
	if len(fds) != 1 || !agentproto.IsListener(fds[0], agentproto.SlotAddr(a.cfg.Namespace, path)) {
		return &Error{Code: winerr.ERROR_ACCESS_DENIED, Msg: "only the owner of slot " + path + " may register it for network messages (attach its listening socket)"}
	}
	return nil
}

// serveWriter opens a remote target for a local writer, then sends each
// Write frame, reading them no faster than the writer's uid may send: the
// socket buffer fills and the writer's own write timeout applies
// (back-pressure instead of silent drops).
func (a *Agent) serveWriter(ctx context.Context, cl *client, f *agentproto.Frame, buf []byte) {
	if err := a.allowed(cl.cred); err != nil {
		a.M.DeniedSenders.Add(1)
		a.reply(cl, err, 0)
		return
	}
	timeout := time.Duration(f.Timeout) * time.Millisecond
	if timeout <= 0 {
		timeout = a.cfg.ResolveTimeout
	}
	timeout = min(timeout, maxResolveTimeout)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	t, err := a.Open(rctx, f.Host, f.Path)
	cancel()
	if err != nil {
		a.reply(cl, err, 0)
		return
	}
	a.reply(cl, nil, t.MaxPayload())
	rc, err := cl.c.SyscallConn()
	if err != nil {
		return
	}
	bt := newSeqBatch(agentproto.MaxFrame)
	var msgs [][]byte
	for {
		n, err := bt.recv(rc)
		if err != nil {
			return
		}
		msgs = msgs[:0]
		for i := 0; i < n; i++ {
			if bt.lens[i] == 0 {
				a.flush(t, msgs)
				return // hung up
			}
			w, err := agentproto.Decode(bt.bufs[i][:bt.lens[i]])
			if err != nil || w.Op != agentproto.OpWrite {
				a.flush(t, msgs)
				return
			}
			if len(w.Data) > t.MaxPayload() {
				a.M.Oversize.Add(1)
				continue
			}
			if d := a.out.delay(cl.cred.Uid); d > 0 {
				// Over the user's rate: send what is due, then wait. The
				// socket fills meanwhile and the writer's own timeout applies.
				a.flush(t, msgs)
				msgs = msgs[:0]
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
			}
			msgs = append(msgs, w.Data)
		}
		a.flush(t, msgs)
	}
}

// flush sends a batch of messages from one writer.
func (a *Agent) flush(t *Target, msgs [][]byte) {
	if len(msgs) == 0 {
		return
	}
	if err := a.dgram.sendBatch(&t.t, t.path, msgs); err != nil {
		a.drops.note("send failed", netip.Addr{})
	}
}

// allowed applies the send policy to a local peer.
func (a *Agent) allowed(cred *unix.Ucred) error {
	if len(a.cfg.AllowUsers) == 0 && len(a.cfg.AllowGroups) == 0 {
		return nil
	}
	if cred.Uid == 0 {
		return nil
	}
	for _, u := range a.cfg.AllowUsers {
		if uint32(u) == cred.Uid {
			return nil
		}
	}
	for _, g := range a.cfg.AllowGroups {
		if uint32(g) == cred.Gid || inSupplementaryGroup(int(cred.Pid), g) {
			return nil
		}
	}
	return &Error{Code: winerr.ERROR_ACCESS_DENIED,
		Msg: "user " + strconv.Itoa(int(cred.Uid)) + " may not send to the network (the agent's allow-user/allow-group policy); ask the administrator for the right group"}
}

func inSupplementaryGroup(pid, gid int) bool {
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
		for _, g := range strings.Fields(rest) {
			if g == strconv.Itoa(gid) {
				return true
			}
		}
	}
	return false
}

// serveQuery answers the names, lookup and status tools with JSON.
func (a *Agent) serveQuery(ctx context.Context, cl *client, f *agentproto.Frame) {
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var (
		v   any
		err error
	)
	switch f.Kind {
	case agentproto.QueryNames:
		v = a.NameTable()
	case agentproto.QueryLookup:
		v, err = a.LookupName(qctx, f.Arg)
	case agentproto.QueryStatus:
		v, err = a.HostStatus(qctx, f.Arg)
	default:
		err = &Error{Code: winerr.ERROR_INVALID_PARAMETER, Msg: "unknown query"}
	}
	if err != nil {
		a.reply(cl, err, 0)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		a.reply(cl, err, 0)
		return
	}
	a.writeFrame(cl, &agentproto.Frame{Op: agentproto.OpJSON, Data: b})
}

// delay takes a token for a local uid and returns how long to wait first.
func (l *limiter) delay(uid uint32) time.Duration {
	return l.take([]byte{byte(uid >> 24), byte(uid >> 16), byte(uid >> 8), byte(uid)}, true)
}
