//go:build linux

package browse

import (
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailslot/mailslot/wire/browser"
)

// Bounds of the browse list.
const (
	DefaultMaxEntries = 1024 // hosts and workgroups together
	// MaxPerSource bounds what one source IP can put in the list: a host
	// announces itself, a master browser adds its workgroup; a flood from
	// one address fills at most this many entries.
	MaxPerSource = 64
	// MaxPeriod caps the announced periodicity used for expiry (MS-BRWS
	// hosts announce at most every 12 minutes), so nobody can pin an
	// entry for longer than 3 × 12 minutes.
	MaxPeriod  = 12 * time.Minute
	watchQueue = 256
)

// Entry kinds.
const (
	KindHost   = "host"
	KindDomain = "domain" // a workgroup, from a DomainAnnouncement
)

// Entry is one host or workgroup in the browse list.
type Entry struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"` // server name, or the workgroup for a domain
	Workgroup string `json:"workgroup"`
	Addr      string `json:"addr"` // the source IP of the last announcement
	// Comment is a host's comment; for a domain, its local master browser.
	Comment     string    `json:"comment"`
	Type        uint32    `json:"type"`
	TypeNames   []string  `json:"type_names"`
	OSMajor     uint8     `json:"os_major"`
	OSMinor     uint8     `json:"os_minor"`
	Periodicity uint32    `json:"periodicity_ms"`
	LastSeen    time.Time `json:"last_seen"`
	// Master: the local master browser of its workgroup.
	Master bool `json:"master"`
}

// same reports whether e and o differ only in LastSeen.
func (e *Entry) same(o *Entry) bool {
	return e.Kind == o.Kind && e.Name == o.Name && e.Workgroup == o.Workgroup && e.Addr == o.Addr &&
		e.Comment == o.Comment && e.Type == o.Type && e.OSMajor == o.OSMajor && e.OSMinor == o.OSMinor &&
		e.Periodicity == o.Periodicity && e.Master == o.Master
}

// Event types.
const (
	Appear    = "appear"
	Change    = "change"
	Disappear = "disappear"
)

// Event is a change of the list.
type Event struct {
	Type  string `json:"type"`
	Entry Entry  `json:"entry"`
}

type item struct {
	e       Entry
	src     netip.Addr
	expires time.Time
}

// ListCounters count what the list refused.
type ListCounters struct {
	Full, SourceFull, WatchDrops atomic.Uint64
}

// list is the bounded browse list.
type list struct {
	max      int
	mu       sync.Mutex
	items    map[string]*item
	perSrc   map[netip.Addr]int
	masters  map[string]string // workgroup -> master browser name
	watchers map[chan Event]struct{}
	C        ListCounters
}

func newList(max int) *list {
	if max <= 0 {
		max = DefaultMaxEntries
	}
	return &list{max: max, items: map[string]*item{}, perSrc: map[netip.Addr]int{}, masters: map[string]string{},
		watchers: map[chan Event]struct{}{}}
}

func key(kind, wg, name string) string { return kind + "/" + wg + "/" + name }

// expiry is when an entry announced with periodicity p (ms) is dropped:
// three missed periods. Samba treats a periodicity under one second as
// "never expires"; here it is the longest period instead.
func expiry(now time.Time, p uint32) time.Time {
	d := time.Duration(p) * time.Millisecond
	if d < time.Second || d > MaxPeriod {
		d = MaxPeriod
	}
	return now.Add(3 * d)
}

// publishLocked sends ev to every watcher without blocking.
func (l *list) publishLocked(ev Event) {
	for w := range l.watchers {
		select {
		case w <- ev:
		default:
			l.C.WatchDrops.Add(1)
		}
	}
}

// update records an announcement; a type of 0 removes the entry ("going
// down", MS-BRWS §3.2.7).
func (l *list) update(e Entry, src netip.Addr, now time.Time) {
	k := key(e.Kind, e.Workgroup, e.Name)
	l.mu.Lock()
	defer l.mu.Unlock()
	it, ok := l.items[k]
	if e.Type == 0 {
		if e.Kind == KindHost && l.masters[e.Workgroup] == e.Name {
			delete(l.masters, e.Workgroup)
		}
		if ok {
			l.removeLocked(k, it)
		}
		return
	}
	e.TypeNames = browser.ServerType(e.Type).Names()
	e.LastSeen = now
	if e.Master {
		l.masters[e.Workgroup] = e.Name
	} else if l.masters[e.Workgroup] == e.Name && e.Kind == KindHost {
		e.Master = true // learned from the backup list or a master announcement
	}
	if !ok {
		switch {
		case len(l.items) >= l.max:
			l.C.Full.Add(1)
			return
		case l.perSrc[src] >= MaxPerSource:
			l.C.SourceFull.Add(1)
			return
		}
		it = &item{src: src}
		l.items[k] = it
		l.perSrc[src]++
	} else if it.src != src {
		l.dropSrcLocked(it.src)
		it.src = src
		l.perSrc[src]++
	}
	it.expires = expiry(now, e.Periodicity)
	old := it.e
	it.e = e
	switch {
	case !ok:
		l.publishLocked(Event{Type: Appear, Entry: e})
	case !old.same(&e):
		l.publishLocked(Event{Type: Change, Entry: e})
	}
}

func (l *list) dropSrcLocked(src netip.Addr) {
	if l.perSrc[src]--; l.perSrc[src] <= 0 {
		delete(l.perSrc, src)
	}
}

func (l *list) removeLocked(k string, it *item) {
	delete(l.items, k)
	l.dropSrcLocked(it.src)
	l.publishLocked(Event{Type: Disappear, Entry: it.e})
}

// setMaster records name as the master browser of wg.
func (l *list) setMaster(wg, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.masters[wg] == name {
		return
	}
	if len(l.masters) >= l.max && l.masters[wg] == "" {
		return
	}
	l.masters[wg] = name
	if it, ok := l.items[key(KindHost, wg, name)]; ok && !it.e.Master {
		it.e.Master = true
		l.publishLocked(Event{Type: Change, Entry: it.e})
	}
}

// expire drops the entries three periods old.
func (l *list) expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, it := range l.items {
		if now.After(it.expires) {
			l.removeLocked(k, it)
		}
	}
}

// snapshot returns the entries, sorted by kind, workgroup and name.
func (l *list) snapshot() ([]Entry, map[string]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Entry, 0, len(l.items))
	for _, it := range l.items {
		out = append(out, it.e)
	}
	m := make(map[string]string, len(l.masters))
	for k, v := range l.masters {
		m[k] = v
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return strings.Join([]string{a.Kind, a.Workgroup, a.Name}, "/") < strings.Join([]string{b.Kind, b.Workgroup, b.Name}, "/")
	})
	return out, m
}

// len is the number of entries.
func (l *list) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// watch subscribes to the list's events; the first events are an Appear
// for every current entry.
func (l *list) watch() (chan Event, func()) {
	ch := make(chan Event, watchQueue+l.max)
	l.mu.Lock()
	for _, it := range l.items {
		ch <- Event{Type: Appear, Entry: it.e}
	}
	l.watchers[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.watchers, ch)
		l.mu.Unlock()
	}
}
