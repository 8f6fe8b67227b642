package recent

import (
	"testing"
	"time"
)

func TestSeenWithinTheWindow(t *testing.T) {
	tb := New(4, time.Hour)
	if tb.Seen(1, 0, false) {
		t.Fatal("a new key was seen")
	}
	if !tb.Seen(1, 0, false) {
		t.Fatal("a repeated key was not seen")
	}
}

func TestOtherTagOnly(t *testing.T) {
	tb := New(4, time.Hour)
	tb.Seen(1, 7, true)
	if tb.Seen(1, 7, true) {
		t.Fatal("a copy with the same tag counted as a repeat")
	}
	if !tb.Seen(1, 8, true) {
		t.Fatal("a copy with another tag was not a repeat")
	}
}

func TestWindowAndRingBound(t *testing.T) {
	tb := New(2, 0) // nothing stays seen
	tb.Seen(1, 0, false)
	if tb.Seen(1, 0, false) {
		t.Fatal("seen after the window")
	}
	tb = New(2, time.Hour)
	for k := uint64(1); k <= 3; k++ {
		tb.Seen(k, 0, false)
	}
	if len(tb.index) != 2 {
		t.Fatalf("%d keys held, want 2", len(tb.index))
	}
	if tb.Seen(1, 0, false) {
		t.Fatal("the oldest key survived its slot's reuse")
	}
}
