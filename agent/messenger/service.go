//go:build linux

package messenger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/internal/jsonsock"
	wmsg "github.com/mailslot/mailslot/wire/messenger"
	"github.com/mailslot/mailslot/wire/netbios"
	"golang.org/x/sys/unix"
	"golang.org/x/text/encoding/charmap"
)

// Path is the Messenger's mailslot path below \MAILSLOT\.
const Path = "MESSNGR"

// Bounds on local clients.
const (
	MaxSubscribers = 256 // connections streaming popups
	MaxUsers       = 64  // distinct USER<03> names registered
	subQueue       = 64  // popups queued per subscriber before drops
	sendTimeout    = 5 * time.Second
)

// DefaultCodePage is the OEM code page of popups: CP850 (Western Europe),
// which agrees with CP437 on ASCII and most letters with accents.
var DefaultCodePage = charmap.CodePage850

// Config configures the service.
type Config struct {
	Namespace string           // of the local socket; default MAILSLOT_NAMESPACE
	CodePage  *charmap.Charmap // default DefaultCodePage
	Policy    Policy
	// FromHost sends the host's name as From instead of the user's.
	FromHost bool
	History  int // records kept; default DefaultHistory
	Logger   *slog.Logger
	// NoSocket skips the local socket (in-process tests).
	NoSocket bool
}

// Service is the running Messenger.
type Service struct {
	a    *agent.Agent
	cfg  Config
	C    Counters
	hist *history
	rate *agent.RateLimiter
	ln   *net.UnixListener
	log  *slog.Logger

	mu    sync.Mutex
	subs  map[*subscriber]struct{}
	users map[string]bool // registered USER<03> base names
}

type subscriber struct {
	user string // upper-case
	ch   chan Record
}

// New installs the service on a (before a.Run) and binds its local socket:
// call it while root, like agent.New.
func New(a *agent.Agent, cfg Config) (*Service, error) {
	if cfg.CodePage == nil {
		cfg.CodePage = DefaultCodePage
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &cfg.Policy
	if p.Rate == 0 {
		p.Rate = DefaultRate
	}
	if p.Burst == 0 {
		p.Burst = DefaultBurst
	}
	if p.MaxLen <= 0 {
		p.MaxLen = DefaultMaxLen
	}
	s := &Service{a: a, cfg: cfg, hist: newHistory(cfg.History), rate: agent.NewRateLimiter(p.Rate, p.Burst),
		log: cfg.Logger, subs: map[*subscriber]struct{}{}, users: map[string]bool{}}
	if !cfg.NoSocket {
		ln, err := jsonsock.Listen(cfg.Namespace, "messenger")
		if err != nil {
			return nil, fmt.Errorf("messenger: %w", err)
		}
		s.ln = ln
	}
	a.Router().Handle(Path, s)
	return s, nil
}

// Run registers HOST<03> and serves local clients until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	go s.addName(ctx, netbios.MustNew(s.a.HostName().Base(), netbios.Messenger))
	if s.ln == nil {
		<-ctx.Done()
		return nil
	}
	jsonsock.Serve(ctx, s.ln, s.serve)
	return nil
}

func (s *Service) addName(ctx context.Context, n netbios.Name) {
	e := s.a.Names().Add(ctx, names.Owned{Name: n})
	if e.State != names.Active && ctx.Err() == nil {
		s.log.Warn("messenger name not registered", "name", n.String(), "state", e.State.String())
	}
}

// Stats returns the counters.
func (s *Service) Stats() map[string]uint64 { return s.C.Snapshot() }

// History returns the records user (upper-case) may see; root sees all.
func (s *Service) History(user string, root bool) []Record { return s.hist.list(user, root) }

// HandleMailslot receives one MESSNGR datagram (agent.Handler).
func (s *Service) HandleMailslot(in *agent.Inbound) {
	s.C.Received.Add(1)
	rec := Record{Time: time.Now().UTC(), Host: in.Source.Base(), Addr: in.Src.String(), Group: in.Group}
	switch {
	case in.Group:
	case in.Dest.Suffix() != netbios.Messenger:
		s.C.NotForUs.Add(1) // e.g. HOST<00>: Windows listens on <03> only
		return
	case in.Dest.Base() != s.a.HostName().Base():
		s.mu.Lock()
		ok := s.users[in.Dest.Base()]
		s.mu.Unlock()
		if !ok {
			s.C.NotForUs.Add(1)
			return
		}
		rec.User = in.Dest.Base()
	}
	ip := in.Src.Addr()
	// A popup written on this host (net send to ourselves) has no network
	// source to judge, and one from a linked site (a link's Dispatch, also
	// without an interface) comes through the NATS trust boundary: both
	// count as local, so `net send` works across sites by default. Deny and
	// allow lists still judge the sender's claimed address.
	local := in.Ifindex == 0 || s.a.OnLocalSubnet(ip)
	if c := s.cfg.Policy.admitSource(ip, local, &s.C); c != nil {
		c.Add(1)
		return
	}
	if !s.rate.Allow(ip) {
		s.C.RefusedRate.Add(1)
		return
	}
	m, err := wmsg.Decode(in.Data, s.cfg.CodePage)
	if err != nil {
		s.C.Malformed.Add(1)
		return
	}
	if c := s.cfg.Policy.admitMessage(m.From, rec.Host, len(m.Text), &s.C); c != nil {
		c.Add(1)
		return
	}
	rec.From, rec.To, rec.Text = m.From, m.To, m.Text
	rec = s.hist.add(rec)
	s.C.Shown.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		if !rec.visibleTo(sub.user, false) {
			continue
		}
		select {
		case sub.ch <- rec:
		default:
			s.C.SubscriberDrops.Add(1)
		}
	}
}

// Send sends a popup from the local user fromUser (or the host, with
// Config.FromHost) to to: a name (DIRECT_UNIQUE to NAME<03>), "*" or
// "/domain" (this workgroup) or "/domain:WG" (group broadcast with To =
// the workgroup, as Windows 98 does). A text one datagram cannot carry
// fails before anything is sent.
func (s *Service) Send(ctx context.Context, fromUser, to, text string) error {
	from := strings.ToUpper(fromUser)
	if s.cfg.FromHost || from == "" {
		from = s.a.HostName().Base()
	}
	var (
		t   *agent.Target
		err error
	)
	wg, isGroup := groupTarget(to, s.a.Workgroup().Base())
	if isGroup {
		t, err = s.a.Open(ctx, wg, Path)
		to = strings.ToUpper(wg)
	} else {
		var n netbios.Name
		if n, err = netbios.New(to, netbios.Messenger); err != nil {
			return err
		}
		to = n.Base()
		t, err = s.a.OpenName(ctx, n, Path)
	}
	if err != nil {
		return err
	}
	m := wmsg.Message{From: from, To: to, Text: text}
	b, err := m.Append(nil, s.cfg.CodePage)
	if err != nil {
		return err
	}
	if len(b) > t.MaxPayload() {
		return fmt.Errorf("message too long: %d bytes with the names, at most %d fit in one datagram to %s (nothing was sent)",
			len(b), t.MaxPayload(), to)
	}
	if err := s.a.Write(t, b); err != nil {
		return err
	}
	s.C.Sent.Add(1)
	return nil
}

// groupTarget parses net send's group forms: "*" and "/domain" are wg,
// "/domain:X" is X.
func groupTarget(to, wg string) (string, bool) {
	switch {
	case to == "*" || strings.EqualFold(to, "/domain"):
		return wg, true
	case len(to) > 8 && strings.EqualFold(to[:8], "/domain:"):
		return to[8:], true
	}
	return "", false
}

// serve answers one local client.
func (s *Service) serve(ctx context.Context, c *net.UnixConn, buf []byte) {
	cred, err := agentproto.PeerCred(c)
	if err != nil {
		return
	}
	name := userName(cred)
	var req Request
	if err := jsonsock.ReadRequest(c, buf, &req); err != nil {
		WriteJSON(c, Reply{Error: "bad request: " + err.Error()})
		return
	}
	switch req.Op {
	case OpHistory:
		WriteJSON(c, Reply{History: s.History(name, cred.Uid == 0)})
	case OpStats:
		WriteJSON(c, Reply{Stats: s.Stats()})
	case OpSend:
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		defer cancel()
		if err := s.Send(sctx, name, req.To, req.Text); err != nil {
			WriteJSON(c, Reply{Error: err.Error()})
			return
		}
		WriteJSON(c, Reply{})
	case OpSubscribe:
		s.stream(ctx, c, name, buf)
	default:
		WriteJSON(c, Reply{Error: fmt.Sprintf("unknown op %q", req.Op)})
	}
}

// Watch streams the popups user (a local user name; "" = the host only)
// may see: those to the host, to the workgroup, and to USER<03>, which it
// registers on the network. Call stop when done.
func (s *Service) Watch(ctx context.Context, user string) (c <-chan Record, registered string, stop func(), err error) {
	sub := &subscriber{user: strings.ToUpper(user), ch: make(chan Record, subQueue)}
	s.mu.Lock()
	if len(s.subs) >= MaxSubscribers {
		s.mu.Unlock()
		return nil, "", nil, errors.New("too many messenger clients")
	}
	n, nameErr := netbios.New(sub.user, netbios.Messenger)
	register := nameErr == nil && !s.users[n.Base()] && len(s.users) < MaxUsers
	if register {
		s.users[n.Base()] = true
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	if register {
		go s.addName(ctx, n)
	}
	if nameErr == nil {
		registered = n.Base()
	}
	return sub.ch, registered, func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}, nil
}

// stream serves a subscribe request until the client hangs up.
func (s *Service) stream(ctx context.Context, c *net.UnixConn, name string, buf []byte) {
	ch, registered, stop, err := s.Watch(ctx, name)
	if err != nil {
		WriteJSON(c, Reply{Error: err.Error()})
		return
	}
	defer stop()
	if WriteJSON(c, Reply{User: registered}) != nil {
		return
	}
	gone := make(chan struct{})
	go func() {
		// The client sends nothing more; a read returns when it hangs up.
		c.Read(buf)
		close(gone)
	}()
	for {
		select {
		case r := <-ch:
			if WriteJSON(c, Reply{Message: &r}) != nil {
				return
			}
		case <-gone:
			return
		case <-ctx.Done():
			return
		}
	}
}

// userName is the local user's name, upper-case (the uid when unknown).
func userName(cred *unix.Ucred) string {
	id := strconv.Itoa(int(cred.Uid))
	if u, err := user.LookupId(id); err == nil {
		id = u.Username
	}
	return strings.ToUpper(id)
}
