package agent

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// dropLog turns per-packet drops into at most one log line per reason and
// interval, with the count and the last source: a flood costs a few lines,
// never one per packet.
type dropLog struct {
	log   *slog.Logger
	every time.Duration
	mu    sync.Mutex
	m     map[string]*dropCount
}

type dropCount struct {
	n      uint64
	last   netip.Addr
	logged time.Time
}

func newDropLog(log *slog.Logger, every time.Duration) *dropLog {
	return &dropLog{log: log, every: every, m: map[string]*dropCount{}}
}

// note records one drop; reason must be a constant string (the table is
// bounded by the number of reasons in the code).
func (d *dropLog) note(reason string, src netip.Addr) {
	now := time.Now()
	d.mu.Lock()
	c := d.m[reason]
	if c == nil {
		c = &dropCount{}
		d.m[reason] = c
	}
	c.n++
	c.last = src
	first := c.logged.IsZero()
	due := first || now.Sub(c.logged) >= d.every
	var n uint64
	if due {
		n, c.n, c.logged = c.n, 0, now
	}
	d.mu.Unlock()
	if due {
		d.log.Warn("dropping packets", "reason", reason, "count", n, "last_source", src.String())
	}
}

// flush logs the counts accumulated since the last line, if the interval
// has passed.
func (d *dropLog) flush() {
	now := time.Now()
	d.mu.Lock()
	type line struct {
		reason string
		n      uint64
		src    netip.Addr
	}
	var out []line
	for r, c := range d.m {
		if c.n > 0 && now.Sub(c.logged) >= d.every {
			out = append(out, line{r, c.n, c.last})
			c.n, c.logged = 0, now
		}
	}
	d.mu.Unlock()
	for _, l := range out {
		d.log.Warn("dropping packets", "reason", l.reason, "count", l.n, "last_source", l.src.String())
	}
}
