//go:build linux

package browse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/mailslot/mailslot/internal/jsonsock"
	"github.com/mailslot/mailslot/wire/browser"
)

// The local protocol: JSON documents on @mailslot/<ns>/browse (package
// jsonsock). A client sends one Request; "list" gets one Reply, "watch"
// a Reply per Event until it hangs up, "announce" one Reply and then the
// name is announced until it hangs up.

// Request ops.
const (
	OpList     = "list"
	OpWatch    = "watch"
	OpAnnounce = "announce"
)

// Request is a client's request.
type Request struct {
	Op string `json:"op"`
	// Announce: a server name for the program, its comment and type bits.
	Name    string `json:"name,omitempty"`
	Comment string `json:"comment,omitempty"`
	Type    uint32 `json:"type,omitempty"`
}

// Reply is the service's answer.
type Reply struct {
	Error   string            `json:"error,omitempty"`
	Entries []Entry           `json:"entries,omitempty"`
	Masters map[string]string `json:"masters,omitempty"` // workgroup -> master browser
	Event   *Event            `json:"event,omitempty"`
}

// ErrNoService is returned by Dial when no agent runs the browse service.
var ErrNoService = errors.New("browse: no mailslot agent with the browse service is running (start \"mailslot agent\")")

// Dial connects to the service and checks that root bound its socket.
func Dial(ctx context.Context, ns string) (*net.UnixConn, error) {
	return jsonsock.Dial(ctx, ns, "browse", ErrNoService)
}

func (s *Service) serve(ctx context.Context, c *net.UnixConn, buf []byte) {
	var req Request
	if err := jsonsock.ReadRequest(c, buf, &req); err != nil {
		jsonsock.Write(c, Reply{Error: "bad request: " + err.Error()})
		return
	}
	switch req.Op {
	case OpList:
		e, m := s.Entries()
		jsonsock.Write(c, Reply{Entries: e, Masters: m})
	case OpWatch:
		s.streamEvents(ctx, c, buf)
	case OpAnnounce:
		s.serveAnnounce(ctx, c, &req, buf)
	default:
		jsonsock.Write(c, Reply{Error: fmt.Sprintf("unknown op %q", req.Op)})
	}
}

// hangup returns a channel closed when the client hangs up (it sends
// nothing after its request).
func hangup(c *net.UnixConn, buf []byte) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		c.Read(buf)
		close(gone)
	}()
	return gone
}

func (s *Service) streamEvents(ctx context.Context, c *net.UnixConn, buf []byte) {
	s.mu.Lock()
	if s.nwatch >= maxWatchers {
		s.mu.Unlock()
		jsonsock.Write(c, Reply{Error: "too many browse watchers"})
		return
	}
	s.nwatch++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.nwatch--
		s.mu.Unlock()
	}()
	ch, stop := s.list.watch()
	defer stop()
	if jsonsock.Write(c, Reply{}) != nil {
		return
	}
	gone := hangup(c, buf)
	for {
		select {
		case ev := <-ch:
			if jsonsock.Write(c, Reply{Event: &ev}) != nil {
				return
			}
		case <-gone:
			return
		case <-ctx.Done():
			return
		}
	}
}

// serveAnnounce announces a program's own server name, with its type
// bits and comment, on the host's schedule until the program hangs up
// (then a last announcement with type 0 says it is gone).
func (s *Service) serveAnnounce(ctx context.Context, c *net.UnixConn, req *Request, buf []byte) {
	name := strings.ToUpper(req.Name)
	p := &app{name: name, comment: req.Comment, typ: browser.ServerType(req.Type)}
	if p.typ == 0 {
		p.typ = browser.Workstation
	}
	var err error
	s.mu.Lock()
	switch {
	case name == "" || len(name) > 15 || len(req.Comment) > 43:
		err = errors.New("want a name of 1 to 15 bytes and a comment of at most 43")
	case name == s.a.HostName().Base() || s.apps[name] != nil:
		err = fmt.Errorf("%s is already announced", name)
	case len(s.apps) >= maxApps:
		err = errors.New("too many announced programs")
	default:
		s.apps[name] = p
	}
	s.mu.Unlock()
	if err != nil {
		jsonsock.Write(c, Reply{Error: err.Error()})
		return
	}
	period := uint32(max(s.scaled(Schedule[0]), time.Second) / time.Millisecond)
	s.announce(p.name, period, p.typ, p.comment)
	defer func() {
		s.mu.Lock()
		delete(s.apps, name)
		s.mu.Unlock()
		s.announce(p.name, period, 0, p.comment)
	}()
	if jsonsock.Write(c, Reply{}) != nil {
		return
	}
	select {
	case <-hangup(c, buf):
	case <-ctx.Done():
	}
}
