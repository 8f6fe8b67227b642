package natslink

import (
	"hash/maphash"
	"sync"
	"time"
)

// Defaults of the inbound limit (see Config.RateIn).
const (
	DefaultRateIn  = 20000 // writes per second per sender, as the LAN's per-source limit
	DefaultBurstIn = 20000
	limitBuckets   = 1024
)

// limiter is a fixed table of token buckets keyed by sender: memory does
// not depend on how many senders there are; two that collide share a
// bucket, which only makes the limit stricter for them.
type limiter struct {
	rate, burst float64
	seed        maphash.Seed
	mu          sync.Mutex
	b           [limitBuckets]struct {
		tokens float64
		last   time.Time
	}
}

func newLimiter(rate, burst float64) *limiter {
	if rate < 0 {
		return nil // unlimited
	}
	return &limiter{rate: rate, burst: max(burst, 1), seed: maphash.MakeSeed()}
}

// allow takes a token for key, if there is one.
func (l *limiter) allow(key string) bool { return l.take(key, 1) == 1 }

// take takes up to n tokens for key and returns how many it got: the
// writes of one envelope pay at once.
func (l *limiter) take(key string, n int) int {
	if l == nil {
		return n
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.b[maphash.String(l.seed, key)%limitBuckets]
	if b.last.IsZero() {
		b.tokens = l.burst
	} else {
		b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	}
	b.last = now
	k := min(n, int(b.tokens))
	b.tokens -= float64(k)
	return k
}
