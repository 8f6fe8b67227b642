//go:build linux

package browse

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/internal/jsonsock"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Path is the Browser's mailslot path below \MAILSLOT\.
const Path = "BROWSE"

// Defaults.
const (
	DefaultType = browser.Workstation | browser.Server | browser.ServerUnix | browser.NT
	// The OS version announced: Samba's 6.1 (wire-protocol.md §5.2).
	DefaultOSMajor, DefaultOSMinor = 6, 1
	maxWatchers                    = 16
	maxApps                        = 16 // application names announced for local programs
	maxRequestDelay                = 30 * time.Second
)

// Schedule is MS-BRWS §3.2.6's announcement schedule: at start, then after
// 1, 2, 4, 8 and 12 minutes, then every 12 minutes.
var Schedule = []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 12 * time.Minute}

// Config configures the service.
type Config struct {
	Namespace string // of the local socket
	Comment   string // the host's comment (≤ 43 bytes)
	// Type is the host's ServerType bits; default DefaultType.
	Type             browser.ServerType
	OSMajor, OSMinor uint8
	MaxEntries       int // browse list bound; default DefaultMaxEntries
	// TimeScale multiplies every period: the announcement schedule, the
	// announced periodicity (so peers expire us sooner) and the answer
	// delay. Test-only: 0 or 1 means the MS-BRWS timings. Announced
	// periodicities never go below one second (Samba reads less as
	// "permanent").
	TimeScale float64
	// Browser makes the agent a potential browser: it takes part in
	// elections with OSLevel (default DefaultOSLevel) and, when it wins,
	// is the workgroup's local master browser.
	Browser  bool
	OSLevel  uint8
	Logger   *slog.Logger
	NoSocket bool
}

// Counters of the service; `mailslot agent --metrics` exports them as
// mailslot_browse_<metric>_total (agent.WriteCounters).
type Counters struct {
	Announced   atomic.Uint64 `metric:"announced" help:"host announcements sent"`
	Received    atomic.Uint64 `metric:"received" help:"BROWSE datagrams received"`
	Malformed   atomic.Uint64 `metric:"malformed" help:"BROWSE datagrams that did not decode"`
	Requests    atomic.Uint64 `metric:"requests" help:"AnnouncementRequests received"`
	BackupLists atomic.Uint64 `metric:"backup_lists" help:"GetBackupListResponses received (they name the master browser)"`
}

// Service is the running browse service.
type Service struct {
	a    *agent.Agent
	cfg  Config
	list *list
	C    Counters
	ln   *net.UnixListener
	log  *slog.Logger

	role       browserRole
	reqPending atomic.Bool
	kick       chan struct{} // answer an AnnouncementRequest now

	mu     sync.Mutex
	apps   map[string]*app
	nwatch int
}

// app is a name announced for a local program.
type app struct {
	name, comment string
	typ           browser.ServerType
}

// New installs the service on a (before a.Run); call it while root.
func New(a *agent.Agent, cfg Config) (*Service, error) {
	if cfg.Type == 0 {
		cfg.Type = DefaultType
	}
	if cfg.OSMajor == 0 && cfg.OSMinor == 0 {
		cfg.OSMajor, cfg.OSMinor = DefaultOSMajor, DefaultOSMinor
	}
	if cfg.Browser {
		cfg.Type |= browser.PotentialBrowser
		if cfg.OSLevel == 0 {
			cfg.OSLevel = DefaultOSLevel
		}
	}
	if cfg.TimeScale <= 0 {
		cfg.TimeScale = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Comment) > 43 {
		return nil, errors.New("browse: the comment is longer than 43 bytes")
	}
	s := &Service{a: a, cfg: cfg, list: newList(cfg.MaxEntries), log: cfg.Logger, kick: make(chan struct{}, 1),
		role: browserRole{start: time.Now(), trigger: make(chan struct{}, 1)},
		apps: map[string]*app{}}
	if !cfg.NoSocket {
		ln, err := jsonsock.Listen(cfg.Namespace, "browse")
		if err != nil {
			return nil, err
		}
		s.ln = ln
	}
	wg := a.Workgroup().Base()
	for _, n := range []netbios.Name{netbios.MustNew(wg, netbios.MasterBrowser), netbios.MustNew(wg, netbios.BrowserElect), netbios.MSBrowse} {
		a.Overhear(n)
	}
	a.Router().Handle(Path, s)
	return s, nil
}

func (s *Service) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * s.cfg.TimeScale)
}

// Entries returns the browse list and the known master browsers by
// workgroup.
func (s *Service) Entries() ([]Entry, map[string]string) { return s.list.snapshot() }

// Len is the number of entries in the list.
func (s *Service) Len() int { return s.list.len() }

// ListCounters returns what the list refused.
func (s *Service) ListCounters() *ListCounters { return &s.list.C }

// Run announces the host and serves local programs until ctx ends; then it
// sends the last announcement (type 0, "going down") and returns, before
// the agent is stopped.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.ln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jsonsock.Serve(ctx, s.ln, s.serve)
		}()
	}
	if s.cfg.Browser {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.browserLoop(ctx)
		}()
	}
	s.announceLoop(ctx)
	wg.Wait()
	return nil
}

// announceLoop sends the host's (and the local programs') announcements
// on the schedule, asks for the backup list, and expires the list.
func (s *Service) announceLoop(ctx context.Context) {
	step := 0
	next := func() time.Duration {
		if step < len(Schedule) {
			return s.scaled(Schedule[step])
		}
		return s.scaled(Schedule[len(Schedule)-1])
	}
	s.announceAll(next(), false)
	s.askBackupList()
	timer := time.NewTimer(next())
	defer timer.Stop()
	expire := time.NewTicker(max(s.scaled(10*time.Second), 100*time.Millisecond))
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			s.announceAll(0, true)
			return
		case <-timer.C:
			step++
			s.announceAll(next(), false)
			s.askBackupList()
			timer.Reset(next())
		case <-s.kick:
			s.announceAll(next(), false)
		case <-expire.C:
			s.list.expire(time.Now())
		}
	}
}

// announceAll sends a HostAnnouncement for the host and each program name
// with periodicity period; goodbye sends type 0.
func (s *Service) announceAll(period time.Duration, goodbye bool) {
	ms := uint32(max(period, time.Second) / time.Millisecond)
	typ := s.cfg.Type
	if s.role.state.Load() == stateMaster {
		typ |= browser.MasterBrowser
	}
	if goodbye {
		typ = 0
	}
	s.announce(s.a.HostName().Base(), ms, typ, s.cfg.Comment)
	if !goodbye && s.role.state.Load() == stateMaster {
		s.sendMasterAnnouncements(s.cfg.Type | browser.MasterBrowser)
		s.selfEntry(ms)
	}
	s.mu.Lock()
	apps := make([]app, 0, len(s.apps))
	for _, p := range s.apps {
		apps = append(apps, *p)
	}
	s.mu.Unlock()
	for _, p := range apps {
		t := p.typ
		if goodbye {
			t = 0
		}
		s.announce(p.name, ms, t, p.comment)
	}
}

func (s *Service) announce(name string, periodMS uint32, typ browser.ServerType, comment string) {
	ann := browser.NewHostAnnouncement(name, periodMS, typ, comment)
	ann.OSMajor, ann.OSMinor = s.cfg.OSMajor, s.cfg.OSMinor
	s.send(netbios.MustNew(s.a.Workgroup().Base(), netbios.MasterBrowser), ann)
	s.C.Announced.Add(1)
}

func (s *Service) send(to netbios.Name, f browser.Frame) {
	b, err := f.Append(nil)
	if err == nil {
		err = s.a.Write(s.a.OpenGroup(to, Path), b)
	}
	if err != nil {
		s.log.Debug("browse: send", "frame", f.Opcode().String(), "err", err)
	}
}

// askBackupList asks the workgroup's master browser for its backup list;
// the answer (to our <00> name) tells who the master is.
func (s *Service) askBackupList() {
	s.send(netbios.MustNew(s.a.Workgroup().Base(), netbios.MasterBrowser),
		&browser.GetBackupListRequest{RequestedCount: 4, Token: rand.Uint32()})
}

// HandleMailslot receives one BROWSE datagram (agent.Handler). It never
// blocks: an AnnouncementRequest schedules the answer.
func (s *Service) HandleMailslot(in *agent.Inbound) {
	s.C.Received.Add(1)
	if len(in.Data) == 0 {
		s.C.Malformed.Add(1)
		return
	}
	if browser.Opcode(in.Data[0]) == browser.OpAnnouncementRequest {
		// The name in the request is ignored (MS-BRWS §3.2.5.1), so
		// Samba's malformed ResponseName needs no decoding.
		s.C.Requests.Add(1)
		s.answerLater()
		return
	}
	f, err := browser.Decode(in.Data)
	if err != nil {
		s.C.Malformed.Add(1)
		return
	}
	now := time.Now()
	src := in.Src.Addr()
	switch f := f.(type) {
	case *browser.Announcement:
		e := Entry{Kind: KindHost, Name: strings.ToUpper(f.ServerName), Workgroup: in.Dest.Base(), Addr: src.String(),
			Comment: f.Comment, Type: uint32(f.Type &^ (browser.LocalListOnly | browser.DomainEnum)), OSMajor: f.OSMajor, OSMinor: f.OSMinor,
			Periodicity: f.Periodicity}
		switch f.Op {
		case browser.OpDomainAnnouncement:
			// ServerName is the workgroup, Comment its master browser.
			e.Kind, e.Workgroup, e.Type = KindDomain, e.Name, uint32(f.Type)
			if f.Type != 0 {
				s.list.setMaster(e.Name, strings.ToUpper(f.Comment))
			}
		case browser.OpLocalMasterAnnouncement:
			e.Master = f.Type != 0
			if f.Type == 0 && s.cfg.Browser {
				s.onMasterGone()
			}
		}
		if in.Dest == netbios.MSBrowse && f.Op != browser.OpDomainAnnouncement {
			e.Workgroup = s.a.Workgroup().Base()
		}
		if e.Name == "" {
			s.C.Malformed.Add(1)
			return
		}
		s.list.update(e, src, now)
	case *browser.RequestElection:
		s.onElection(f)
	case *browser.GetBackupListRequest:
		s.answerBackupList(in, f)
	case *browser.GetBackupListResponse:
		s.C.BackupLists.Add(1)
		s.list.setMaster(s.a.Workgroup().Base(), in.Source.Base())
	}
}

// answerLater answers an AnnouncementRequest after a random delay of up
// to 30 s (MS-BRWS §3.2.5.1); requests while one is pending share it.
func (s *Service) answerLater() {
	if !s.reqPending.CompareAndSwap(false, true) {
		return
	}
	d := s.scaled(rand.N(maxRequestDelay))
	time.AfterFunc(d, func() {
		s.reqPending.Store(false)
		select {
		case s.kick <- struct{}{}:
		default:
		}
	})
}
