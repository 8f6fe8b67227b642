package agent

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/mailslot/mailslot/agent/samba"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// sambaState is what the agent's main loop remembers of nmbd.
type sambaState struct {
	gen     uint64 // the transport's Generation last seen
	pending bool   // beside nmbd, but its name table is not known yet
}

// openNetwork opens UDP 137/138 in the configured mode (package samba).
// admit is the per-source limit, applied by the transport to every packet
// it receives, relayed by nmbd or not.
func (a *Agent) openNetwork(admit func(netip.Addr) bool, handle func(*transport.Packet) bool, flush func()) (transport.Transport, error) {
	t, err := samba.Open(samba.Config{Mode: a.cfg.Mode, Socket: a.cfg.SambaSocket, Logger: a.log,
		UDP: transport.UDPConfig{Interfaces: a.cfg.Interfaces, Logger: a.log, Admit: admit, Handle: handle, Flush: flush,
			Privileged: a.cfg.Privileged}})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// followMode runs in the main loop before each registration round. When
// the network mode changed (nmbd started, stopped or restarted) our names
// are registered again; beside nmbd, the names nmbd already holds (our
// name when it is nmbd's netbios name or one of its "netbios aliases", our
// workgroup when it is nmbd's) are left to nmbd, which answers for them,
// and the rest are registered and answered by us on broadcast.
func (a *Agent) followMode(ctx context.Context) {
	t, ok := a.tr.(*samba.Transport)
	if !ok {
		return
	}
	gen := t.Generation()
	if gen == a.samba.gen && !a.samba.pending {
		return
	}
	if gen != a.samba.gen {
		a.samba.gen = gen
		a.ns.Forget(nil)
	}
	if t.Mode() != samba.Beside {
		a.samba.pending = false
		a.ns.SetDelegated(nil)
		return
	}
	held, err := a.nmbdNames(ctx)
	if err != nil {
		// Until nmbd's table is known, claim nothing on the wire: a
		// registration of one of nmbd's names would compete with it.
		if !a.samba.pending {
			a.log.Info("waiting for nmbd's name table", "err", err)
		}
		a.samba.pending = true
		a.ns.SetDelegated(func(netbios.Name, bool) bool { return true })
		return
	}
	a.samba.pending = false
	a.ns.SetDelegated(held)
	var mine, theirs []string
	for _, e := range a.ns.Table() {
		if held(e.Name, e.Group) {
			theirs = append(theirs, e.Name.String())
		} else {
			mine = append(mine, e.Name.String())
		}
	}
	a.log.Info("beside nmbd: names", "answered by nmbd", strings.Join(theirs, ","), "answered by the agent (broadcast only)", strings.Join(mine, ","))
}

// nmbdNames asks nmbd (through a node status request to this host's own
// address) which names it holds.
func (a *Agent) nmbdNames(ctx context.Context) (func(netbios.Name, bool) bool, error) {
	ifs := a.tr.Interfaces()
	if len(ifs) == 0 {
		return nil, transport.ErrNoInterface
	}
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	st, err := a.ns.NodeStatus(ctx, ifs[0].IP())
	if err != nil {
		return nil, err
	}
	return func(n netbios.Name, group bool) bool {
		for _, e := range st.Names {
			if e.Name == n.Raw && (e.Flags&nbns.NBGroup != 0) == group && e.Flags&nbns.NameConflict == 0 {
				return true
			}
		}
		return false
	}, nil
}

// sambaInfo adds the mode and the link to nmbd to the name table.
func (a *Agent) sambaInfo(tab *agentproto.NameTable) {
	t, ok := a.tr.(*samba.Transport)
	if !ok {
		return
	}
	tab.Mode = string(t.Mode())
	s := t.Stats()
	tab.Samba = &agentproto.SambaInfo{Socket: t.Socket(), Connected: t.Connected(), Frames: s.Frames.Load(),
		Cut: s.Cut.Load(), Duplicates: s.Duplicates.Load()}
}

// writeSambaMetrics adds the counters of the link to nmbd to the metrics,
// and the mode as a gauge (1 = beside nmbd).
func (a *Agent) writeSambaMetrics(w io.Writer) {
	t, ok := a.tr.(*samba.Transport)
	if !ok {
		return
	}
	s := t.Stats()
	for _, m := range []struct {
		name string
		v    uint64
	}{{"samba_frames", s.Frames.Load()}, {"samba_cut", s.Cut.Load()}, {"samba_duplicates", s.Duplicates.Load()},
		{"samba_malformed", s.Malformed.Load()}, {"samba_overflow", s.Overflow.Load()}, {"samba_connects", s.Connects.Load()},
		{"samba_mode_switches", s.Switches.Load()}} {
		name := "mailslot_agent_" + m.name + "_total"
		fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, m.v)
	}
	beside := 0
	if t.Mode() == samba.Beside {
		beside = 1
	}
	fmt.Fprintf(w, "# TYPE mailslot_agent_beside_samba gauge\nmailslot_agent_beside_samba %d\n", beside)
}
