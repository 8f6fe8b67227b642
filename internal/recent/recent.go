// Package recent remembers what was seen lately, in a fixed amount of
// memory: the agent and the NATS link use it to deliver a datagram or a
// write once when it reaches them more than once within a short window.
package recent

import (
	"sync"
	"time"
)

// Table holds the last Size keys, each with when it was recorded and a tag
// (an interface index, say). Memory does not depend on traffic: a new key
// takes the oldest slot of a ring. It is safe for concurrent use.
type Table struct {
	mu     sync.Mutex
	window time.Duration
	ring   []entry
	next   int
	index  map[uint64]int
}

type entry struct {
	key uint64
	tag int
	at  time.Time
}

// New returns a table of size keys that counts a key as seen for window.
func New(size int, window time.Duration) *Table {
	return &Table{window: window, ring: make([]entry, size), index: make(map[uint64]int, size)}
}

// Seen reports whether key was recorded within the window, and with a tag
// other than tag when otherTag is set (a copy with the same tag is then
// not a repeat). When it reports false it records key with tag, now.
func (t *Table) Seen(key uint64, tag int, otherTag bool) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if k, ok := t.index[key]; ok {
		e := t.ring[k]
		if now.Sub(e.at) < t.window && (!otherTag || e.tag != tag) {
			return true
		}
		t.ring[k] = entry{key: key, tag: tag, at: now}
		return false
	}
	old := t.ring[t.next]
	if k, ok := t.index[old.key]; ok && k == t.next {
		delete(t.index, old.key)
	}
	t.ring[t.next] = entry{key: key, tag: tag, at: now}
	t.index[key] = t.next
	t.next = (t.next + 1) % len(t.ring)
	return false
}
