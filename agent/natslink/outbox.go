package natslink

import "sync"

// outbox holds the writes waiting to be published, batched by subject
// into envelopes. The agent's paths only append to it under a mutex that
// is never held across a call into the NATS client, so they never wait on
// a stalled connection; the link's publisher goroutine (Run) takes all the
// open batches at once when it wakes up and publishes each as one NATS
// message. While it publishes, new writes gather in new batches: batching
// is natural, a lone write is never held back to wait for company.
//
// Bounds: at most limit writes wait in the outbox (more are refused and
// counted), and the publisher holds at most one set of batches, so the
// memory is at most twice limit records; a batch holds at most maxRecords
// records in maxBody bytes.
type outbox struct {
	mu      sync.Mutex
	batches []*batch          // in the order they were started
	open    map[string]*batch // subject -> its batch still taking records
	n       int               // writes in batches
	limit   int
	maxBody int
	origin  string
	free    []*batch
	kick    chan struct{} // a token: there is something to publish
}

type batch struct {
	subject string
	body    []byte
	n       int // records
}

// maxFree bounds the batches kept for reuse.
const maxFree = 16

func newOutbox(origin string, limit int) *outbox {
	return &outbox{open: map[string]*batch{}, limit: limit, maxBody: maxEnvelope, origin: origin,
		kick: make(chan struct{}, 1)}
}

// setMaxBody bounds the envelopes by the server's max_payload too.
func (o *outbox) setMaxBody(maxPayload int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.maxBody = maxEnvelope
	if maxPayload > 0 && maxPayload < int64(o.maxBody) {
		o.maxBody = int(maxPayload)
	}
}

// Results of add.
const (
	added = iota
	outboxFull
	unfit // m cannot be a record, or a record does not fit max_payload
)

// add appends m as a record to the open batch of subject, starting a new
// batch when there is none or it is full, and wakes the publisher. It
// never blocks.
func (o *outbox) add(subject []byte, m *Message) int {
	size := m.recordLen()
	if size == 0 {
		return unfit
	}
	o.mu.Lock()
	if o.n >= o.limit {
		o.mu.Unlock()
		return outboxFull
	}
	if envHeaderLen+len(o.origin)+size > o.maxBody {
		o.mu.Unlock()
		return unfit
	}
	b := o.open[string(subject)]
	if b == nil || len(b.body)+size > o.maxBody || b.n == maxRecords {
		b = o.start(subject)
	}
	b.body = m.appendRecord(b.body)
	b.n++
	o.n++
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default: // already awake, or about to be
	}
	return added
}

// start opens a new batch for subject; o.mu is held.
func (o *outbox) start(subject []byte) *batch {
	var b *batch
	if k := len(o.free); k > 0 {
		b, o.free = o.free[k-1], o.free[:k-1]
		b.body, b.n = b.body[:0], 0
	} else {
		b = &batch{}
	}
	if b.subject != string(subject) { // a reused batch usually had the same subject: no allocation
		b.subject = string(subject)
	}
	b.body = appendEnvelopeHeader(b.body, o.origin)
	o.batches = append(o.batches, b)
	o.open[b.subject] = b
	return b
}

// take moves every batch to dst (reused) and returns it.
func (o *outbox) take(dst []*batch) []*batch {
	o.mu.Lock()
	defer o.mu.Unlock()
	dst = append(dst[:0], o.batches...)
	clear(o.batches)
	o.batches = o.batches[:0]
	clear(o.open)
	o.n = 0
	return dst
}

// release returns published batches for reuse.
func (o *outbox) release(bs []*batch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, b := range bs {
		if len(o.free) < maxFree && cap(b.body) <= maxEnvelope+maxRecordLen {
			o.free = append(o.free, b)
		}
		bs[i] = nil
	}
}
