// Package allocbound measures what one call allocates, for the tests and
// fuzz targets that hold decoders to a memory bound per input byte (a
// packet must not cost a receiver more than a small multiple of its size).
package allocbound

import (
	"runtime"
	"testing"
)

// Measure returns the number of heap allocations and the bytes that one
// call of f allocates. f runs once to warm up (pools, lazily built tables),
// then three times measured; the least of each figure counts, so that an
// allocation by another goroutine or a refill after a GC is not charged to
// f, while a cost f really has shows every time.
func Measure(f func()) (allocs, bytes uint64) {
	f()
	allocs, bytes = ^uint64(0), ^uint64(0)
	for i := 0; i < 3; i++ {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		allocs = min(allocs, after.Mallocs-before.Mallocs)
		bytes = min(bytes, after.TotalAlloc-before.TotalAlloc)
	}
	return allocs, bytes
}

// Within fails t when one run of f allocates more than maxAllocs times or
// more than maxBytes bytes; what names the call in the message.
func Within(t testing.TB, what string, maxAllocs, maxBytes uint64, f func()) {
	t.Helper()
	allocs, bytes := Measure(f)
	if allocs > maxAllocs || bytes > maxBytes {
		t.Fatalf("%s: %d allocations (bound %d), %d bytes (bound %d)", what, allocs, maxAllocs, bytes, maxBytes)
	}
}
