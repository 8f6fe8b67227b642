// Package natslink joins mailslot agents over NATS: every agent of a
// workgroup on the same NATS system forms one logical LAN. A group write
// (\\*\mailslot\x, \\WG\mailslot\x) reaches the agents of every subnet,
// each host once; a write to \\HOST\mailslot\x for an agent host on another
// subnet is resolved through the agents' directory and delivered through
// NATS. Hosts without an agent (Windows, nmbd) get group writes from
// elsewhere as a LAN broadcast by one agent of their subnet (the gateway),
// and their own group writes reach the other subnets through that agent.
//
// NATS core publish/subscribe is at-most-once and fire-and-forget, like a
// class-2 mailslot. Subjects and the message format are documented on
// BcastSubject, HostSubject, EnvelopeMagic and the Hdr constants, so any
// NATS client can take part. Agents batch the writes pending for one
// subject into one envelope. The link never blocks the agent: publications
// go through a bounded outbox, and a lost connection only drops what
// crosses it.
//
// Loops are impossible by construction: a message received from NATS is
// never published again; it reaches a LAN only as a rebroadcast, which
// every linked agent recognises by its dedup key (the same key it computed
// when the message arrived through NATS) and by its sender being an agent;
// and only the origin agent, or for hosts without an agent the gateway of
// their subnet, ever publishes a LAN write.
package natslink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/internal/recent"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Defaults (see Config).
const (
	DefaultAnnounce  = 10 * time.Second
	DefaultSettle    = 2 * time.Second
	DefaultQueueLen  = 4096
	DefaultAskWait   = 500 * time.Millisecond
	dedupSize        = 8192
	dedupWindow      = 2 * time.Second // as the LAN dedup (Netlogon's MailslotDuplicateTimeout)
	maxAgents        = 4096
	pendingMsgs      = 8192    // per subscription, then the client drops (counted)
	pendingBytes     = 8 << 20 // per subscription
	maxReconnectWait = 10 * time.Second
)

// Errors.
var (
	ErrNoServer = errors.New("natslink: no NATS server (set URLs or Server)")
	ErrClosed   = errors.New("natslink: link closed")
)

// Config configures a Link.
type Config struct {
	// URLs are the NATS servers to connect to.
	URLs []string
	// Server, when set, is an embedded server (see Embed) the link connects
	// to in process; URLs are then ignored.
	Server nats.InProcessConnProvider
	// Options are extra client options: credentials (nats.UserCredentials,
	// nats.Nkey..., nats.UserInfo), TLS (nats.RootCAs, nats.ClientCert).
	Options []nats.Option
	// Announce is how often the agent announces itself in the directory;
	// entries not refreshed for 3 intervals expire. Default DefaultAnnounce.
	Announce time.Duration
	// Settle is how long after (re)connecting the agent waits, learning the
	// directory, before it acts as the gateway of a subnet. Default
	// DefaultSettle.
	Settle time.Duration
	// QueueLen bounds the publications waiting to be sent; more are dropped
	// and counted. Default DefaultQueueLen.
	QueueLen int
	// AskWait bounds a directory request for a host the agent does not
	// know yet. Default DefaultAskWait.
	AskWait time.Duration
	// RateIn and BurstIn bound the writes accepted from NATS per sender
	// (publishing agent, else claimed source name): a token bucket, so a
	// flooding publisher can neither starve the others nor make the
	// gateways flood their LANs. Zero means the default; negative means
	// unlimited.
	RateIn, BurstIn float64
	// RateForward and BurstForward bound, per LAN source address, the
	// unique datagrams a gateway forwards to an agent host of another
	// subnet (replies of hosts without an agent to its rebroadcasts; see
	// Forward): a token bucket, so that one LAN host cannot spend the
	// gateway's share of the other agents' RateIn. Zero means the default;
	// negative means unlimited.
	RateForward, BurstForward float64
	Logger                    *slog.Logger
}

// Link is an agent's connection to a NATS system.
type Link struct {
	a     *agent.Agent
	cfg   Config
	id    string // this agent's id in the directory and Mailslot-Origin
	wg    string // the workgroup's base name
	host  netbios.Name
	log   *slog.Logger
	wgRaw [15]byte // the workgroup's name as on the wire
	nc    *nats.Conn
	out   *outbox
	// sending is the publisher's set of batches, reused, under flushMu.
	sending []*batch
	flushMu sync.Mutex
	seen    *recent.Table // keys of writes delivered here lately
	dir     *directory
	limit   *limiter // per sender, on what arrives from NATS
	// fwdLimit is per LAN source address, on the datagrams forwarded.
	fwdLimit *limiter
	M        Metrics
	// upSince is when the connection last came up (UnixNano; 0 = down).
	upSince atomic.Int64
	dgramID atomic.Uint32
	relays  relayTable
	whoSem  chan struct{}
	// replyPending is set while an answer to newcomers is scheduled.
	replyPending atomic.Bool
	subs         []*nats.Subscription
	// recv is the strings kept by receive, one set per subscription for
	// writes (nats.go calls a subscription's handler from one goroutine).
	recv [3]recvCache
	once sync.Once
	done chan struct{}
}

// New connects agent a to NATS and installs the link in it (a.SetLink).
// When no server answers yet, New still succeeds and the link keeps
// trying in the background. Call Run to serve.
func New(a *agent.Agent, cfg Config) (*Link, error) {
	if cfg.Server == nil && len(cfg.URLs) == 0 {
		return nil, ErrNoServer
	}
	if cfg.Announce <= 0 {
		cfg.Announce = DefaultAnnounce
	}
	if cfg.Settle <= 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.AskWait <= 0 {
		cfg.AskWait = DefaultAskWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RateIn == 0 {
		cfg.RateIn = DefaultRateIn
	}
	if cfg.BurstIn == 0 {
		cfg.BurstIn = DefaultBurstIn
	}
	if cfg.RateForward == 0 {
		cfg.RateForward = DefaultRateForward
	}
	if cfg.BurstForward == 0 {
		cfg.BurstForward = DefaultBurstForward
	}
	l := &Link{limit: newLimiter(cfg.RateIn, cfg.BurstIn), fwdLimit: newLimiter(cfg.RateForward, cfg.BurstForward), whoSem: make(chan struct{}, whoConcurrent), a: a, cfg: cfg, id: nuid.Next(), wg: a.Workgroup().Base(), host: a.HostName(), log: cfg.Logger,
		seen: recent.New(dedupSize, dedupWindow), dir: newDirectory(maxAgents),
		done: make(chan struct{})}
	wg := a.Workgroup()
	l.wgRaw = [15]byte(wg.Raw[:15])
	l.out = newOutbox(l.id, cfg.QueueLen)
	opts := []nats.Option{
		nats.Name("mailslot agent " + l.host.Base()),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.CustomReconnectDelay(backoff),
		// Mailslots are unreliable: while disconnected, publications fail
		// at once (counted) instead of piling up for a late burst.
		nats.ReconnectBufSize(-1),
		// What the agent publishes is not for itself: it never has to
		// receive (and drop) its own envelopes.
		nats.NoEcho(),
		nats.ConnectHandler(func(c *nats.Conn) { l.up(c, false) }),
		nats.ReconnectHandler(func(c *nats.Conn) { l.up(c, true) }),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if l.upSince.Swap(0) != 0 {
				l.M.Disconnects.Add(1)
				l.log.Warn("NATS link down; LAN traffic continues, retrying with backoff", "err", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				l.M.SlowConsumer.Add(1)
				return
			}
			l.log.Warn("NATS link error", "err", err)
		}),
	}
	url := strings.Join(cfg.URLs, ",")
	if cfg.Server != nil {
		opts = append(opts, nats.InProcessServer(cfg.Server))
		url = ""
	}
	opts = append(opts, cfg.Options...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("natslink: %w", err)
	}
	l.nc = nc
	if nc.IsConnected() {
		l.up(nc, false)
	}
	if err := l.subscribe(); err != nil {
		nc.Close()
		return nil, err
	}
	a.SetLink(l)
	return l, nil
}

// backoff is the reconnect delay: 250 ms doubling to 10 s, with jitter.
func backoff(attempts int) time.Duration {
	d := 250 * time.Millisecond << min(attempts, 6)
	d = min(d, maxReconnectWait)
	return d/2 + rand.N(d/2+1)
}

func (l *Link) up(c *nats.Conn, again bool) {
	if l.upSince.Swap(time.Now().UnixNano()) != 0 {
		return
	}
	if again {
		l.M.Reconnects.Add(1)
	}
	l.out.setMaxBody(c.MaxPayload())
	l.log.Info("NATS link up", "server", c.ConnectedUrlRedacted(), "agent_id", l.id, "reconnect", again)
	l.announceOn(c, false)
}

// ID is this agent's id on the NATS system.
func (l *Link) ID() string { return l.id }

// Connected reports whether the link is up.
func (l *Link) Connected() bool { return l.upSince.Load() != 0 }

func (l *Link) subscribe() error {
	for _, s := range []struct {
		subj string
		h    nats.MsgHandler
	}{
		{subjectRoot + "." + Token(l.wg) + ".bcast.*", l.onBcast},
		{HostSubject(l.wg, l.host.Base()), l.onHost},
		{agentsSubject(l.wg), l.onAnnounce},
		{whoSubject(l.wg, "") + "*", l.onWho},
		{relaySubject(l.wg, l.id), l.onRelay},
	} {
		sub, err := l.nc.Subscribe(s.subj, s.h)
		if err != nil {
			return fmt.Errorf("natslink: subscribe %s: %w", s.subj, err)
		}
		if err := sub.SetPendingLimits(pendingMsgs, pendingBytes); err != nil {
			return err
		}
		l.subs = append(l.subs, sub)
	}
	return nil
}

// Run publishes and keeps the directory until ctx ends, then says goodbye
// and closes the connection.
func (l *Link) Run(ctx context.Context) error {
	// The directory's timer runs apart, so that the publisher's loop is a
	// plain wait for work.
	go func() {
		tick := time.NewTicker(l.cfg.Announce)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				l.announce(false)
				l.dir.expire(time.Now().Add(-3 * l.cfg.Announce))
			case <-l.done:
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, l.Close)
	defer stop()
	for {
		select {
		case <-l.out.kick:
			l.flush()
		case <-l.done:
			return nil
		}
	}
}

// Close says goodbye to the directory and closes the connection.
func (l *Link) Close() {
	l.once.Do(func() {
		if l.Connected() {
			l.announce(true)
			l.flush()
			l.nc.Flush()
		}
		l.nc.Close()
		close(l.done)
	})
}

// flush publishes every batch in the outbox, each as one NATS message (the
// client copies it: the batch is reused). It runs on the publisher
// goroutine only; it is the one place that may wait on the connection.
func (l *Link) flush() {
	l.flushMu.Lock() // Close may flush while Run does
	defer l.flushMu.Unlock()
	l.sending = l.out.take(l.sending)
	for _, b := range l.sending {
		if err := l.nc.Publish(b.subject, b.body); err != nil {
			l.M.PublishFailed.Add(uint64(b.n))
			continue
		}
		l.M.Published.Add(uint64(b.n))
		l.M.Envelopes.Add(1)
	}
	l.out.release(l.sending)
}

// publish puts m in the outbox for subject; it never blocks. It fails
// only when the link is down.
func (l *Link) publish(subject []byte, m *Message) error {
	if !l.Connected() {
		l.M.PublishFailed.Add(1)
		return errDown
	}
	switch l.out.add(subject, m) {
	case outboxFull:
		l.M.QueueFull.Add(1)
	case unfit:
		l.M.PublishFailed.Add(1)
	}
	return nil
}

var errDown = errors.New("the NATS link is down")

// subjectBuf fits the subjects of writes: mailslot.<WG>.bcast.<path> with
// every byte of a 255-byte path escaped.
const subjectBuf = 1024

// nameBase is n's name without padding or suffix, as bytes of n.
func nameBase(n *netbios.Name) []byte {
	end := 15
	for end > 0 && n.Raw[end-1] == ' ' {
		end--
	}
	return n.Raw[:end]
}

// lans appends the subnets of the agent's interfaces (all of them, or the
// one of ifindex) to dst.
func lans(dst []netip.Prefix, ifs []transport.Interface, ifindex int) []netip.Prefix {
	for _, i := range ifs {
		if (ifindex == 0 || i.Index == ifindex) && len(dst) < maxLANs {
			dst = append(dst, i.Addr.Masked())
		}
	}
	return dst
}

// Group implements agent.Link.
func (l *Link) Group(in *agent.Inbound, id uint16) bool {
	key := MessageID(in.Source, in.Dest, id, in.Path, in.Data)
	if in.Ifindex == 0 { // a local program sent it: we are its origin
		l.seen.Seen(key, 0, false)
		l.publishGroup(in, id, 0)
		return true
	}
	name, fromAgent := l.dir.agentAt(in.Src.Addr())
	if fromAgent && name != in.Source.Base() {
		// A gateway's rebroadcast of a write that came through NATS: it is
		// for the hosts without an agent. Ours comes through NATS, with the
		// sender's own address; it is not recorded, so that copy is not
		// taken for a duplicate.
		l.M.Duplicates.Add(1)
		return false
	}
	if l.seen.Seen(key, 0, false) {
		// Already delivered: the same datagram on another interface, or a
		// rebroadcast from an agent not yet in the directory.
		l.M.Duplicates.Add(1)
		return false
	}
	// Another agent's own write is published by that agent: only writes of
	// hosts without an agent are bridged, by the gateway of their subnet.
	if fromAgent || !l.gateway(in.Ifindex) {
		return true
	}
	l.M.Bridged.Add(1)
	l.publishGroup(in, id, in.Ifindex)
	return true
}

// publishGroup publishes a group write with the subnets that got it by
// broadcast already (those of ifindex, or all of ours for 0).
func (l *Link) publishGroup(in *agent.Inbound, id uint16, ifindex int) {
	var lanBuf [maxLANs]netip.Prefix
	m := Message{Source: in.Source, Addr: in.Src, Path: in.Path, Dest: in.Dest, DgramID: id, Data: in.Data,
		LANs: lans(lanBuf[:0], l.a.Interfaces(), ifindex)}
	var sb [subjectBuf]byte
	l.publish(appendSubject(sb[:0], nameBase(&in.Dest), kindBcast, in.Path), &m)
}

// Unique implements agent.Link.
func (l *Link) Unique(host netbios.Name, path string, data []byte) error {
	m := Message{Source: l.host, Path: path, Dest: host, DgramID: uint16(l.dgramID.Add(1)), Data: data}
	if ifs := l.a.Interfaces(); len(ifs) > 0 {
		m.Addr = ifsAddr(ifs[0])
	}
	var sb [subjectBuf]byte
	subject := appendSubject(sb[:0], l.wg, kindHost, nameBase(&host))
	if host.Suffix() == netbios.Messenger {
		// NAME<03> is the Messenger of agent host NAME, or a user of
		// another agent: on that agent's host subject either way.
		if a, ok := l.agentOf(host); ok {
			subject = appendSubject(sb[:0], l.wg, kindHost, a.Name)
		}
	} else if id, ok := l.relays.get(nameBase(&host)); ok { // a host without an agent
		subject = appendSubject(sb[:0], l.wg, kindRelay, id)
	}
	if err := l.publish(subject, &m); err != nil {
		return fmt.Errorf("the NATS link to %s is down", host.Base())
	}
	return nil
}
