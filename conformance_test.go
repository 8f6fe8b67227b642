package mailslot_test

// Windows conformance: every check of the Wine/ReactOS kernel32 mailslot test
// (reference win32-semantics.md §4) that applies to a local API, labelled with
// its number. docs/semantics.md maps each to its Windows behaviour.

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mailslot/mailslot"
	"github.com/mailslot/mailslot/winerr"
)

func wantErr(t *testing.T, err, target error, code mailslot.Errno) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
	if got := mailslot.Code(err); got != code {
		t.Fatalf("Win32 code = %d, want %d (%v)", got, code, err)
	}
}

func TestConformance(t *testing.T) {
	t.Run("§4.1 info on an invalid (closed) handle fails", func(t *testing.T) {
		s := mustCreate(t, uniqueName(t), nil)
		s.Close()
		_, err := s.Info()
		wantErr(t, err, net.ErrClosed, winerr.ERROR_INVALID_HANDLE)
	})
	t.Run("§4.2 open with no server fails with ERROR_FILE_NOT_FOUND", func(t *testing.T) {
		_, err := mailslot.Open(uniqueName(t))
		wantErr(t, err, mailslot.ErrNotFound, winerr.ERROR_FILE_NOT_FOUND)
	})
	t.Run("§4.3 create 'blah' fails with ERROR_INVALID_NAME", func(t *testing.T) {
		_, err := mailslot.Create("blah", nil)
		wantErr(t, err, mailslot.ErrInvalidName, winerr.ERROR_INVALID_NAME)
	})
	t.Run("§4.4 create with no name fails", func(t *testing.T) {
		// Go has no NULL string; the empty name is the closest input.
		_, err := mailslot.Create("", nil)
		wantErr(t, err, mailslot.ErrInvalidName, winerr.ERROR_INVALID_NAME)
	})
	t.Run("§4.5-6 create with wait-forever reports it, empty queue, then close", func(t *testing.T) {
		s, err := mailslot.Create(uniqueName(t), &mailslot.Config{ReadTimeout: mailslot.WaitForever})
		if err != nil {
			t.Fatal(err)
		}
		info := mustInfo(t, s)
		want := mailslot.Info{MaxMessageSize: 0, NextSize: mailslot.NoMessage, MessageCount: 0, ReadTimeout: mailslot.WaitForever}
		if info != want {
			t.Fatalf("info %+v, want %+v", info, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("§4.7 the name is free again after close", func(t *testing.T) {
		name := uniqueName(t)
		s := mustCreate(t, name, nil)
		s.Close()
		mustCreate(t, name, nil)
	})
	t.Run("§4.8 read on an invalid (closed) handle fails", func(t *testing.T) {
		s := mustCreate(t, uniqueName(t), nil)
		s.Close()
		n, err := s.Read(make([]byte, 16))
		if n != 0 {
			t.Fatalf("n = %d", n)
		}
		wantErr(t, err, net.ErrClosed, winerr.ERROR_INVALID_HANDLE)
	})

	name := uniqueName(t)
	slot := mustCreate(t, name, nil) // max 0, timeout 0, as in §4.7
	t.Run("§4.9 zero-size read of an empty slot times out at once", func(t *testing.T) {
		n, err := slot.Read(nil)
		if n != 0 {
			t.Fatalf("n = %d", n)
		}
		wantErr(t, err, os.ErrDeadlineExceeded, winerr.ERROR_SEM_TIMEOUT)
	})
	t.Run("§4.10 read of an empty slot times out", func(t *testing.T) {
		_, err := slot.Read(make([]byte, 16))
		wantErr(t, err, mailslot.ErrTimeout, winerr.ERROR_SEM_TIMEOUT)
	})
	t.Run("§4.11 the server handle cannot write", func(t *testing.T) {
		// Windows fails WriteFile(hSlot) with ERROR_ACCESS_DENIED; here the
		// reading end has no Write method at all.
		if _, ok := any(slot).(io.Writer); ok {
			t.Fatal("*Slot implements io.Writer")
		}
	})
	t.Run("§4.14-15 clients open with any sharing", func(t *testing.T) {
		mustOpen(t, name)
		mustOpen(t, name)
	})
	w := mustOpen(t, name)
	t.Run("§4.16 with a client open, reads still time out", func(t *testing.T) {
		_, err := slot.Read(make([]byte, 8))
		wantErr(t, err, mailslot.ErrTimeout, winerr.ERROR_SEM_TIMEOUT)
	})
	t.Run("§4.17 §4.19 a client cannot read", func(t *testing.T) {
		if _, ok := any(w).(io.Reader); ok {
			t.Fatal("*Writer implements io.Reader")
		}
	})
	t.Run("§4.18 §4.21 a client write of 8 bytes is read back whole", func(t *testing.T) {
		mustWrite(t, w, "12345678")
		buf := make([]byte, 16)
		n, err := slot.Read(buf)
		if err != nil || n != 8 || string(buf[:n]) != "12345678" {
			t.Fatalf("Read = %d %q, %v", n, buf[:n], err)
		}
	})
	t.Run("§4.22 then the slot is empty again", func(t *testing.T) {
		_, err := slot.Read(make([]byte, 16))
		wantErr(t, err, mailslot.ErrTimeout, winerr.ERROR_SEM_TIMEOUT)
	})
	t.Run("§4.23 more clients may open", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			mustOpen(t, name)
		}
	})
	t.Run("§4.24 create of a live name fails", func(t *testing.T) {
		_, err := mailslot.Create(name, nil)
		wantErr(t, err, mailslot.ErrExists, winerr.ERROR_ALREADY_EXISTS)
		if !errors.Is(err, os.ErrExist) {
			t.Fatal("not os.ErrExist")
		}
	})
	t.Run("§4.25-28 writers close and reopen", func(t *testing.T) {
		w1 := mustOpen(t, name)
		if err := w1.Close(); err != nil {
			t.Fatal(err)
		}
		mustOpen(t, name)
	})
	w2 := mustOpen(t, name)
	t.Run("§4.29 info of an empty slot", func(t *testing.T) {
		want := mailslot.Info{MaxMessageSize: 0, NextSize: mailslot.NoMessage, MessageCount: 0, ReadTimeout: 0}
		if info := mustInfo(t, slot); info != want {
			t.Fatalf("info %+v, want %+v", info, want)
		}
	})
	t.Run("§4.30 read times out", func(t *testing.T) {
		_, err := slot.Read(make([]byte, 16))
		wantErr(t, err, mailslot.ErrTimeout, winerr.ERROR_SEM_TIMEOUT)
	})
	t.Run("§4.31-38 counts and sizes with two writers and an empty message", func(t *testing.T) {
		check := func(step string, next, count int) {
			t.Helper()
			info := mustInfo(t, slot)
			if info.NextSize != next || info.MessageCount != count {
				t.Fatalf("%s: next %d count %d, want %d %d", step, info.NextSize, info.MessageCount, next, count)
			}
		}
		mustWrite(t, w, "a")
		check("§4.31", 1, 1)
		mustWrite(t, w2, "bc")
		check("§4.32", 1, 2)
		mustWrite(t, w2, "")
		check("§4.33", 1, 3)
		buf := make([]byte, 16)
		for _, step := range []struct {
			label, data string
			next, count int
		}{{"§4.34", "a", 2, 2}, {"§4.35", "bc", 0, 1}, {"§4.36-37", "", mailslot.NoMessage, 0}} {
			n, err := slot.Read(buf)
			if err != nil || string(buf[:n]) != step.data {
				t.Fatalf("%s: Read = %q, %v", step.label, buf[:n], err)
			}
			check(step.label, step.next, step.count)
		}
		_, err := slot.Read(buf)
		wantErr(t, err, mailslot.ErrTimeout, winerr.ERROR_SEM_TIMEOUT) // §4.38
	})
	t.Run("§4.39-40 a short read fails and keeps the message", func(t *testing.T) {
		mustWrite(t, w, "xy")
		n, err := slot.Read(make([]byte, 1))
		if n != 0 {
			t.Fatalf("n = %d", n)
		}
		wantErr(t, err, mailslot.ErrBufferTooSmall, winerr.ERROR_INSUFFICIENT_BUFFER)
		want := mailslot.Info{MaxMessageSize: 0, NextSize: 2, MessageCount: 1, ReadTimeout: 0}
		if info := mustInfo(t, slot); info != want {
			t.Fatalf("info %+v, want %+v", info, want)
		}
		t.Run("§4.41 a client sees the same info (Windows 8+)", func(t *testing.T) {
			info, err := w.Info()
			if err != nil || info != want {
				t.Fatalf("writer info %+v, %v; want %+v", info, err, want)
			}
		})
		buf := make([]byte, 2)
		if n, err := slot.Read(buf); err != nil || string(buf[:n]) != "xy" {
			t.Fatalf("Read = %q, %v", buf[:n], err)
		}
	})
	t.Run("§4.42 handles close", func(t *testing.T) {
		for _, c := range []io.Closer{w2, w, slot} {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("§4.43 a finite timeout is honoured", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		s := mustCreate(t, uniqueName(t), &mailslot.Config{ReadTimeout: timeout})
		start := time.Now()
		_, err := s.Read(make([]byte, 16))
		wantErr(t, err, mailslot.ErrTimeout, winerr.ERROR_SEM_TIMEOUT)
		if elapsed := time.Since(start); elapsed < timeout*9/10 {
			t.Fatalf("timed out after %v, want at least %v", elapsed, timeout*9/10)
		}
	})
	t.Run("§4.44-50 a pending read completes when a client writes", func(t *testing.T) {
		name := uniqueName(t)
		s := mustCreate(t, name, &mailslot.Config{ReadTimeout: mailslot.WaitForever})
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		buf := make([]byte, 16)
		go func() {
			n, err := s.Read(buf)
			done <- result{n, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("read returned before any write: %+v", r)
		case <-time.After(50 * time.Millisecond): // §4.47: still pending
		}
		mustWrite(t, mustOpen(t, name), "data")
		var r result
		select {
		case r = <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the pending read did not complete")
		}
		if r.err != nil || r.n != 4 || string(buf[:4]) != "data" {
			t.Fatalf("pending read = %d %q, %v", r.n, buf[:r.n], r.err)
		}
	})
}
