// Package browse gives programs the browse list the host's mailslot agent
// keeps (the hosts and workgroups announced on the LAN with the Browser
// protocol, as "Network Neighborhood" showed them), its changes as they
// happen, and a way to announce themselves: the peer discovery of the
// classic mailslot applications. Linux only (it needs the agent).
package browse

import (
	"context"
	"errors"
	"net"

	svc "github.com/mailslot/mailslot/agent/browse"
	"github.com/mailslot/mailslot/internal/jsonsock"
)

// Entry is one host or workgroup of the browse list.
type Entry = svc.Entry

// Event is an entry that appeared, changed or disappeared.
type Event = svc.Event

// Event types and entry kinds.
const (
	Appear     = svc.Appear
	Change     = svc.Change
	Disappear  = svc.Disappear
	KindHost   = svc.KindHost
	KindDomain = svc.KindDomain
)

// ErrNoService is returned when no agent runs the browse service.
var ErrNoService = svc.ErrNoService

func request(ctx context.Context, ns string, req svc.Request) (*net.UnixConn, svc.Reply, error) {
	c, err := svc.Dial(ctx, ns)
	if err != nil {
		return nil, svc.Reply{}, err
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	var rep svc.Reply
	err = jsonsock.Write(c, req)
	if err == nil {
		err = jsonsock.Read(c, make([]byte, jsonsock.MaxFrame), &rep)
	}
	stop()
	if err == nil && rep.Error != "" {
		err = errors.New(rep.Error)
	}
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, rep, err
	}
	return c, rep, nil
}

// List returns the browse list and the master browser of each workgroup
// the agent knows. ns is the mailslot namespace ("" = the environment's).
func List(ctx context.Context, ns string) ([]Entry, map[string]string, error) {
	c, rep, err := request(ctx, ns, svc.Request{Op: svc.OpList})
	if err != nil {
		return nil, nil, err
	}
	c.Close()
	return rep.Entries, rep.Masters, nil
}

// Watch streams the list's changes, starting with an Appear for every
// current entry, until ctx ends or the agent goes away (then the channel
// is closed).
func Watch(ctx context.Context, ns string) (<-chan Event, error) {
	c, _, err := request(ctx, ns, svc.Request{Op: svc.OpWatch})
	if err != nil {
		return nil, err
	}
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { c.Close() })
		defer stop()
		buf := make([]byte, jsonsock.MaxFrame)
		for {
			var rep svc.Reply
			if jsonsock.Read(c, buf, &rep) != nil {
				return
			}
			if rep.Event == nil {
				continue
			}
			select {
			case ch <- *rep.Event:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// Announce makes the agent announce name (1 to 15 characters) in the
// workgroup with the given ServerType bits and comment, on the host's
// schedule, until ctx ends or the returned stop is called; then a last
// announcement tells the peers it is gone.
func Announce(ctx context.Context, ns, name, comment string, serverType uint32) (stop func(), err error) {
	c, _, err := request(ctx, ns, svc.Request{Op: svc.OpAnnounce, Name: name, Comment: comment, Type: serverType})
	if err != nil {
		return nil, err
	}
	done := context.AfterFunc(ctx, func() { c.Close() })
	return func() { done(); c.Close() }, nil
}
