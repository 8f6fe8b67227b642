//go:build linux

package quota

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestReserveReleaseWake(t *testing.T) {
	slot, fd, err := Create()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	defer slot.Unmap()
	w, err := Map(fd) // a second mapping, as a writer process has
	if err != nil {
		t.Fatal(err)
	}
	defer w.Unmap()
	if !w.TryReserve(60, 100) || w.TryReserve(60, 100) || slot.Charged() != 60 {
		t.Fatalf("charged %d", slot.Charged())
	}
	var wg sync.WaitGroup
	got := make(chan bool, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got <- w.Reserve(10, 100, time.Now().Add(30*time.Second), func() bool { return false })
		}()
	}
	wg.Wait() // 4 × 10 fit beside 60
	for i := 0; i < 4; i++ {
		if !<-got {
			t.Fatal("reserve failed with room")
		}
	}
	done := make(chan bool, 1)
	go func() { done <- w.Reserve(50, 100, time.Now().Add(30*time.Second), func() bool { return false }) }()
	deadline := time.Now().Add(30 * time.Second)
	for slot.waiters.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // wait until the writer sleeps on the futex
	}
	slot.Release(60, 100) // the slot, through its own mapping, wakes it
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("woken writer did not reserve")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writer not woken")
	}
	start := time.Now()
	if w.Reserve(50, 100, time.Now().Add(50*time.Millisecond), func() bool { return false }) {
		t.Fatal("reserved beyond the quota")
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("gave up before its deadline")
	}
}

func TestMapRefusesUnsealed(t *testing.T) {
	fd, err := unix.MemfdCreate("x", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	unix.Ftruncate(fd, Size)
	if _, err := Map(fd); err == nil {
		t.Fatal("mapped a page the slot could still shrink")
	}
	unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, wantSeals)
	if _, err := Map(fd); err != nil {
		t.Fatal(err)
	}
	big, _ := unix.MemfdCreate("y", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	defer unix.Close(big)
	unix.Ftruncate(big, 2*Size)
	unix.FcntlInt(uintptr(big), unix.F_ADD_SEALS, wantSeals)
	if _, err := Map(big); err == nil {
		t.Fatal("mapped a page of the wrong size")
	}
}
