package mailslot

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/mailslot/mailslot/internal/agentproto"
	"golang.org/x/sys/unix"
)

// A slot created with AllowRemote registers with the host's network agent:
// it connects to the agent socket, checks with the kernel that the agent
// runs as root, sends its name and accepted source networks, and hands the
// connection to the receive path (addSource). Remote messages therefore
// arrive only on the slot's own connection to the root-owned agent socket,
// and only the agent can set a remote Sender: a local user cannot forge
// one. When the agent goes away the slot reconnects with a short backoff,
// so deliveries resume within about two seconds of the agent's restart.

// remoteRetryMax caps the reconnection backoff; registerTimeout bounds one
// registration.
const (
	remoteRetryMax  = time.Second
	registerTimeout = 3 * time.Second
)

func (s *Slot) startRemote() error {
	r := &remoteLink{s: s, lost: make(chan struct{}, 1), watch: -1}
	// The first attempt is synchronous, so that a remote write that follows
	// Create reaches the slot; without an agent the slot still works
	// locally and keeps trying.
	if err := r.connect(); err != nil {
		r.logOnce(err)
		r.lost <- struct{}{}
	}
	go r.loop()
	return nil
}

type remoteLink struct {
	s      *Slot
	lost   chan struct{}
	logged sync.Once
	// watch is a duplicate of the registered connection, only polled (never
	// read) for a hang-up: reconnection does not depend on the receive path
	// noticing it. -1 when not connected.
	mu    sync.Mutex
	watch int
	gen   int // which connection is current; stale hang-up reports are ignored
}

func (r *remoteLink) logOnce(err error) {
	r.logged.Do(func() {
		r.s.logger.Printf("mailslot: %s: remote messages will arrive once the network agent runs: %v", r.s.name, err)
	})
}

func (r *remoteLink) loop() {
	backoff := 100 * time.Millisecond
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	defer r.setWatch(-1)
	for {
		select {
		case <-r.s.done:
			return
		case <-r.lost:
		case <-tick.C:
			if !r.hungUp() {
				continue
			}
		}
		r.mu.Lock()
		r.gen++ // late reports about the lost connection are stale
		r.mu.Unlock()
		r.setWatch(-1)
		for {
			select {
			case <-r.s.done:
				return
			case <-time.After(backoff):
			}
			err := r.connect()
			if err == nil {
				backoff = 100 * time.Millisecond
				select { // a report about the connection just replaced
				case <-r.lost:
				default:
				}
				break
			}
			if errors.Is(err, ErrNotFound) { // the slot closed meanwhile
				return
			}
			r.logOnce(err)
			backoff = min(2*backoff, remoteRetryMax)
		}
	}
}

// connect registers with the agent and hands the connection to the slot.
func (r *remoteLink) connect() error {
	// A loaded agent may take a while; an absent one fails at once.
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	c, err := agentproto.Dial(ctx, r.s.set.namespace)
	if err != nil {
		return err
	}
	defer c.Close() // the slot keeps a duplicate of the descriptor
	c.SetDeadline(time.Now().Add(registerTimeout))
	// The slot's own listening socket goes with the request: it proves to
	// the agent that this process owns the slot's name.
	req, err := (&agentproto.Frame{Op: agentproto.OpRegister, Path: r.s.name.Path, Networks: r.s.set.remoteNetworks}).Append(nil)
	if err != nil {
		return err
	}
	rc, err := r.s.ln.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) { werr = agentproto.WriteWithFD(c, req, int(fd)) }); err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	buf := make([]byte, agentproto.MaxFrame)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	f, err := agentproto.Decode(buf[:n])
	if err != nil {
		return err
	}
	if f.Op != agentproto.OpResult || f.Code != 0 {
		return errors.New("the agent refused the registration: " + f.Message)
	}
	fd, err := dupConn(c)
	if err != nil {
		return err
	}
	watch, err := dupConn(c)
	if err != nil {
		unix.Close(fd)
		return err
	}
	r.mu.Lock()
	r.gen++
	gen := r.gen
	r.mu.Unlock()
	if err := r.s.addSource(fd, decodeDelivery, func() {
		r.mu.Lock()
		current := gen == r.gen
		r.mu.Unlock()
		if current {
			select {
			case r.lost <- struct{}{}:
			default:
			}
		}
	}); err != nil {
		unix.Close(watch)
		return err
	}
	r.setWatch(watch)
	// Now that the receive path holds the connection, deliveries may start.
	ready, _ := (&agentproto.Frame{Op: agentproto.OpReady}).Append(nil)
	if _, err := c.Write(ready); err != nil {
		return err // the slot's side notices the hang-up and reconnects
	}
	return nil
}

func (r *remoteLink) setWatch(fd int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watch >= 0 {
		unix.Close(r.watch)
	}
	r.watch = fd
}

// hungUp polls the watch descriptor, without reading, for the agent's
// hang-up.
func (r *remoteLink) hungUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watch < 0 {
		return false
	}
	fds := []unix.PollFd{{Fd: int32(r.watch), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(fds, 0)
	if err == nil && n > 0 && fds[0].Revents&unix.POLLNVAL != 0 {
		r.watch = -1 // no longer ours: never close it
		return true
	}
	return err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}

func dupConn(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	return fd, derr
}

// decodeDelivery turns the agent's delivery record into the message and
// its remote sender.
func decodeDelivery(b []byte) ([]byte, Sender, bool) {
	f, err := agentproto.Decode(b)
	if err != nil || f.Op != agentproto.OpDeliver {
		return nil, Sender{}, false
	}
	host := strings.TrimRight(string(f.FromName[:15]), " \x00")
	return f.Data, Sender{PID: -1, UID: -1, GID: -1, Remote: true, Host: host, Addr: f.From}, true
}
