package messenger

import (
	"context"
	"errors"
	"net"

	svc "github.com/mailslot/mailslot/agent/messenger"
)

// Record is one popup.
type Record = svc.Record

// ErrNoService is returned when no agent runs the Messenger service.
var ErrNoService = svc.ErrNoService

// roundtrip sends one request and reads the one reply.
func roundtrip(ctx context.Context, ns string, req svc.Request) (svc.Reply, error) {
	c, err := svc.Dial(ctx, ns)
	if err != nil {
		return svc.Reply{}, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var rep svc.Reply
	if err := svc.WriteJSON(c, req); err != nil {
		return rep, err
	}
	if err := svc.ReadJSON(c, make([]byte, svc.MaxFrame), &rep); err != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		return rep, err
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// Send sends text as a popup from the calling user to to: a computer or
// user name, "*" (the workgroup), "/domain" or "/domain:WG", with the
// syntax of Windows' net send. ns is the mailslot namespace ("" = the
// environment's).
func Send(ctx context.Context, ns, to, text string) error {
	_, err := roundtrip(ctx, ns, svc.Request{Op: svc.OpSend, To: to, Text: text})
	return err
}

// History returns the popups the calling user may see, oldest first.
func History(ctx context.Context, ns string) ([]Record, error) {
	rep, err := roundtrip(ctx, ns, svc.Request{Op: svc.OpHistory})
	return rep.History, err
}

// Stats returns the service's counters (received, shown, refused_* ...).
func Stats(ctx context.Context, ns string) (map[string]uint64, error) {
	rep, err := roundtrip(ctx, ns, svc.Request{Op: svc.OpStats})
	return rep.Stats, err
}

// Subscribe streams the popups for the calling user (and the host) to f
// until ctx ends or the agent goes away. ready, if not nil, is called with
// the user name the agent registered (NAME<03>) once the stream is set up.
func Subscribe(ctx context.Context, ns string, ready func(user string), f func(Record)) error {
	c, err := svc.Dial(ctx, ns)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := svc.WriteJSON(c, svc.Request{Op: svc.OpSubscribe}); err != nil {
		return err
	}
	buf := make([]byte, svc.MaxFrame)
	var rep svc.Reply
	if err := svc.ReadJSON(c, buf, &rep); err != nil {
		return err
	}
	if rep.Error != "" {
		return errors.New(rep.Error)
	}
	if ready != nil {
		ready(rep.User)
	}
	for {
		rep = svc.Reply{}
		if err := svc.ReadJSON(c, buf, &rep); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, net.ErrClosed) {
				return errors.New("messenger: the agent closed the connection")
			}
			return err
		}
		if rep.Message != nil {
			f(*rep.Message)
		}
	}
}
