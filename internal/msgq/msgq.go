// Package msgq is the bounded FIFO of messages behind a local mailslot.
//
// Messages are charged Cost(len(Data)) bytes against a quota: the memory
// really held for them (the size-class buffer and the bookkeeping), so the
// quota bounds memory and empty messages cost memory too. Message buffers
// come from size-class pools, so a steady stream of messages allocates
// nothing once the pools are warm.
package msgq

import (
	"math/bits"
	"net/netip"
	"sync"
	"time"
)

// Msg is one queued message.
type Msg struct {
	Data          []byte
	Time          time.Time
	PID, UID, GID int
	Host          string         // remote sender's NetBIOS name
	Addr          netip.AddrPort // remote sender's address
	Remote        bool
	buf           []byte // backing storage, len == class size
	class         int8
}

// Overhead is the bookkeeping charged per message on top of its buffer:
// the Msg struct as the Go allocator rounds it (160 bytes on 64-bit) plus
// two ring slots (the ring doubles when it grows). TestOverheadCoversMsg
// checks it against the real struct.
const Overhead = 176

// Cost is what a message of n bytes is charged: its buffer's size class
// plus Overhead.
func Cost(n int) int { return ClassSize(n) + Overhead }

// ClassSize is the size of the buffer that holds n bytes.
func ClassSize(n int) int { return 1 << (classOf(n) + minShift) }

const (
	minShift = 6  // smallest class: 64 bytes
	maxShift = 17 // largest class: 128 KiB
)

var pools [maxShift - minShift + 1]sync.Pool

// Get returns a message whose Data has length n (n ≤ 128 KiB). Its content
// is unspecified.
func Get(n int) *Msg {
	c := classOf(n)
	if m, _ := pools[c].Get().(*Msg); m != nil {
		m.Data = m.buf[:n]
		return m
	}
	m := &Msg{buf: make([]byte, 1<<(c+minShift)), class: int8(c)}
	m.Data = m.buf[:n]
	return m
}

// Copy returns a message holding a copy of b.
func Copy(b []byte) *Msg {
	m := Get(len(b))
	copy(m.Data, b)
	return m
}

// Put recycles m. m must not be used afterwards.
func Put(m *Msg) {
	m.Data = nil
	m.Host, m.Addr, m.Remote = "", netip.AddrPort{}, false
	pools[m.class].Put(m)
}

func classOf(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minShift
	if c >= len(pools) {
		panic("msgq: message too large")
	}
	return c
}

// Queue is a FIFO bounded by a byte quota. It is not safe for concurrent use.
type Queue struct {
	ring    []*Msg
	head, n int
	bytes   int
	quota   int
}

// New returns an empty queue bounded by quota bytes of Cost.
func New(quota int) *Queue {
	return &Queue{quota: quota}
}

// Len is the number of queued messages.
func (q *Queue) Len() int { return q.n }

// Bytes is the charged size of the queue.
func (q *Queue) Bytes() int { return q.bytes }

// Full reports whether the queue is at or above its quota. A queue accepts
// messages while it is not Full, so it exceeds the quota by less than one
// message.
func (q *Queue) Full() bool { return q.bytes >= q.quota }

// Fits reports whether a message of n bytes fits under the quota.
func (q *Queue) Fits(n int) bool { return q.bytes+Cost(n) <= q.quota }

// Push appends m.
func (q *Queue) Push(m *Msg) {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = m
	q.n++
	q.bytes += Cost(len(m.Data))
}

// Peek returns the head message or nil.
func (q *Queue) Peek() *Msg {
	if q.n == 0 {
		return nil
	}
	return q.ring[q.head]
}

// Pop removes and returns the head message, or nil.
func (q *Queue) Pop() *Msg {
	if q.n == 0 {
		return nil
	}
	m := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.bytes -= Cost(len(m.Data))
	return m
}

// Clear removes every message, recycling them.
func (q *Queue) Clear() {
	for m := q.Pop(); m != nil; m = q.Pop() {
		Put(m)
	}
	q.ring = nil
	q.head = 0
}

func (q *Queue) grow() {
	size := 2 * len(q.ring)
	if size == 0 {
		size = 8
	}
	ring := make([]*Msg, size)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring = ring
	q.head = 0
}

// Shrink returns a message holding m.Data[:n], moved to a smaller buffer
// when one fits. m must not be used afterwards.
func (m *Msg) Shrink(n int) *Msg {
	if classOf(n) < int(m.class) {
		s := Get(n)
		copy(s.Data, m.Data[:n])
		Put(m)
		return s
	}
	m.Data = m.buf[:n]
	return m
}
