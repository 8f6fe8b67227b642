package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// UDP is the real transport: for each served interface, one socket on
// 0.0.0.0:137 and one on 0.0.0.0:138, each tied to its interface with
// SO_BINDTODEVICE and without SO_REUSEADDR. That way the kernel tells which
// interface a packet came in on, a directed broadcast leaves through the
// right interface, and the agent can never share, and so silently steal,
// the ports of another program such as Samba's nmbd: binding fails instead.
type UDP struct {
	cfg     UDPConfig
	log     *slog.Logger
	ch      chan *Packet
	mu      sync.Mutex
	ifs     map[int]*udpIface
	snap    atomic.Pointer[[]Interface] // Interfaces(), rebuilt on change
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup
	Dropped atomic.Uint64 // packets lost because the agent fell behind
	Refused atomic.Uint64 // packets UDPConfig.Admit refused
	// sendOnly138: the UDP 138 sockets carry a drop-all filter
	// (SetDatagramInput).
	sendOnly138 atomic.Bool
}

type udpIface struct {
	Interface
	socks [2]*ipv4.PacketConn // 137, 138
	conns [2]net.PacketConn
	rcs   [2]syscall.RawConn // for recvmmsg and sendmmsg without x/net
}

const batch = 32

// ErrPortInUse is wrapped by NewUDP when another program owns UDP 137 or
// 138 on an interface.
var ErrPortInUse = errors.New("is already in use by another program (Samba's nmbd?); stop it or run the agent on other interfaces")

// NewUDP opens the sockets of every selected interface. It fails when one
// of them cannot be bound, in particular when another program owns the
// ports. It then follows interfaces as they come and go.
func NewUDP(cfg UDPConfig) (*UDP, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	u := &UDP{cfg: cfg, log: cfg.Logger, ch: make(chan *Packet, 4096), ifs: map[int]*udpIface{}, done: make(chan struct{})}
	if err := u.rescan(true); err != nil {
		u.Close()
		return nil, err
	}
	u.wg.Add(1)
	go u.follow()
	return u, nil
}

func (u *UDP) follow() {
	defer u.wg.Done()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	// A failure that persists (a port another program holds, a bind the
	// dropped privileges no longer allow) is logged when it starts or
	// changes, not on every rescan.
	last := ""
	for {
		select {
		case <-u.done:
			return
		case <-t.C:
			err := u.rescan(false)
			switch {
			case err != nil && err.Error() != last:
				last = err.Error()
				u.log.Warn("interface change", "err", err)
			case err == nil && last != "":
				last = ""
				u.log.Info("interfaces: the earlier failure is over")
			}
		}
	}
}

// wanted lists the interfaces to serve now, with their first IPv4 address.
func (u *UDP) wanted() (map[int]Interface, error) {
	list, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := map[int]Interface{}
	for _, ni := range list {
		if len(u.cfg.Interfaces) > 0 {
			if !slices.Contains(u.cfg.Interfaces, ni.Name) {
				continue
			}
		} else if ni.Flags&net.FlagLoopback != 0 {
			continue
		}
		if ni.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ni.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			ip, _ := netip.AddrFromSlice(ipn.IP.To4())
			ones, _ := ipn.Mask.Size()
			p := netip.PrefixFrom(ip, ones)
			out[ni.Index] = Interface{Index: ni.Index, Name: ni.Name, Addr: p, Broadcast: DirectedBroadcast(p), MAC: ni.HardwareAddr}
			break
		}
	}
	return out, nil
}

func (u *UDP) rescan(first bool) error {
	want, err := u.wanted()
	if err != nil {
		return err
	}
	if first && len(u.cfg.Interfaces) > 0 {
		for _, name := range u.cfg.Interfaces {
			found := false
			for _, i := range want {
				found = found || i.Name == name
			}
			if !found {
				return fmt.Errorf("interface %s is not up with an IPv4 address", name)
			}
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return net.ErrClosed
	}
	for idx, ui := range u.ifs {
		if w, ok := want[idx]; !ok || w.Addr != ui.Addr {
			u.log.Info("interface gone or changed", "interface", ui.Name, "addr", ui.Addr.String())
			ui.close()
			delete(u.ifs, idx)
		}
	}
	var errs []error
	for idx, w := range want {
		if _, ok := u.ifs[idx]; ok {
			continue
		}
		ui, err := u.openPrivileged(w)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !first {
			u.log.Info("interface up", "interface", w.Name, "addr", w.Addr.String())
		}
		u.ifs[idx] = ui
		for k := range ui.socks {
			u.wg.Add(1)
			go u.read(ui, k)
		}
	}
	u.snapshotLocked()
	return errors.Join(errs...)
}

// openPrivileged opens i's sockets through UDPConfig.Privileged.
func (u *UDP) openPrivileged(i Interface) (ui *udpIface, err error) {
	if u.cfg.Privileged == nil {
		return u.open(i)
	}
	err = u.cfg.Privileged(func() error {
		ui, err = u.open(i)
		return err
	})
	return ui, err
}

func (u *UDP) open(i Interface) (*udpIface, error) {
	ui := &udpIface{Interface: i}
	for k, port := range []int{NamePort, DatagramPort} {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, i.Name)
				if serr == nil {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
				}
				if serr == nil {
					// Room for a burst of datagrams while the agent is busy.
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
				}
				if serr == nil {
					serr = u.shareOptions(int(fd), port)
				}
			})
			if err != nil {
				return err
			}
			return serr
		}}
		c, err := lc.ListenPacket(context.Background(), "udp4", fmt.Sprintf("0.0.0.0:%d", port))
		if err != nil {
			ui.close()
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("UDP port %d on %s %w", port, i.Name, ErrPortInUse)
			}
			if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
				return nil, fmt.Errorf("UDP port %d on %s: permission denied (run as root or with CAP_NET_BIND_SERVICE; before Linux 5.7 also CAP_NET_RAW)", port, i.Name)
			}
			return nil, fmt.Errorf("UDP port %d on %s: %w", port, i.Name, err)
		}
		pc := ipv4.NewPacketConn(c)
		if err := pc.SetControlMessage(ipv4.FlagDst, true); err != nil {
			c.Close()
			ui.close()
			return nil, err
		}
		rc, err := c.(*net.UDPConn).SyscallConn()
		if err != nil {
			c.Close()
			ui.close()
			return nil, err
		}
		ui.socks[k], ui.conns[k], ui.rcs[k] = pc, c, rc
	}
	return ui, nil
}

func (ui *udpIface) close() {
	for _, c := range ui.conns {
		if c != nil {
			c.Close()
		}
	}
}

var limitedBcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (u *UDP) read(ui *udpIface, k int) {
	defer u.wg.Done()
	port := uint16(NamePort)
	if k == 1 {
		port = DatagramPort
	}
	rc := ui.rcs[k]
	b := new(udpBatch)
	var in Packet // reused: what cfg.Handle sees
	for {
		n, err := b.recv(rc)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-u.done:
				return
			default:
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for i := range n {
			data, src, dst, ok := b.packet(i)
			if !ok {
				continue
			}
			if u.cfg.Admit != nil && !u.cfg.Admit(src.Addr()) {
				u.Refused.Add(1)
				continue
			}
			in = Packet{Port: port, Ifindex: ui.Index, Src: src, Dst: dst, Data: data}
			in.Broadcast = in.Dst == ui.Broadcast || in.Dst == limitedBcast
			in.Batched = u.cfg.Flush != nil
			if u.cfg.Handle != nil && u.cfg.Handle(&in) {
				continue
			}
			p := new(Packet)
			*p = in
			p.Batched = false // no Flush follows on the queue's side
			p.Data = append([]byte(nil), in.Data...)
			select {
			case u.ch <- p:
			default:
				u.Dropped.Add(1)
			}
		}
		if u.cfg.Flush != nil {
			u.cfg.Flush()
		}
	}
}

// Interfaces implements Transport. It is on the hot path (every datagram
// sent or received), so it returns a snapshot rebuilt only when interfaces
// change; callers must not modify it.
func (u *UDP) Interfaces() []Interface {
	if p := u.snap.Load(); p != nil {
		return *p
	}
	return nil
}

func (u *UDP) snapshotLocked() {
	out := make([]Interface, 0, len(u.ifs))
	for _, ui := range u.ifs {
		out = append(out, ui.Interface)
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	u.snap.Store(&out)
}

// socket returns interface ifindex's socket for local port port.
func (u *UDP) socket(port uint16, ifindex int) (*udpIface, int, error) {
	u.mu.Lock()
	ui := u.ifs[ifindex]
	u.mu.Unlock()
	if ui == nil {
		return nil, 0, ErrNoInterface
	}
	if port == DatagramPort {
		return ui, 1, nil
	}
	return ui, 0, nil
}

// WriteTo implements Transport.
func (u *UDP) WriteTo(b []byte, port uint16, ifindex int, dst netip.AddrPort) error {
	ui, k, err := u.socket(port, ifindex)
	if err != nil {
		return err
	}
	_, err = ui.conns[k].(*net.UDPConn).WriteToUDPAddrPort(b, dst)
	return err
}

// WriteBatch implements BatchWriter with sendmmsg.
func (u *UDP) WriteBatch(bufs [][]byte, port uint16, ifindex int, dst netip.AddrPort) error {
	ui, k, err := u.socket(port, ifindex)
	if err != nil {
		return err
	}
	return writeBatch(ui.rcs[k], bufs, dst)
}

// Packets implements Transport.
func (u *UDP) Packets() <-chan *Packet { return u.ch }

// Close implements Transport.
func (u *UDP) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	close(u.done)
	for _, ui := range u.ifs {
		ui.close()
	}
	u.mu.Unlock()
	u.wg.Wait()
	close(u.ch)
	return nil
}
