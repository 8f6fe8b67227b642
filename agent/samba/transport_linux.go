package samba

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/mailslot/mailslot/agent/transport"
)

// Transport is the agent's network in the chosen mode. In Auto it moves
// between Owner and Beside as nmbd comes and goes, on the same sockets (so
// that no privilege is needed after start): the agent above it, its slots
// and its names, stays.
//
// Owner: datagrams and name packets come from the agent's own sockets on
// 0.0.0.0:137/138 (one per interface, package transport). Beside: the UDP
// 138 sockets only send (a drop-all filter), datagrams come from nmbd's
// unexpected socket, and name service requests leave from an ephemeral
// port so that their answers are not delivered to nmbd's socket on the
// interface address.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	stats Stats
	udp   *transport.UDP
	eph   *ipv4.PacketConn // nil in forced Owner mode
	ephC  net.PacketConn
	mode  atomic.Value // Mode: Owner or Beside
	modes atomic.Uint64
	out   chan *transport.Packet
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	once  sync.Once

	mu        sync.Mutex
	conn      net.Conn // the subscription to nmbd
	connected atomic.Bool
	downSince atomic.Int64 // UnixNano when the subscription was lost
	recent    recentRing   // relay goroutine only
	lastCut   atomic.Int64
}

// Open opens the network in cfg.Mode. Owner binds UDP 137/138 exclusively:
// it fails when another program has them. Beside works through nmbd, also
// while nmbd is not (yet) there. Auto is Beside when nmbd answers on its
// socket; else, when the ports are free, Owner with shared sockets, so
// that nmbd can still start, and Beside as soon as it answers; when
// another program holds the ports and nmbd's socket does not answer, Open
// fails with transport.ErrPortInUse.
func Open(cfg Config) (*Transport, error) {
	if cfg.Mode == "" {
		cfg.Mode = Auto
	}
	if cfg.Socket == "" {
		cfg.Socket = SocketPath(DefaultConf)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UDP.Logger == nil {
		cfg.UDP.Logger = cfg.Logger
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	t := &Transport{cfg: cfg, log: cfg.Logger, out: make(chan *transport.Packet, 4096)}
	t.recent.seed = maphash.MakeSeed()
	t.ctx, t.stop = context.WithCancel(context.Background())
	mode := cfg.Mode
	if mode == Auto {
		var err error
		if mode, err = t.detect(); err != nil {
			return nil, err
		}
	}
	t.mode.Store(mode)
	ucfg := cfg.UDP
	// Except when told to own the ports, they stay shareable, so that
	// nmbd can start later (it then takes the unicast to the interface
	// address at once, and the agent moves beside it).
	ucfg.Shared = cfg.Mode != Owner
	u, err := transport.NewUDP(ucfg)
	if err != nil {
		return nil, err
	}
	t.udp = u
	if err := u.SetDatagramInput(mode == Owner); err != nil {
		u.Close()
		return nil, err
	}
	if cfg.Mode != Owner {
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err == nil {
			t.eph, t.ephC = ipv4.NewPacketConn(c), c
			err = t.eph.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true)
		}
		if err != nil {
			if t.ephC != nil {
				t.ephC.Close()
			}
			u.Close()
			return nil, err
		}
		t.downSince.Store(time.Now().UnixNano())
		t.wg.Add(2)
		go t.readEphemeral()
		go t.relay()
	}
	if cfg.Mode == Auto {
		t.wg.Add(1)
		go t.follow()
	}
	t.wg.Add(1)
	go t.forward()
	t.log.Info("network mode", "mode", string(mode), "chosen", string(cfg.Mode), "nmbd socket", cfg.Socket)
	return t, nil
}

// detect picks the starting mode of Auto.
func (t *Transport) detect() (Mode, error) {
	if Present(t.ctx, t.cfg.Socket) {
		return Beside, nil
	}
	busy := portsBusy()
	if busy == 0 {
		return Owner, nil
	}
	// Someone has the ports. nmbd binds them before it opens its socket:
	// give a starting nmbd the grace period.
	deadline := time.Now().Add(t.cfg.Grace)
	for time.Now().Before(deadline) {
		time.Sleep(t.cfg.Poll / 4)
		if Present(t.ctx, t.cfg.Socket) {
			return Beside, nil
		}
	}
	return "", fmt.Errorf("UDP port %d %w, and no nmbd answers on %s (if it is Samba's nmbd, give --samba-socket or --samba-conf)",
		busy, transport.ErrPortInUse, t.cfg.Socket)
}

// portsBusy returns 137 or 138 when a plain bind of 0.0.0.0 on it fails
// because another socket has it, else 0 (also when binding is not allowed:
// opening the sockets then says why).
func portsBusy() int {
	for _, port := range []int{transport.NamePort, transport.DatagramPort} {
		c, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return port
		}
	}
	return 0
}

// setMode switches between Owner and Beside (Auto only).
func (t *Transport) setMode(m Mode) {
	if t.Mode() == m {
		return
	}
	if err := t.udp.SetDatagramInput(m == Owner); err != nil {
		t.log.Warn("cannot change the network mode", "to", string(m), "err", err)
		return
	}
	t.mode.Store(m)
	t.modes.Add(1)
	t.stats.Switches.Add(1)
	if m == Beside {
		t.log.Info("nmbd is running: network mode beside-samba", "nmbd socket", t.cfg.Socket)
	} else {
		t.log.Info("nmbd is gone: network mode owner")
	}
}

// follow moves Auto back to Owner when nmbd has been gone for the grace
// period (a restart is quicker). The move to Beside is made by the relay
// as soon as it subscribes.
func (t *Transport) follow() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tick.C:
		}
		if t.Mode() == Beside && !t.connected.Load() && time.Since(time.Unix(0, t.downSince.Load())) > t.cfg.Grace {
			t.setMode(Owner)
		}
	}
}

// Mode is the current mode: Owner or Beside.
func (t *Transport) Mode() Mode { return t.mode.Load().(Mode) }

// Socket is the path of nmbd's socket that is used or watched.
func (t *Transport) Socket() string { return t.cfg.Socket }

// Connected reports whether the agent is subscribed to nmbd now.
func (t *Transport) Connected() bool { return t.connected.Load() }

// Generation changes whenever the mode changes or nmbd is subscribed to
// again (nmbd restarted): the agent then checks which of its names nmbd
// holds.
func (t *Transport) Generation() uint64 { return t.modes.Load() + t.stats.Connects.Load() }

// Stats returns the counters.
func (t *Transport) Stats() *Stats { return &t.stats }

// Interfaces implements transport.Transport.
func (t *Transport) Interfaces() []transport.Interface { return t.udp.Interfaces() }

// WriteTo implements transport.Transport. Beside nmbd, name service
// requests leave from the ephemeral port; answers and datagrams leave from
// 137 and 138 as the protocol wants.
func (t *Transport) WriteTo(b []byte, port uint16, ifindex int, dst netip.AddrPort) error {
	if port == transport.NamePort && len(b) > 2 && b[2]&0x80 == 0 && t.eph != nil && t.Mode() == Beside {
		_, err := t.eph.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifindex}, net.UDPAddrFromAddrPort(dst))
		return err
	}
	return t.udp.WriteTo(b, port, ifindex, dst)
}

// WriteBatch implements transport.BatchWriter.
func (t *Transport) WriteBatch(bufs [][]byte, port uint16, ifindex int, dst netip.AddrPort) error {
	return t.udp.WriteBatch(bufs, port, ifindex, dst)
}

// Packets implements transport.Transport.
func (t *Transport) Packets() <-chan *transport.Packet { return t.out }

// Close implements transport.Transport.
func (t *Transport) Close() error {
	var err error
	t.once.Do(func() {
		t.stop()
		t.mu.Lock()
		if t.conn != nil {
			t.conn.Close()
		}
		t.mu.Unlock()
		if t.ephC != nil {
			t.ephC.Close()
		}
		err = t.udp.Close()
		t.wg.Wait()
		close(t.out)
	})
	return err
}

// admit applies UDPConfig.Admit (the agent's per-source limit) to what
// does not come through the UDP sockets: datagrams relayed by nmbd and
// answers on the ephemeral port.
func (t *Transport) admit(src netip.Addr) bool {
	return t.cfg.UDP.Admit == nil || t.cfg.UDP.Admit(src)
}

func (t *Transport) put(p *transport.Packet) {
	select {
	case t.out <- p:
	default:
		t.stats.Overflow.Add(1)
	}
}

// forward passes on what the agent's own sockets receive. Beside nmbd, a
// datagram still queued from before the switch is dropped: nmbd hands out
// its copy.
func (t *Transport) forward() {
	defer t.wg.Done()
	for p := range t.udp.Packets() {
		if p.Port == transport.DatagramPort && t.Mode() == Beside {
			continue
		}
		t.put(p)
	}
}

// readEphemeral receives the answers to the requests sent beside nmbd.
func (t *Transport) readEphemeral() {
	defer t.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, cm, src, err := t.eph.ReadFrom(buf)
		if err != nil {
			if t.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		ap := ua.AddrPort()
		if !t.admit(ap.Addr().Unmap()) {
			continue
		}
		p := &transport.Packet{Port: transport.NamePort, Src: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()),
			Data: append([]byte(nil), buf[:n]...)}
		if cm != nil {
			p.Ifindex = cm.IfIndex
			p.Dst, _ = netip.AddrFromSlice(cm.Dst.To4())
		}
		t.put(p)
	}
}
