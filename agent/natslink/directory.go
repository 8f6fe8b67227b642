package natslink

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailslot/mailslot/agent/names"
	"github.com/mailslot/mailslot/agent/transport"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Announcement is what an agent publishes on mailslot.<WG>.agents (JSON)
// every Announce interval, when it connects, when it sees an agent it did
// not know, and (with Bye) when it stops. It also answers
// mailslot.<WG>.who.<NAME> requests with it.
type Announcement struct {
	ID    string         `json:"id"`
	Name  string         `json:"name"`  // NetBIOS host name
	LANs  []netip.Prefix `json:"lans"`  // subnets of its interfaces
	Addrs []netip.Addr   `json:"addrs"` // its interface addresses
	Bye   bool           `json:"bye,omitempty"`
	// Users are the other <03> names the agent holds (the users its
	// Messenger registered, for `net send USER`), without the suffix.
	Users []string `json:"users,omitempty"`
	// Relay marks a who answer from the gateway of the subnet of Name, a
	// host without an agent: writes for it go to mailslot.<WG>.relay.<ID>.
	Relay bool `json:"relay,omitempty"`
}

// replyDelay bounds how long an agent waits before answering newcomers.
const replyDelay = 100 * time.Millisecond

// Bounds on a decoded announcement.
const (
	maxAnnounce    = 4096 // bytes
	maxAnnounceNet = 64   // LANs and addresses each
	// maxAnnounceUsers bounds an agent's user names, as its Messenger does
	// (messenger.MaxUsers).
	maxAnnounceUsers = 64
)

type entry struct {
	Announcement
	seen time.Time
}

// directory is the set of agents on the NATS system, bounded.
type directory struct {
	mu  sync.Mutex
	max int
	m   map[string]*entry
	// Indexes for the lookups made for every write (is the sender an
	// agent? are we a subnet's gateway? whose is this name?), rebuilt when an entry changes,
	// not when an agent repeats its announcement.
	byAddr map[netip.Addr]string   // an agent's address -> its host name
	lowest map[netip.Prefix]string // a subnet -> the lowest agent id on it
	hosts  map[string]string       // a host name -> the lowest id of an agent that announces it
	users  map[string]string       // a user's name -> the lowest id of an agent that holds it
}

func newDirectory(max int) *directory {
	return &directory{max: max, m: map[string]*entry{}, byAddr: map[netip.Addr]string{}, lowest: map[netip.Prefix]string{},
		hosts: map[string]string{}, users: map[string]string{}}
}

// reindex rebuilds the indexes; d.mu is held.
func (d *directory) reindex() {
	clear(d.byAddr)
	clear(d.lowest)
	clear(d.users)
	clear(d.hosts)
	for _, e := range d.m {
		if id, ok := d.hosts[e.Name]; !ok || e.ID < id {
			d.hosts[e.Name] = e.ID
		}
		for _, u := range e.Users {
			if id, ok := d.users[u]; !ok || e.ID < id {
				d.users[u] = e.ID
			}
		}
		for _, ip := range e.Addrs {
			d.byAddr[ip] = e.Name
		}
		for _, p := range e.LANs {
			if low, ok := d.lowest[p]; !ok || e.ID < low {
				d.lowest[p] = e.ID
			}
		}
	}
}

// sameRoute reports whether a and b index the same way.
func sameRoute(a, b Announcement) bool {
	return a.Name == b.Name && slices.Equal(a.LANs, b.LANs) && slices.Equal(a.Addrs, b.Addrs) && slices.Equal(a.Users, b.Users)
}

// put records a; it reports whether a's agent was new.
func (d *directory) put(a Announcement, now time.Time) (isNew, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a.Bye {
		if _, ok := d.m[a.ID]; ok {
			delete(d.m, a.ID)
			d.reindex()
		}
		return false, true
	}
	e := d.m[a.ID]
	if e == nil {
		if len(d.m) >= d.max {
			return false, false
		}
		e = &entry{}
		d.m[a.ID] = e
		isNew = true
	}
	changed := isNew || !sameRoute(e.Announcement, a)
	e.Announcement, e.seen = a, now
	if changed {
		d.reindex()
	}
	return isNew, true
}

func (d *directory) expire(before time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.m)
	for id, e := range d.m {
		if e.seen.Before(before) {
			delete(d.m, id)
		}
	}
	if len(d.m) != n {
		d.reindex()
	}
}

func (d *directory) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

func (d *directory) isAgentAddr(ip netip.Addr) bool {
	_, ok := d.agentAt(ip)
	return ok
}

// agentAt returns the host name of the linked agent with address ip.
func (d *directory) agentAt(ip netip.Addr) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name, ok := d.byAddr[ip]
	return name, ok
}

func (d *directory) hasName(name string) bool {
	_, ok := d.byName(name)
	return ok
}

// byName returns the announcement of the agent of host name (the lowest
// id, if several claim it): a map lookup, as it runs for every unique
// datagram the gateway is offered (Forward).
func (d *directory) byName(name string) (Announcement, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[d.hosts[name]]; ok {
		return e.Announcement, true
	}
	return Announcement{}, false
}

// lowestOn reports whether id is lower than that of every other agent with
// an interface on lan.
func (d *directory) lowestOn(lan netip.Prefix, id string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	low, ok := d.lowest[lan]
	return !ok || id <= low
}

func containsLAN(l []netip.Prefix, p netip.Prefix) bool { return slices.Contains(l, p) }

func ifsAddr(i transport.Interface) netip.AddrPort {
	return netip.AddrPortFrom(i.IP(), transport.DatagramPort)
}

// self is this agent's announcement.
func (l *Link) self(bye bool) Announcement {
	a := Announcement{ID: l.id, Name: l.host.Base(), LANs: []netip.Prefix{}, Addrs: []netip.Addr{}, Bye: bye}
	if !bye {
		a.Users = l.users()
	}
	for _, i := range l.a.Interfaces() {
		a.LANs = append(a.LANs, i.Addr.Masked())
		a.Addrs = append(a.Addrs, i.IP())
	}
	return a
}

func (l *Link) announce(bye bool) { l.announceOn(l.nc, bye) }

// announceOn publishes on c: the connection callbacks may run before New
// has stored l.nc.
func (l *Link) announceOn(c *nats.Conn, bye bool) {
	b, err := json.Marshal(l.self(bye))
	if err != nil {
		return
	}
	// Straight to the client, not through the queue: announcements are few
	// and must not be lost to a burst of writes.
	if err := c.Publish(agentsSubject(l.wg), b); err != nil {
		l.M.PublishFailed.Add(1)
	}
}

func decodeAnnouncement(b []byte) (Announcement, bool) {
	var a Announcement
	if len(b) > maxAnnounce || json.Unmarshal(b, &a) != nil || a.ID == "" || len(a.LANs) > maxAnnounceNet ||
		len(a.Addrs) > maxAnnounceNet || len(a.Users) > maxAnnounceUsers {
		return a, false
	}
	if _, err := netbios.New(a.Name, 0); err != nil {
		return a, false
	}
	for i, u := range a.Users {
		n, err := netbios.New(u, netbios.Messenger)
		if err != nil {
			return a, false
		}
		a.Users[i] = n.Base() // upper-case, as the names are looked up
	}
	for i, p := range a.LANs {
		a.LANs[i] = p.Masked()
	}
	return a, true
}

func (l *Link) onAnnounce(msg *nats.Msg) {
	a, ok := decodeAnnouncement(msg.Data)
	if !ok {
		l.M.Malformed.Add(1)
		return
	}
	if a.ID == l.id || a.Relay {
		return
	}
	isNew, ok := l.dir.put(a, time.Now())
	if !ok {
		l.M.DirectoryFull.Add(1)
		return
	}
	if isNew && l.replyPending.CompareAndSwap(false, true) {
		// A newcomer learns about us at once instead of at our next tick.
		// Replies are coalesced: when many agents start together, each
		// answers once per short window, not once per newcomer (which
		// would be N² announcements, each delivered N times).
		time.AfterFunc(replyDelay/2+rand.N(replyDelay/2), func() {
			l.replyPending.Store(false)
			l.announce(false)
		})
	}
}

// onOurLAN reports whether an agent shares a subnet with us.
func (l *Link) onOurLAN(a Announcement) bool {
	for _, i := range l.a.Interfaces() {
		if slices.Contains(a.LANs, i.Addr.Masked()) {
			return true
		}
	}
	return false
}

// Locate implements agent.Link: host is reached through NATS when its agent
// is in the directory and shares no subnet with us (the LAN wins for hosts
// on our subnets). With ask, a host the directory does not know is asked
// for on mailslot.<WG>.who.<NAME>, waiting up to AskWait.
func (l *Link) Locate(ctx context.Context, host netbios.Name, ask bool) bool {
	// An agent host owns NAME<00> and its Messenger's NAME<03>; a host
	// without an agent is reached through its gateway's relay for <00> only.
	sfx := host.Suffix()
	if sfx != netbios.Workstation && sfx != netbios.Messenger {
		return false
	}
	if a, ok := l.agentOf(host); ok {
		return !l.onOurLAN(a)
	}
	if sfx != netbios.Workstation {
		if !ask || !l.Connected() {
			return false
		}
		// Ask as for NAME<00>, but only an agent host will do.
		return l.Locate(ctx, netbios.MustNew(host.Base(), netbios.Workstation), true) && l.isAgentHost(host.Base())
	}
	if _, ok := l.relays.get(nameBase(&host)); ok {
		return true
	}
	if !ask || !l.Connected() {
		return false
	}
	// The caller's deadline may be spent on the LAN resolution already.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.cfg.AskWait)
	defer cancel()
	msg, err := l.nc.RequestWithContext(ctx, whoSubject(l.wg, host.Base()), nil)
	if err != nil {
		return false
	}
	a, ok := decodeAnnouncement(msg.Data)
	if !ok || a.Name != host.Base() || a.ID == l.id {
		return false
	}
	if a.Relay {
		l.relays.put(a.Name, a.ID)
		return true
	}
	l.dir.put(a, time.Now())
	return !l.onOurLAN(a)
}

// gateway reports whether this agent rebroadcasts and bridges for the
// subnet of interface ifindex: it is linked, has been for Settle (so it
// knows the others), and has the lowest id among the agents on it.
func (l *Link) gateway(ifindex int) bool {
	if !l.settled() {
		return false
	}
	for _, i := range l.a.Interfaces() {
		if i.Index == ifindex {
			return l.dir.lowestOn(i.Addr.Masked(), l.id)
		}
	}
	return false
}

// settled reports whether the link has been up for Settle.
func (l *Link) settled() bool {
	up := l.upSince.Load()
	return up != 0 && time.Since(time.Unix(0, up)) >= l.cfg.Settle
}

// isAgentHost reports whether name is a linked agent's host (not a host
// without an agent that a gateway relays for).
func (l *Link) isAgentHost(name string) bool {
	_, ok := l.dir.byName(name)
	return ok
}

// byUser returns the announcement of the agent that holds the user name
// name<03> (the lowest id, if several claim it).
func (d *directory) byUser(name string) (Announcement, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.m[d.users[name]]; ok {
		return e.Announcement, true
	}
	return Announcement{}, false
}

// agentOf returns the agent that holds n: an agent host's NAME<00> and its
// Messenger's NAME<03>, and the <03> names of its users.
func (l *Link) agentOf(n netbios.Name) (Announcement, bool) {
	switch n.Suffix() {
	case netbios.Workstation:
		return l.dir.byName(n.Base())
	case netbios.Messenger:
		if a, ok := l.dir.byName(n.Base()); ok {
			return a, true
		}
		return l.dir.byUser(n.Base())
	}
	return Announcement{}, false
}

// users returns the extra <03> names the agent holds (its Messenger's
// users), at most maxAnnounceUsers.
func (l *Link) users() []string {
	var out []string
	for _, e := range l.a.Names().Table() {
		if e.Name.Suffix() == netbios.Messenger && !e.Group && e.State == names.Active &&
			e.Name.Base() != l.host.Base() && len(out) < maxAnnounceUsers {
			out = append(out, e.Name.Base())
		}
	}
	return out
}
