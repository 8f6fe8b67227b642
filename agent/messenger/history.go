//go:build linux

package messenger

import (
	"sync"
	"time"
)

// DefaultHistory is how many popups the agent keeps (all users together).
const DefaultHistory = 256

// Record is one popup as the agent received it.
type Record struct {
	ID    uint64    `json:"id"`
	Time  time.Time `json:"time"`
	From  string    `json:"from"`
	To    string    `json:"to"`
	Text  string    `json:"text"`
	Host  string    `json:"host"` // the source NetBIOS name
	Addr  string    `json:"addr"` // the source IP:port
	Group bool      `json:"group"`
	// User is the local user it was addressed to (USER<03>); empty for
	// popups to the host or broadcast to the workgroup, which every local
	// user may see.
	User string `json:"user,omitempty"`
}

// visibleTo reports whether the local user (upper-case name; "" = root,
// who sees everything) may see r.
func (r *Record) visibleTo(user string, root bool) bool {
	return root || r.User == "" || r.User == user
}

// history is a fixed-size ring of records.
type history struct {
	mu   sync.Mutex
	ring []Record
	next int
	full bool
	id   uint64
}

func newHistory(n int) *history {
	if n <= 0 {
		n = DefaultHistory
	}
	return &history{ring: make([]Record, n)}
}

// add stores r (assigning its ID) and returns it.
func (h *history) add(r Record) Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.id++
	r.ID = h.id
	h.ring[h.next] = r
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
	return r
}

// list returns the records user may see, oldest first.
func (h *history) list(user string, root bool) []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Record
	start, n := 0, h.next
	if h.full {
		start, n = h.next, len(h.ring)
	}
	for i := 0; i < n; i++ {
		r := h.ring[(start+i)%len(h.ring)]
		if r.visibleTo(user, root) {
			out = append(out, r)
		}
	}
	return out
}
