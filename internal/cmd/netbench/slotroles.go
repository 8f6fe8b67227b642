//go:build linux

package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"time"

	"github.com/mailslot/mailslot"
)

// The mailslot side of each measurement: the same work as the raw roles,
// through mailslot.Open/Write, the agents and a slot with AllowRemote.
func init() {
	roles["slot-recv"] = slotRecv
	roles["slot-send"] = slotSend
	roles["slot-echo"] = slotEcho
	roles["slot-ping"] = slotPing
}

func createRemote(name string) (*mailslot.Slot, error) {
	// WaitForever: a zero ReadTimeout means "do not wait", as on Windows;
	// the roles bound their waits with contexts.
	return mailslot.Create(name, &mailslot.Config{AllowRemote: true, ReadTimeout: mailslot.WaitForever})
}

func slotRecv(fs *flag.FlagSet, args []string) (any, error) {
	name := fs.String("slot", "", `\\.\mailslot\...`)
	count := fs.Int("count", 0, "stop after this many distinct messages")
	idle := fs.Duration("idle", time.Second, "stop when nothing arrives for this long (after the first)")
	total := fs.Duration("timeout", 60*time.Second, "stop after this long in any case")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s, err := createRemote(*name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	ready()
	c := newCounter()
	end := time.Now().Add(*total)
	for len(c.seen) < *count {
		d := end
		if !c.first.IsZero() && time.Now().Add(*idle).Before(d) {
			d = time.Now().Add(*idle)
		}
		ctx, cancel := context.WithDeadline(context.Background(), d)
		m, err := s.ReadMessage(ctx)
		cancel()
		if err != nil {
			break
		}
		c.add(m.Data)
	}
	return c.result(), nil
}

func slotSend(fs *flag.FlagSet, args []string) (any, error) {
	to := fs.String("to", "", `\\HOST\mailslot\...`)
	size := fs.Int("size", 64, "payload bytes")
	count := fs.Int("count", 1000, "messages")
	rate := fs.Float64("rate", 0, "messages per second (0 = as fast as possible)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	w, err := mailslot.Open(*to, mailslot.WithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	r := sendResult{}
	p := pacer{start: time.Now(), rate: *rate}
	b := payload(*size, 0)
	for i := 0; i < *count; i++ {
		p.wait(i)
		binary.BigEndian.PutUint64(b, uint64(i))
		if _, err := w.Write(b); err != nil {
			r.Errors++
			continue
		}
		r.Sent++
	}
	r.Seconds = time.Since(p.start).Seconds()
	return r, nil
}

func slotEcho(fs *flag.FlagSet, args []string) (any, error) {
	name := fs.String("slot", "", `\\.\mailslot\...`)
	reply := fs.String("reply", "", `\\HOST\mailslot\...`)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s, err := createRemote(*name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	w, err := mailslot.Open(*reply, mailslot.WithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	ready()
	for {
		m, err := s.ReadMessage(context.Background())
		if err != nil {
			return nil, err
		}
		w.Write(m.Data)
	}
}

func slotPing(fs *flag.FlagSet, args []string) (any, error) {
	name := fs.String("slot", "", `\\.\mailslot\...`)
	to := fs.String("to", "", `\\HOST\mailslot\...`)
	size := fs.Int("size", 64, "payload bytes")
	count := fs.Int("count", 2000, "round trips")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	s, err := createRemote(*name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	w, err := mailslot.Open(*to, mailslot.WithTimeout(10*time.Second))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	b := payload(*size, 0)
	var rtts []time.Duration
	for i := 0; i < *count; i++ {
		binary.BigEndian.PutUint64(b, uint64(i))
		start := time.Now()
		if _, err := w.Write(b); err != nil {
			return nil, err
		}
		for {
			ctx, cancel := context.WithDeadline(context.Background(), start.Add(2*time.Second))
			m, err := s.ReadMessage(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) || err != nil {
				break // lost: not counted
			}
			if len(m.Data) >= 8 && binary.BigEndian.Uint64(m.Data) == uint64(i) {
				rtts = append(rtts, time.Since(start))
				break
			}
		}
	}
	return percentiles(rtts), nil
}
