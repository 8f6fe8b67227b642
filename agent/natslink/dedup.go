package natslink

import (
	"sync"
	"time"
)

// dedup remembers the keys of recent writes for a window, so that a write
// that reaches an agent twice (through NATS and as a LAN rebroadcast, or
// published by two gateways for a moment) is delivered once. The table is a
// fixed ring: memory does not depend on traffic.
type dedup struct {
	mu     sync.Mutex
	window time.Duration
	ring   []dedupEntry
	next   int
	index  map[uint64]int
}

type dedupEntry struct {
	key uint64
	at  time.Time
}

func newDedup(size int, window time.Duration) *dedup {
	return &dedup{window: window, ring: make([]dedupEntry, size), index: make(map[uint64]int, size)}
}

// check records key and reports whether it was seen within the window.
func (d *dedup) check(key uint64) bool {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if k, ok := d.index[key]; ok {
		if now.Sub(d.ring[k].at) < d.window {
			return true
		}
		d.ring[k].at = now
		return false
	}
	old := d.ring[d.next]
	if k, ok := d.index[old.key]; ok && k == d.next {
		delete(d.index, old.key)
	}
	d.ring[d.next] = dedupEntry{key: key, at: now}
	d.index[key] = d.next
	d.next = (d.next + 1) % len(d.ring)
	return false
}
