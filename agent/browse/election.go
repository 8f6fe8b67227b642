//go:build linux

package browse

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/agent"
	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/wire/browser"
	"github.com/mailslot/mailslot/wire/netbios"
)

// The browser role (Config.Browser): elections with the MS-BRWS criteria,
// and the local master browser's duties when we win.

// DefaultOSLevel is Samba's default os level.
const DefaultOSLevel = 20

const (
	electionVersion = 0x00010F00 // election version 0x010F, shifted as in the criteria
	desireMaster    = 0x04       // "running master" desire bit
	electionRounds  = 4          // RequestElections we send before winning
	electionGap     = 500 * time.Millisecond
	// startElectionDelay gives a master that exists the time to answer the
	// first backup list request, and a starting one (nmbd elects 7-15 s
	// after its start) the time to be heard, before we call an election.
	startElectionDelay = 15 * time.Second
	// electionHoldoff: after hearing a better browser elect, we call and
	// win no election of our own for this long. Samba's nmbd sends its
	// RequestElections 2 s apart, longer than our own rounds, so without it
	// we could win between two of them, register WG<1d>, and refuse it to
	// the better browser that was still electing.
	electionHoldoff = 30 * time.Second
)

// Browser states.
const (
	stateIdle int32 = iota
	stateElecting
	stateMaster
)

type browserRole struct {
	start   time.Time
	state   atomic.Int32
	lost    atomic.Bool   // someone beat us in the current election
	beaten  atomic.Int64  // UnixNano when a better browser was last heard electing
	trigger chan struct{} // start an election
}

func (s *Service) criteria() uint32 {
	c := uint32(s.cfg.OSLevel)<<24 | electionVersion
	if s.role.state.Load() == stateMaster {
		c |= desireMaster
	}
	return c
}

func (s *Service) uptimeMS() uint32 { return uint32(time.Since(s.role.start) / time.Millisecond) }

// beats reports whether our election criteria beat r's (Samba's
// win_election: criteria, then uptime, then the lower name).
func (s *Service) beats(r *browser.RequestElection) bool {
	if c := s.criteria(); c != r.Criteria {
		return c > r.Criteria
	}
	if u := s.uptimeMS(); u != r.Uptime {
		return u > r.Uptime
	}
	return strings.Compare(s.a.HostName().Base(), strings.ToUpper(r.ServerName)) < 0
}

func (s *Service) electionRequest() *browser.RequestElection {
	return &browser.RequestElection{Version: 1, Criteria: s.criteria(), Uptime: s.uptimeMS(), ServerName: s.a.HostName().Base()}
}

func (s *Service) wgName(suffix byte) netbios.Name {
	return netbios.MustNew(s.a.Workgroup().Base(), suffix)
}

// onElection handles a RequestElection heard from another browser.
func (s *Service) onElection(r *browser.RequestElection) {
	if !s.cfg.Browser {
		return
	}
	if s.beats(r) {
		select { // answer with our own criteria: start (or join) an election
		case s.role.trigger <- struct{}{}:
		default:
		}
		return
	}
	s.role.lost.Store(true)
	s.role.beaten.Store(time.Now().UnixNano())
	if s.role.state.Load() == stateMaster {
		// A better browser is electing: hand over to it.
		select {
		case s.role.trigger <- struct{}{}:
		default:
		}
	}
}

// browserLoop runs elections and the master's duties until ctx ends.
func (s *Service) browserLoop(ctx context.Context) {
	s.a.Names().Add(ctx, names.Owned{Name: s.wgName(netbios.BrowserElect), Group: true})
	// At start a browser that finds no master calls an election (Samba's
	// preferred master does the same); the backup list request of the
	// first announcement has had its chance to name one.
	t := time.NewTimer(startElectionDelay)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if s.role.state.Load() == stateMaster {
				s.sendMasterAnnouncements(0)
			}
			return
		case <-t.C:
			if _, m := s.list.snapshot(); m[s.a.Workgroup().Base()] == "" && s.role.state.Load() == stateIdle {
				s.elect(ctx)
			}
		case <-s.role.trigger:
			s.elect(ctx)
		}
	}
}

// elect sends our RequestElection a few times; if nobody beat us by then,
// we become the local master browser. A master that loses hands over.
func (s *Service) elect(ctx context.Context) {
	wasMaster := s.role.state.Load() == stateMaster
	if wasMaster && s.role.lost.Load() {
		s.demote() // beaten while master (onElection)
		return
	}
	if !wasMaster {
		s.role.state.Store(stateElecting)
	}
	s.role.lost.Store(false)
	for i := 0; i < electionRounds && !s.role.lost.Load(); i++ {
		s.send(s.wgName(netbios.BrowserElect), s.electionRequest())
		select {
		case <-ctx.Done():
			return
		case <-time.After(electionGap):
		}
	}
	switch {
	case s.role.lost.Load() && wasMaster:
		s.demote()
	case s.role.lost.Load(), !wasMaster && s.beatenLately():
		s.role.state.Store(stateIdle)
	case !wasMaster:
		s.promote(ctx)
	}
}

// beatenLately reports whether a better browser was heard electing within
// electionHoldoff.
func (s *Service) beatenLately() bool {
	at := s.role.beaten.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < electionHoldoff
}

// promote registers WG<1d> and __MSBROWSE__<01> and starts the master's
// announcements; a defended WG<1d> means someone else is master.
func (s *Service) promote(ctx context.Context) {
	if e := s.a.Names().Add(ctx, names.Owned{Name: s.wgName(netbios.MasterBrowser)}); e.State != names.Active {
		s.log.Info("browse: another host holds the master browser name", "name", s.wgName(netbios.MasterBrowser).String())
		s.a.Names().Remove(s.wgName(netbios.MasterBrowser))
		s.role.state.Store(stateIdle)
		return
	}
	if s.beatenLately() {
		// A better browser spoke while we registered: leave it the name
		// now rather than defend it against that browser.
		s.a.Names().Remove(s.wgName(netbios.MasterBrowser))
		s.role.state.Store(stateIdle)
		return
	}
	s.a.Names().Add(ctx, names.Owned{Name: netbios.MSBrowse, Group: true})
	s.role.state.Store(stateMaster)
	s.list.setMaster(s.a.Workgroup().Base(), s.a.HostName().Base())
	s.log.Info("browse: now the local master browser", "workgroup", s.a.Workgroup().Base())
	s.sendMasterAnnouncements(s.cfg.Type | browser.MasterBrowser)
	// Ask every host to announce itself to us now (as nmbd does).
	s.send(s.wgName(netbios.Workstation), &browser.AnnouncementRequest{ResponseName: s.a.HostName().Base()})
}

// demote hands over: a last LocalMasterAnnouncement with type 0, then the
// master's names are released.
func (s *Service) demote() {
	s.sendMasterAnnouncements(0)
	s.a.Names().Remove(s.wgName(netbios.MasterBrowser))
	s.a.Names().Remove(netbios.MSBrowse)
	s.role.state.Store(stateIdle)
	s.log.Info("browse: lost the election; no longer the local master browser")
}

// sendMasterAnnouncements sends the LocalMasterAnnouncement (to WG<1e>)
// and the DomainAnnouncement (to __MSBROWSE__<01>) with type bits typ.
func (s *Service) sendMasterAnnouncements(typ browser.ServerType) {
	host, wg := s.a.HostName().Base(), s.a.Workgroup().Base()
	lma := browser.NewHostAnnouncement(host, uint32(max(s.scaled(MaxPeriod), time.Second)/time.Millisecond), typ, s.cfg.Comment)
	lma.Op, lma.OSMajor, lma.OSMinor = browser.OpLocalMasterAnnouncement, s.cfg.OSMajor, s.cfg.OSMinor
	s.send(s.wgName(netbios.BrowserElect), lma)
	dtyp := browser.DomainEnum | browser.NT
	if typ == 0 {
		dtyp = 0
	}
	dom := browser.NewHostAnnouncement(wg, lma.Periodicity, dtyp, host)
	dom.Op = browser.OpDomainAnnouncement
	dom.OSMajor, dom.OSMinor, dom.BrowserMajor, dom.BrowserMinor, dom.Signature = 0, 0, 0, 0, 0
	s.send(netbios.MSBrowse, dom)
}

// answerBackupList answers a GetBackupListRequest as the master: we are
// the only browser we know. The answer goes back the way the request came:
// one from another site came through the link, and its sender's address
// is on a subnet we may have no route to.
func (s *Service) answerBackupList(in *agent.Inbound, r *browser.GetBackupListRequest) {
	if s.role.state.Load() != stateMaster {
		return
	}
	resp := &browser.GetBackupListResponse{Token: r.Token, Servers: []string{s.a.HostName().Base()}}
	b, err := resp.Append(nil)
	if err == nil {
		err = s.a.Write(s.a.OpenReply(in, netbios.MustNew(in.Source.Base(), 0), Path), b)
	}
	if err != nil {
		s.log.Debug("browse: backup list response", "err", err)
	}
}

// selfEntry keeps the master's own entry in its list.
func (s *Service) selfEntry(periodMS uint32) {
	if s.role.state.Load() != stateMaster {
		return
	}
	ip := ""
	if ifs := s.a.Interfaces(); len(ifs) > 0 {
		ip = ifs[0].IP().String()
	}
	e := Entry{Kind: KindHost, Name: s.a.HostName().Base(), Workgroup: s.a.Workgroup().Base(), Addr: ip, Comment: s.cfg.Comment,
		Type: uint32(s.cfg.Type | browser.MasterBrowser), OSMajor: s.cfg.OSMajor, OSMinor: s.cfg.OSMinor, Periodicity: periodMS, Master: true}
	if ifs := s.a.Interfaces(); len(ifs) > 0 {
		s.list.update(e, ifs[0].IP(), time.Now())
	}
}

// onMasterGone starts an election when the master says it is going down.
func (s *Service) onMasterGone() {
	if s.role.state.Load() != stateIdle {
		return
	}
	select {
	case s.role.trigger <- struct{}{}:
	default:
	}
}
