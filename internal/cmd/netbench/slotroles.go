//go:build linux

package main

import (
	"context"
	"flag"
	"time"

	"github.com/mailslot/mailslot"
)

// The mailslot side of each measurement: the same loops as the raw roles,
// through mailslot.Open/Write, the agents and a slot with AllowRemote.
func init() {
	roles["slot-recv"] = slotRecv
	roles["slot-send"] = slotSend
	roles["slot-echo"] = slotEcho
	roles["slot-ping"] = slotPing
}

// createRemote creates a slot that takes network messages. WaitForever: a
// zero ReadTimeout means "do not wait", as on Windows; reads are bounded by
// the deadline of each call instead.
func createRemote(name string) (*mailslot.Slot, error) {
	return mailslot.Create(name, &mailslot.Config{AllowRemote: true, ReadTimeout: mailslot.WaitForever})
}

func slotRead(s *mailslot.Slot) readFunc {
	return func(deadline time.Time) ([]byte, error) {
		ctx := context.Background()
		if !deadline.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		m, err := s.ReadMessage(ctx)
		if ctx.Err() != nil {
			return nil, errTimeout
		}
		return m.Data, err
	}
}

func openRemote(to string) (*mailslot.Writer, func([]byte) error, error) {
	w, err := mailslot.Open(to, mailslot.WithTimeout(10*time.Second))
	if err != nil {
		return nil, nil, err
	}
	return w, func(b []byte) error { _, err := w.Write(b); return err }, nil
}

// slotPair creates the slot a role reads and opens the one it writes.
func slotPair(slot, to string) (*mailslot.Slot, *mailslot.Writer, func([]byte) error, error) {
	s, err := createRemote(slot)
	if err != nil {
		return nil, nil, nil, err
	}
	w, write, err := openRemote(to)
	if err != nil {
		s.Close()
		return nil, nil, nil, err
	}
	return s, w, write, nil
}

func slotRecv(fs *flag.FlagSet, args []string) (any, error) {
	f := addRecvFlags(fs, "slot")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s, err := createRemote(*f.at)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return recvAll(f, slotRead(s)), nil
}

func slotSend(fs *flag.FlagSet, args []string) (any, error) {
	f := addSendFlags(fs, 1000)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	w, write, err := openRemote(*f.to)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	return sendAll(f, write), nil
}

func slotEcho(fs *flag.FlagSet, args []string) (any, error) {
	slot := fs.String("slot", "", `\\.\mailslot\...`)
	reply := fs.String("reply", "", `\\HOST\mailslot\...`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s, w, write, err := slotPair(*slot, *reply)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	defer w.Close()
	return nil, echoAll(write, slotRead(s))
}

func slotPing(fs *flag.FlagSet, args []string) (any, error) {
	slot := fs.String("slot", "", `\\.\mailslot\...`)
	f := addSendFlags(fs, 2000)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s, w, write, err := slotPair(*slot, *f.to)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	defer w.Close()
	return pingAll(*f.size, *f.count, write, slotRead(s))
}
