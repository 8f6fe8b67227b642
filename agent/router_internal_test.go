package agent

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailslot/mailslot/agent/transport/memnet"
)

// memnetAgent makes (does not run) agent name, without a local socket, on
// a memnet host with one interface at prefix; cfg gives the other fields.
func memnetAgent(tb testing.TB, name, prefix string, cfg Config) *Agent {
	tb.Helper()
	h := memnet.New(1).Host(name)
	h.AddInterface("lan", netip.MustParsePrefix(prefix))
	cfg.Name, cfg.Transport, cfg.NoLocalSocket, cfg.DisableDNS = name, h, true, true
	a, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// fakeSlot is a slotWriter whose socket has room for room more records
// (a slot that stops reading has room 0); written is what the slot got.
type fakeSlot struct {
	room    int
	staged  []string
	written []string
	flushes int // flush calls that wrote something
}

func (f *fakeSlot) now(d *Delivery) bool {
	if f.room == 0 {
		return false
	}
	f.room--
	f.written = append(f.written, string(d.Data))
	return true
}

func (f *fakeSlot) stage(d *Delivery) bool {
	if len(f.staged) == maxStaged {
		return false
	}
	f.staged = append(f.staged, string(d.Data))
	return true
}

func (f *fakeSlot) flush() (int, int) {
	n := min(f.room, len(f.staged))
	f.room -= n
	f.written = append(f.written, f.staged[:n]...)
	f.staged = f.staged[n:]
	if n > 0 {
		f.flushes++
	}
	return n, len(f.staged)
}

// drain is what the queue's writer does with what is left staged.
func (f *fakeSlot) drain() {
	f.written = append(f.written, f.staged...)
	f.staged = nil
}

// queueWriter runs one round of the queue's writer on sub: the staged
// deliveries left, then every queued one.
func queueWriter(sub *Subscription, f *fakeSlot) {
	sub.sending(func(staged int) int {
		if staged != len(f.staged) {
			panic("staged count")
		}
		f.drain()
		n := 0
		for {
			select {
			case d := <-sub.C:
				f.written = append(f.written, string(d.Data))
				n++
			default:
				return n
			}
		}
	})
}

func subscribeFake(t *testing.T, a *Agent, path string, f *fakeSlot) *Subscription {
	t.Helper()
	sub, err := a.Router().Subscribe(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	sub.setWriter(f)
	return sub
}

func route(a *Agent, path, data string, batched bool) {
	a.router.dispatch(&Inbound{Path: path, Src: netip.MustParseAddrPort("192.0.2.12:138"), Data: []byte(data)}, batched)
}

// TestDirectNeverOvertakesTheQueue: once a delivery waits in a slot's
// queue, later ones queue behind it even when the slot's socket has room
// again, until the queue's writer has sent it.
func TestDirectNeverOvertakesTheQueue(t *testing.T) {
	a := memnetAgent(t, "ALPHA", "192.0.2.11/24", Config{})
	f := &fakeSlot{}
	sub := subscribeFake(t, a, "x", f)
	route(a, "x", "1", false) // socket full: queued
	f.room = 100
	route(a, "x", "2", false) // must queue behind 1
	route(a, "x", "3", true)  // staged neither
	if len(f.written)+len(f.staged) != 0 {
		t.Fatalf("%q / %q went direct while 1 was queued", f.written, f.staged)
	}
	queueWriter(sub, f)
	route(a, "x", "4", false) // nothing queued: direct
	if want := "1 2 3 4"; strings.Join(f.written, " ") != want {
		t.Fatalf("slot got %q, want %s", f.written, want)
	}
	if got := a.M.DeliveredDirect.Load(); got != 1 {
		t.Fatalf("delivered_direct %d", got)
	}
}

// TestStagedBatchOneWrite: the deliveries of one receive batch reach the
// slot with one write, at the flush, in order.
func TestStagedBatchOneWrite(t *testing.T) {
	a := memnetAgent(t, "ALPHA", "192.0.2.11/24", Config{})
	f := &fakeSlot{room: 100}
	subscribeFake(t, a, "x", f)
	for i := range 10 {
		route(a, "x", strconv.Itoa(i), true)
	}
	if len(f.written) != 0 {
		t.Fatalf("written before the flush: %q", f.written)
	}
	a.router.flush()
	if want := "0 1 2 3 4 5 6 7 8 9"; strings.Join(f.written, " ") != want || f.flushes != 1 {
		t.Fatalf("slot got %q in %d writes, want %s in 1", f.written, f.flushes, want)
	}
	if got := a.M.DeliveredDirect.Load(); got != 10 {
		t.Fatalf("delivered_direct %d, want 10", got)
	}
	// A batch larger than the stage is written as it fills, still in order.
	f.written = nil
	for i := range 2*maxStaged + 1 {
		route(a, "x", strconv.Itoa(i), true)
	}
	a.router.flush()
	if len(f.written) != 2*maxStaged+1 || f.written[2*maxStaged] != strconv.Itoa(2*maxStaged) {
		t.Fatalf("slot got %d (%q...)", len(f.written), f.written[:min(3, len(f.written))])
	}
}

// TestStagedStalledSlot: a slot that stops reading while deliveries are
// staged for it does not hold up the receive path or another slot; what
// the flush could not write waits for the queue's writer (and goes before
// the queue), the queue stays bounded, and every message is counted once:
// delivered or dropped as queue_full.
func TestStagedStalledSlot(t *testing.T) {
	a := memnetAgent(t, "ALPHA", "192.0.2.11/24", Config{})
	stalled := &fakeSlot{room: 5}
	sub := subscribeFake(t, a, "stalled", stalled)
	other := &fakeSlot{room: 1 << 30}
	subscribeFake(t, a, "other", other)
	const batches, per = 100, 20
	done := make(chan struct{})
	go func() { // the receive path; it must never wait for the slot
		defer close(done)
		for b := range batches {
			for i := range per {
				route(a, "stalled", strconv.Itoa(b*per+i), true)
				route(a, "other", strconv.Itoa(b*per+i), true)
			}
			a.router.flush()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the receive path blocked on a stalled slot")
	}
	if len(other.written) != batches*per {
		t.Fatalf("the other slot got %d of %d", len(other.written), batches*per)
	}
	select {
	case <-sub.staged():
	default:
		t.Fatal("the queue's writer was not woken for what the flush left")
	}
	if len(sub.C) != DefaultDeliveryQueue {
		t.Fatalf("queue holds %d, want it full at %d", len(sub.C), DefaultDeliveryQueue)
	}
	// The slot reads again: the queue's writer sends what was staged first,
	// then the queue, in order.
	queueWriter(sub, stalled)
	got := stalled.written
	for i := 1; i < len(got); i++ {
		x, _ := strconv.Atoi(got[i-1])
		y, _ := strconv.Atoi(got[i])
		if y <= x {
			t.Fatalf("out of order at %d: %s after %s", i, got[i], got[i-1])
		}
	}
	if p := sub.s.pending.Load(); p != 0 {
		t.Fatalf("pending %d after the writer ran", p)
	}
	delivered, full := len(got), int(a.M.QueueFull.Load())
	if delivered+full != batches*per || full == 0 {
		t.Fatalf("stalled slot: %d delivered + %d queue_full != %d sent", delivered, full, batches*per)
	}
	if got, want := a.M.Delivered.Load(), uint64(2*batches*per-full); got != want {
		t.Fatalf("delivered metric %d, want %d", got, want)
	}
}
