package natslink

import (
	"fmt"
	"testing"

	"github.com/mailslot/mailslot/wire/netbios"
)

func testMessage(path, data string) *Message {
	return &Message{Source: netbios.MustNew("A", 0), Dest: netbios.MustNew("B", 0), Path: path, Data: []byte(data)}
}

// Writes pending together leave as one envelope per subject, in order.
func TestOutboxBatchesBySubject(t *testing.T) {
	o := newOutbox("ORIGIN", 100)
	for i, subj := range []string{"s.a", "s.a", "s.b", "s.a", "s.b"} {
		if r := o.add([]byte(subj), testMessage("x", fmt.Sprint(i))); r != added {
			t.Fatalf("add %d: %d", i, r)
		}
	}
	select {
	case <-o.kick:
	default:
		t.Fatal("the publisher was not woken")
	}
	bs := o.take(nil)
	if len(bs) != 2 || bs[0].subject != "s.a" || bs[1].subject != "s.b" || bs[0].n != 3 || bs[1].n != 2 {
		t.Fatalf("batches %+v", bs)
	}
	for i, want := range []string{"013", "24"} {
		got := ""
		recs, err := walkAll(t, bs[i].body)
		for _, r := range recs {
			if r.Origin != "ORIGIN" {
				t.Errorf("origin %q", r.Origin)
			}
			got += r.Data
		}
		if err != nil || got != want {
			t.Errorf("batch %d: %q, %v; want %q", i, got, err, want)
		}
	}
	o.release(bs)
	if len(o.take(nil)) != 0 {
		t.Fatal("taken batches are still in the outbox")
	}
}

func TestOutboxBounds(t *testing.T) {
	o := newOutbox("ORIGIN", 3)
	for range 3 {
		o.add([]byte("s"), testMessage("x", "d"))
	}
	if r := o.add([]byte("s"), testMessage("x", "d")); r != outboxFull {
		t.Fatalf("add beyond the limit: %d", r)
	}
	o.take(nil)
	if r := o.add([]byte("s"), testMessage("x", "d")); r != added {
		t.Fatalf("add after take: %d", r)
	}
	if r := o.add([]byte("s"), testMessage("", "d")); r != unfit {
		t.Fatalf("a write without a path: %d", r)
	}

	// A server with a small max_payload: batches are cut to fit it, and a
	// record that cannot fit is refused.
	o = newOutbox("ORIGIN", 100)
	m := testMessage("x", "0123456789")
	o.setMaxBody(int64(envHeaderLen + len("ORIGIN") + 2*m.recordLen()))
	for range 5 {
		if r := o.add([]byte("s"), m); r != added {
			t.Fatalf("add: %d", r)
		}
	}
	bs := o.take(nil)
	if len(bs) != 3 || bs[0].n != 2 || bs[1].n != 2 || bs[2].n != 1 {
		t.Fatalf("%d batches", len(bs))
	}
	for _, b := range bs {
		if len(b.body) > envHeaderLen+len("ORIGIN")+2*m.recordLen() {
			t.Fatalf("a batch of %d bytes", len(b.body))
		}
	}
	o.setMaxBody(int64(envHeaderLen + len("ORIGIN") + m.recordLen() - 1))
	if r := o.add([]byte("s"), m); r != unfit {
		t.Fatalf("a record larger than max_payload: %d", r)
	}
	if len(o.take(nil)) != 0 {
		t.Fatal("an empty batch was started")
	}
}
