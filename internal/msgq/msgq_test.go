package msgq

import (
	"bytes"
	"testing"
)

func TestFIFOAndQuota(t *testing.T) {
	q := New(3*64+3, 64)
	for i := 0; i < 3; i++ {
		m := Get(i)
		for j := range m.Data {
			m.Data[j] = byte(i)
		}
		if q.Full() {
			t.Fatalf("full after %d messages", i)
		}
		q.Push(m)
	}
	if q.Len() != 3 || q.Bytes() != 3*64+0+1+2 {
		t.Fatalf("len %d bytes %d", q.Len(), q.Bytes())
	}
	if !q.Full() {
		t.Fatal("not full at quota")
	}
	for i := 0; i < 3; i++ {
		m := q.Pop()
		if len(m.Data) != i || !bytes.Equal(m.Data, bytes.Repeat([]byte{byte(i)}, i)) {
			t.Fatalf("message %d: %v", i, m.Data)
		}
		Put(m)
	}
	if q.Pop() != nil || q.Peek() != nil || q.Bytes() != 0 {
		t.Fatal("not empty")
	}
}

func TestGrowWraps(t *testing.T) {
	q := New(1<<30, 0)
	next, want := 0, 0
	for round := 0; round < 50; round++ {
		for i := 0; i < round%7+1; i++ {
			m := Get(1)
			m.Data[0] = byte(next)
			next++
			q.Push(m)
		}
		for i := 0; i < round%5; i++ {
			if m := q.Pop(); m != nil {
				if m.Data[0] != byte(want) {
					t.Fatalf("got %d want %d", m.Data[0], byte(want))
				}
				want++
			}
		}
	}
	for m := q.Pop(); m != nil; m = q.Pop() {
		if m.Data[0] != byte(want) {
			t.Fatalf("got %d want %d", m.Data[0], byte(want))
		}
		want++
	}
	if want != next {
		t.Fatalf("lost messages: %d of %d", want, next)
	}
}

func TestClasses(t *testing.T) {
	for _, n := range []int{0, 1, 64, 65, 4096, 4097, 65536, 128 << 10} {
		m := Get(n)
		if len(m.Data) != n || cap(m.buf) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(m.Data), cap(m.buf))
		}
		Put(m)
	}
}

func BenchmarkGetPut(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Put(Get(100))
	}
}
