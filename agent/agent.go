// Package agent is the host's NetBIOS network service for mailslots: it owns
// UDP 137 and 138, registers the host's names, resolves other hosts' names,
// sends remote and broadcast mailslot writes for local programs, and
// delivers the writes it receives to the local slots that opted in.
//
// The agent is a library first: New binds its sockets (call it while still
// privileged), Run serves until its context ends and then releases the
// names. "mailslot agent" is a thin command around it. The pieces have one
// job each: package transport moves packets, package names is the name
// service, the datagram service (dgram.go) turns packets into Inbound
// messages and back, the Router hands each Inbound to the handler of its
// mailslot, and the local server (local.go) speaks package agentproto to the
// programs on this host.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/samba"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/wire/netbios"
	"github.com/mailslot/mailslot/wire/smbmail"
)

// Default limits (see Config).
const (
	DefaultWorkgroup = "WORKGROUP"
	// The rate limits bound what one LAN host or one local user can make
	// the agent do (about a core's worth), well above what NetBIOS
	// applications send (a browser announces every 12 minutes).
	DefaultRateIn         = 20000 // packets per second per source IP
	DefaultBurstIn        = 20000
	DefaultRateOut        = 50000 // messages per second per local uid
	DefaultBurstOut       = 50000
	DefaultResolveTimeout = 1500 * time.Millisecond
	DefaultDeliveryQueue  = 1024 // messages queued per registered slot
	MaxRegistrations      = 4096 // slots registered at once
	MaxClients            = 1024 // local connections at once
	// MaxClientsPerUser bounds one non-root user's connections, so that no
	// local user can take every connection slot from the others.
	MaxClientsPerUser = 128
	// BroadcastLimit is Windows' limit on a broadcast write (ERROR_BAD_NETPATH
	// above it).
	BroadcastLimit = 424
)

// Config configures an Agent. The zero value is usable: every field has a
// documented default.
type Config struct {
	// Name is the host's NetBIOS name; default: the host name, upper-cased,
	// cut at the first dot and to 15 characters.
	Name string
	// Workgroup is the workgroup joined (its <00> group name is registered);
	// default "WORKGROUP".
	Workgroup string
	// Interfaces restricts the served interfaces by name; default: every up
	// IPv4 interface that is not loopback, followed as they come and go.
	Interfaces []string
	// Privileged, when set, runs the opening of an interface's UDP 137/138
	// sockets. After the agent command drops root, only one thread keeps
	// CAP_NET_BIND_SERVICE (package internal/privdrop), and it passes that
	// thread's Do here so that interfaces appearing later can still be
	// served. Ignored with Transport.
	Privileged func(open func() error) error
	// Namespace is the mailslot namespace of the agent socket; default: the
	// MAILSLOT_NAMESPACE environment variable.
	Namespace string
	// Transport replaces the UDP sockets (tests use memnet). When nil, New
	// opens UDP 137 and 138.
	Transport transport.Transport
	// NoLocalSocket skips the agent socket (tests with several agents in one
	// process use Subscribe and Send instead).
	NoLocalSocket bool

	// WINS is an optional WINS server: names are registered with it and it
	// is asked before the broadcast query.
	WINS netip.Addr
	// Static are fixed name to address entries, consulted before the network.
	Static []names.Static
	// LookupDNS is the last resolver; default net.DefaultResolver. Set
	// DisableDNS to turn it off.
	LookupDNS  func(ctx context.Context, host string) ([]netip.Addr, error)
	DisableDNS bool
	// ResolveTimeout bounds the resolution of a remote writer's host when
	// the client asks for none; default DefaultResolveTimeout.
	ResolveTimeout time.Duration

	// AllowUsers and AllowGroups list the local uids and gids that may send
	// to the network; both empty means any local user, as on Windows.
	AllowUsers, AllowGroups []int
	// AllowNetworks are the source networks whose datagrams are accepted;
	// empty means any.
	AllowNetworks []netip.Prefix
	// RateIn/BurstIn: token bucket per source IP on both ports (packets/s);
	// RateOut/BurstOut: per local uid (messages/s). Zero means the default,
	// negative means unlimited.
	RateIn, BurstIn, RateOut, BurstOut float64
	// Style is the SMB framing of outgoing writes; default smbmail.Windows.
	Style smbmail.Style

	// Mode chooses how the agent gets on the network beside Samba's nmbd
	// (package samba); default samba.Auto. Ignored with Transport.
	Mode samba.Mode
	// SambaSocket is nmbd's unexpected-packet socket; default: from
	// /etc/samba/smb.conf, else /run/samba/nmbd/unexpected.
	SambaSocket string

	Logger *slog.Logger
}

// Agent is a running network service.
type Agent struct {
	cfg      Config
	host     netbios.Name // HOST<00>
	wg       netbios.Name // WORKGROUP<00>
	tr       transport.Transport
	ns       *names.Service
	router   *Router
	log      *slog.Logger
	drops    *dropLog
	M        Metrics
	listener *net.UnixListener
	in       *limiter // per source IP
	out      *limiter // per local uid
	dgram    dgramService
	link     Link        // optional bridge beyond the LANs (SetLink)
	admitted bool        // the transport applies the per-source limit itself
	running  atomic.Bool // Run has started: the transport may hand datagrams over inline

	mu        sync.Mutex
	clients   map[*client]struct{}
	samba     sambaState
	overheard atomic.Pointer[map[netbios.Name]bool] // services.go; copy on write
}

// DefaultName returns the host's default NetBIOS name.
func DefaultName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "LOCALHOST"
	}
	h, _, _ = strings.Cut(h, ".")
	if len(h) > 15 {
		h = h[:15]
	}
	return strings.ToUpper(h)
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name = DefaultName()
	}
	if c.Workgroup == "" {
		c.Workgroup = DefaultWorkgroup
	}
	if c.ResolveTimeout <= 0 {
		c.ResolveTimeout = DefaultResolveTimeout
	}
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.RateIn, DefaultRateIn)
	def(&c.BurstIn, DefaultBurstIn)
	def(&c.RateOut, DefaultRateOut)
	def(&c.BurstOut, DefaultBurstOut)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.LookupDNS == nil && !c.DisableDNS {
		c.LookupDNS = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
		}
	}
	if c.DisableDNS {
		c.LookupDNS = nil
	}
	return nil
}

// New checks cfg, binds the sockets (UDP 137/138 unless cfg.Transport is
// set, and the agent socket unless NoLocalSocket) and returns the agent.
// Call it while privileged; privileges may be dropped before Run.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	host, err := netbios.New(cfg.Name, netbios.Workstation)
	if err != nil {
		return nil, fmt.Errorf("agent: name: %w", err)
	}
	wg, err := netbios.New(cfg.Workgroup, netbios.Workstation)
	if err != nil {
		return nil, fmt.Errorf("agent: workgroup: %w", err)
	}
	if host.Raw == wg.Raw {
		return nil, errors.New("agent: the host name and the workgroup must differ")
	}
	a := &Agent{cfg: cfg, host: host, wg: wg, log: cfg.Logger, clients: map[*client]struct{}{},
		in: newLimiter(cfg.RateIn, cfg.BurstIn), out: newLimiter(cfg.RateOut, cfg.BurstOut)}
	a.drops = newDropLog(a.log, 10*time.Second)
	a.router = newRouter(a)
	a.tr = cfg.Transport
	if a.tr == nil {
		// The per-source limit runs in the socket readers, before a packet
		// costs a copy or a queue slot.
		admit := func(src netip.Addr) bool {
			if a.in.allow(src) {
				return true
			}
			a.M.RateLimitedIn.Add(1)
			a.drops.note("rate-limited", src)
			return false
		}
		// Mailslot datagrams are handled on the socket's reading goroutine
		// (no queue, no wake-up of another goroutine); the name service,
		// whose answers may wait for locks and timers, gets its packets
		// through the transport's queue.
		handle := func(p *transport.Packet) bool {
			if p.Port != transport.DatagramPort || !a.running.Load() {
				return false
			}
			a.M.DatagramPackets.Add(1)
			a.dgram.handle(p)
			return true
		}
		if a.tr, err = a.openNetwork(admit, handle, a.router.flush); err != nil {
			return nil, err
		}
		a.admitted = true
	}
	if !cfg.NoLocalSocket {
		if a.listener, err = agentproto.Listen(cfg.Namespace); err != nil {
			a.tr.Close()
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	a.ns = names.New(names.Config{Transport: a.tr, Logger: a.log, WINS: cfg.WINS, Static: cfg.Static, LookupDNS: cfg.LookupDNS,
		Names: []names.Owned{{Name: host}, {Name: wg, Group: true}}})
	a.dgram = dgramService{a: a, seen: newDedup(dedupSize, dedupWindow)}
	return a, nil
}

// Names returns the name service (for the names, lookup and status tools).
func (a *Agent) Names() *names.Service { return a.ns }

// Router returns the router, to install handlers for mailslots.
func (a *Agent) Router() *Router { return a.router }

// HostName is the agent's HOST<00> name.
func (a *Agent) HostName() netbios.Name { return a.host }

// Workgroup is the agent's WORKGROUP<00> name.
func (a *Agent) Workgroup() netbios.Name { return a.wg }

// Run serves until ctx ends, then releases the names and closes every
// socket. The first registration round starts at once; packets are served
// while it runs.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.receive(ctx)
	}()
	a.running.Store(true)
	if a.listener != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.serveLocal(ctx)
		}()
	}
	a.log.Info("agent starting", "name", a.host.Base(), "workgroup", a.wg.Base(), "interfaces", ifaceNames(a.tr.Interfaces()))
	a.followMode(ctx)
	a.ns.Register(ctx)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	refresh := time.NewTicker(names.DefaultTTL / 2)
	if a.cfg.WINS.IsValid() {
		refresh.Reset(5 * time.Minute)
	}
	defer refresh.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			// Interfaces that came up get our names; those gone are forgotten.
			a.ns.Forget(a.tr.Interfaces())
			a.followMode(ctx)
			a.ns.Register(ctx)
			a.drops.flush()
		case <-refresh.C:
			a.ns.RefreshWINS(ctx)
		}
	}
	a.ns.Release()
	a.log.Info("agent stopped; names released")
	if a.listener != nil {
		a.listener.Close()
	}
	a.closeClients()
	err := a.tr.Close()
	wg.Wait()
	return err
}

func ifaceNames(ifs []transport.Interface) string {
	var s []string
	for _, i := range ifs {
		s = append(s, i.Name+"="+i.Addr.String())
	}
	return strings.Join(s, ",")
}

// receive dispatches every packet by port, after the per-source limit.
func (a *Agent) receive(context.Context) {
	for p := range a.tr.Packets() {
		if !a.admitted && !a.in.allow(p.Src.Addr()) {
			a.M.RateLimitedIn.Add(1)
			a.drops.note("rate-limited", p.Src.Addr())
			continue
		}
		switch p.Port {
		case transport.NamePort:
			a.M.NamePackets.Add(1)
			a.ns.Handle(p)
		case transport.DatagramPort:
			a.M.DatagramPackets.Add(1)
			a.dgram.handle(p)
		}
	}
}
