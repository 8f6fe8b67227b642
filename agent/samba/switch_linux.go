package samba

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailslot/mailslot/agent/transport"
)

// Transport is the agent's network in the chosen mode. In Auto it moves
// between Owner and Beside as nmbd comes and goes; the agent above it (its
// slots, its names) stays.
type Transport struct {
	cfg   Config
	log   *slog.Logger
	stats Stats
	cur   atomic.Pointer[inner]
	gen   atomic.Uint64
	out   chan *transport.Packet
	done  chan struct{}
	watch sync.WaitGroup
	fwd   sync.WaitGroup
	once  sync.Once
}

type inner struct {
	t    transport.Transport
	mode Mode
}

// Open opens the network in cfg.Mode. Owner binds UDP 137/138 exclusively:
// it fails when another program has them. Beside works through nmbd, also
// while nmbd is not (yet) there. Auto is Beside when nmbd answers on its
// socket; else, when the ports are free, Owner with shared sockets, so
// that nmbd can still start, and then Beside as soon as it does; when
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
	t := &Transport{cfg: cfg, log: cfg.Logger, out: make(chan *transport.Packet, 4096), done: make(chan struct{})}
	mode := cfg.Mode
	if mode == Auto {
		var err error
		if mode, err = t.detect(); err != nil {
			return nil, err
		}
	}
	in, err := t.open(mode)
	if err != nil {
		return nil, err
	}
	t.install(in)
	t.log.Info("network mode", "mode", string(mode), "chosen", string(cfg.Mode), "nmbd socket", cfg.Socket)
	if cfg.Mode == Auto {
		t.watch.Add(1)
		go t.follow()
	}
	return t, nil
}

// detect picks the starting mode of Auto.
func (t *Transport) detect() (Mode, error) {
	ctx := context.Background()
	if Present(ctx, t.cfg.Socket) {
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
		if Present(ctx, t.cfg.Socket) {
			return Beside, nil
		}
	}
	return "", fmt.Errorf("UDP port %d %w, and no nmbd answers on %s (give --samba-socket or --samba-conf if it is Samba's nmbd)",
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

func (t *Transport) open(m Mode) (*inner, error) {
	switch m {
	case Beside:
		b, err := newBeside(t.cfg.Socket, t.cfg.UDP, &t.stats, t.log)
		if err != nil {
			return nil, err
		}
		return &inner{t: b, mode: Beside}, nil
	default:
		ucfg := t.cfg.UDP
		// In Auto the ports stay shareable so that nmbd can start later
		// (it then takes the unicast at once, and we move beside it).
		ucfg.Shared = t.cfg.Mode == Auto
		u, err := transport.NewUDP(ucfg)
		if err != nil {
			return nil, err
		}
		return &inner{t: u, mode: Owner}, nil
	}
}

func (t *Transport) install(in *inner) {
	t.cur.Store(in)
	t.gen.Add(1)
	t.fwd.Add(1)
	go func() {
		defer t.fwd.Done()
		for p := range in.t.Packets() {
			select {
			case t.out <- p:
			default:
				t.stats.Overflow.Add(1)
			}
		}
	}()
}

// follow moves Auto between the modes: Owner -> Beside when nmbd's socket
// answers; Beside -> Owner when it has been gone for the grace period.
func (t *Transport) follow() {
	defer t.watch.Done()
	tick := time.NewTicker(t.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		cur := t.cur.Load()
		next := cur.mode
		switch b, _ := cur.t.(*beside); {
		case cur.mode == Owner && Present(context.Background(), t.cfg.Socket):
			next = Beside
		case b != nil && !b.connected.Load() && time.Since(time.Unix(0, b.downSince.Load())) > t.cfg.Grace:
			next = Owner
		}
		if next == cur.mode {
			continue
		}
		in, err := t.open(next)
		if err != nil {
			t.log.Warn("cannot change the network mode", "to", string(next), "err", err)
			continue
		}
		t.install(in)
		cur.t.Close()
		t.stats.Switches.Add(1)
		if next == Beside {
			t.log.Info("nmbd started: network mode beside-samba", "nmbd socket", t.cfg.Socket)
		} else {
			t.log.Info("nmbd is gone: network mode owner")
		}
	}
}

// Mode is the current mode: Owner or Beside.
func (t *Transport) Mode() Mode { return t.cur.Load().mode }

// Socket is the path of nmbd's socket that is used or watched.
func (t *Transport) Socket() string { return t.cfg.Socket }

// Connected reports whether the agent is subscribed to nmbd now.
func (t *Transport) Connected() bool {
	b, ok := t.cur.Load().t.(*beside)
	return ok && b.connected.Load()
}

// Generation changes whenever the mode changes or nmbd is subscribed to
// again (nmbd restarted): the agent then checks which of its names nmbd
// holds.
func (t *Transport) Generation() uint64 { return t.gen.Load() + t.stats.Connects.Load() }

// Stats returns the counters.
func (t *Transport) Stats() *Stats { return &t.stats }

// Interfaces implements transport.Transport.
func (t *Transport) Interfaces() []transport.Interface { return t.cur.Load().t.Interfaces() }

// WriteTo implements transport.Transport.
func (t *Transport) WriteTo(b []byte, port uint16, ifindex int, dst netip.AddrPort) error {
	return t.cur.Load().t.WriteTo(b, port, ifindex, dst)
}

// WriteBatch implements transport.BatchWriter.
func (t *Transport) WriteBatch(bufs [][]byte, port uint16, ifindex int, dst netip.AddrPort) error {
	in := t.cur.Load().t
	if bw, ok := in.(transport.BatchWriter); ok {
		return bw.WriteBatch(bufs, port, ifindex, dst)
	}
	for _, b := range bufs {
		if err := in.WriteTo(b, port, ifindex, dst); err != nil {
			return err
		}
	}
	return nil
}

// Packets implements transport.Transport.
func (t *Transport) Packets() <-chan *transport.Packet { return t.out }

// Close implements transport.Transport.
func (t *Transport) Close() error {
	var err error
	t.once.Do(func() {
		close(t.done)
		t.watch.Wait()
		err = t.cur.Load().t.Close()
		t.fwd.Wait()
		close(t.out)
	})
	return err
}
