package samba

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailslot/mailslot/wire/nmbdsock"
)

// fakeNmbd serves one subscription the way nmbd does: it reads the query,
// acks, sends frames, and returns the query it read.
func fakeNmbd(t *testing.T, frames ...nmbdsock.Frame) (string, <-chan []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "unexpected")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		q := make([]byte, nmbdsock.QuerySize)
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		got <- q
		c.Write([]byte{nmbdsock.Ack})
		for _, f := range frames {
			c.Write(append(f.Header.Append(nil), f.Packet...))
		}
	}()
	return path, got
}

func TestSubscribe(t *testing.T) {
	f := frame(t, false, 7, "hello")
	path, got := fakeNmbd(t, f)
	c, err := subscribe(context.Background(), path)
	if os.Geteuid() != 0 {
		// The fake server is not root, so it cannot be nmbd.
		if !errors.Is(err, errNotNmbd) {
			t.Fatalf("subscribe to a server that is not root: %v, want errNotNmbd", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q, err := nmbdsock.ParseQuery(<-got)
	if err != nil || q != (nmbdsock.Query{Type: nmbdsock.Dgram, TrnID: nmbdsock.AnyTrnID}) {
		t.Errorf("query %+v, %v: want every datagram", q, err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r, err := nmbdsock.ReadFrame(c, make([]byte, nmbdsock.BufferSize))
	if err != nil || !bytes.Equal(r.Packet, f.Packet) || r.Src != netip.MustParseAddrPort("192.0.2.20:138") {
		t.Errorf("frame %+v, %v", r.Header, err)
	}
}

func TestPresent(t *testing.T) {
	if Present(context.Background(), filepath.Join(t.TempDir(), "absent")) {
		t.Error("Present with no socket")
	}
	// A server that never acks is not nmbd (and does not hang the agent).
	path := filepath.Join(t.TempDir(), "mute")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	if Present(context.Background(), path) {
		t.Error("Present with a server that does not ack")
	}
}
