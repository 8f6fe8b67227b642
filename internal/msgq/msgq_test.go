package msgq

import (
	"bytes"
	"testing"
	"unsafe"
)

func TestFIFOAndQuota(t *testing.T) {
	q := New(3 * Cost(0))
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
	if q.Len() != 3 || q.Bytes() != 3*(64+Overhead) {
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
	q := New(1 << 30)
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

// goSizeClass rounds n up to the Go allocator's size class (small objects).
func goSizeClass(n int) int {
	for _, c := range []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320} {
		if n <= c {
			return c
		}
	}
	return n
}

func TestOverheadCoversMsg(t *testing.T) {
	held := goSizeClass(int(unsafe.Sizeof(Msg{}))) + 2*int(unsafe.Sizeof(uintptr(0)))
	if held > Overhead {
		t.Fatalf("a queued message holds %d bytes of bookkeeping, Overhead is %d", held, Overhead)
	}
	if Overhead-held > 32 {
		t.Fatalf("Overhead %d overstates the %d bytes held", Overhead, held)
	}
}

func TestCost(t *testing.T) {
	for _, c := range []struct{ n, buf int }{{0, 64}, {64, 64}, {65, 128}, {1000, 1024}, {65536, 65536}} {
		if got := Cost(c.n); got != c.buf+Overhead {
			t.Errorf("Cost(%d) = %d, want %d", c.n, got, c.buf+Overhead)
		}
	}
}
