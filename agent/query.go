package agent

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/mailslot/mailslot/internal/agentproto"
	"github.com/mailslot/mailslot/winerr"
	"github.com/mailslot/mailslot/wire/nbns"
	"github.com/mailslot/mailslot/wire/netbios"
)

// NameTable describes the agent's names and their states.
func (a *Agent) NameTable() agentproto.NameTable {
	t := agentproto.NameTable{Name: a.host.Base(), Workgroup: a.wg.Base(), Interfaces: []agentproto.Interface{}, Names: []agentproto.NameEntry{}}
	for _, i := range a.tr.Interfaces() {
		t.Interfaces = append(t.Interfaces, agentproto.Interface{Name: i.Name, Addr: i.Addr.String()})
	}
	for _, e := range a.ns.Table() {
		ne := agentproto.NameEntry{Name: e.Name.String(), Group: e.Group, State: e.State.String()}
		if e.Defender.IsValid() {
			ne.Defender = e.Defender.String()
		}
		t.Names = append(t.Names, ne)
	}
	a.sambaInfo(&t)
	return t
}

// parseLookupName accepts NAME or NAME<xx> (default suffix 0x00).
func parseLookupName(s string) (netbios.Name, error) {
	if !strings.HasSuffix(s, ">") {
		s += "<00>"
	}
	n, err := netbios.Parse(s)
	if err != nil {
		return n, &Error{Code: winerr.ERROR_INVALID_NAME, Msg: err.Error()}
	}
	return n, nil
}

// LookupName resolves NAME[<xx>] and collects every responder.
func (a *Agent) LookupName(ctx context.Context, s string) (agentproto.LookupResult, error) {
	n, err := parseLookupName(s)
	if err != nil {
		return agentproto.LookupResult{}, err
	}
	ans, err := a.ns.Lookup(ctx, n)
	if err != nil {
		return agentproto.LookupResult{}, badNetPath("no answer for %s", n)
	}
	r := agentproto.LookupResult{Name: n.String(), Group: ans.Group, Source: ans.Source, Addrs: []string{}}
	for _, ip := range ans.Addrs {
		r.Addrs = append(r.Addrs, ip.String())
	}
	return r, nil
}

// HostStatus asks HOST (a NetBIOS name or an IPv4 address) for its name
// table.
func (a *Agent) HostStatus(ctx context.Context, host string) (agentproto.StatusResult, error) {
	ip, err := netip.ParseAddr(host)
	if err != nil {
		n, perr := parseLookupName(host)
		if perr != nil {
			return agentproto.StatusResult{}, perr
		}
		ans, rerr := a.ns.Resolve(ctx, n)
		if rerr != nil {
			return agentproto.StatusResult{}, badNetPath("cannot resolve %s", host)
		}
		ip = ans.Addrs[0]
	}
	if !ip.Is4() {
		return agentproto.StatusResult{}, &Error{Code: winerr.ERROR_INVALID_PARAMETER, Msg: "NetBIOS needs an IPv4 address"}
	}
	st, err := a.ns.NodeStatus(ctx, ip)
	if err != nil {
		return agentproto.StatusResult{}, badNetPath("no node status answer from %s", host)
	}
	r := agentproto.StatusResult{Host: host, Addr: ip.String(), Names: []agentproto.StatusEntry{}}
	if len(st.Statistics) >= 6 {
		if mac := net.HardwareAddr(st.Statistics[:6]); mac.String() != "00:00:00:00:00:00" {
			r.MAC = mac.String()
		}
	}
	for _, e := range st.Names {
		r.Names = append(r.Names, agentproto.StatusEntry{Name: e.String(), Group: e.Flags&nbns.NBGroup != 0,
			Active: e.Flags&nbns.NameActive != 0, Conflict: e.Flags&nbns.NameConflict != 0})
	}
	return r, nil
}
