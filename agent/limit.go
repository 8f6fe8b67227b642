package agent

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// limiterBuckets is the size of every rate-limit table. Keys hash into a
// fixed array of token buckets, so memory is constant whatever the number
// of sources; two keys that collide share a bucket, which only makes the
// limit stricter for them.
const limiterBuckets = 4096

// limiter is a table of token buckets (rate tokens per second, up to burst).
type limiter struct {
	rate, burst float64
	seed        maphash.Seed
	mu          sync.Mutex
	b           []bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	if rate < 0 {
		return nil // unlimited
	}
	if burst < 1 {
		burst = 1
	}
	return &limiter{rate: rate, burst: burst, seed: maphash.MakeSeed(), b: make([]bucket, limiterBuckets)}
}

func (l *limiter) slot(key []byte) *bucket {
	return &l.b[maphash.Bytes(l.seed, key)%limiterBuckets]
}

// take takes a token for key and returns how long the caller must wait
// before using it (0 = now). With wait false it takes nothing when none is
// available and returns a positive duration.
func (l *limiter) take(key []byte, wait bool) time.Duration {
	if l == nil {
		return 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.slot(key)
	if b.last.IsZero() {
		b.tokens = l.burst
	} else {
		b.tokens += now.Sub(b.last).Seconds() * l.rate
		if b.tokens > l.burst {
			b.tokens = l.burst
		}
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	need := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	if wait {
		b.tokens-- // reserved: the caller sleeps it off
	}
	return need + 1
}

// allow reports whether a packet from ip may be processed now.
func (l *limiter) allow(ip netip.Addr) bool {
	if l == nil {
		return true
	}
	a := ip.As16()
	return l.take(a[:], false) == 0
}
