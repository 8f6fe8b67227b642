package messenger

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/user"
	"time"
)

// Options configure Run.
type Options struct {
	Namespace string // mailslot namespace; "" = the environment's
	// NoDesktop skips desktop notifications (terminals only).
	NoDesktop bool
	// Terminals replaces the terminals from utmp (tests, or a fixed tty).
	Terminals []string
	Logger    *slog.Logger
	// Ready is called each time the stream from the agent is set up, with
	// the name registered for the user.
	Ready func(user string)
}

// Run is "mailslot messenger": it streams the popups for this user from
// the agent and shows each on the desktop, else on the user's terminals,
// until ctx ends. It reconnects when the agent restarts.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &shower{o: o, log: log}
	defer s.close()
	backoff := 500 * time.Millisecond
	for {
		err := Subscribe(ctx, o.Namespace, func(u string) {
			backoff = 500 * time.Millisecond
			log.Info("messenger ready", "name", u)
			if o.Ready != nil {
				o.Ready(u)
			}
		}, func(r Record) { s.show(ctx, r) })
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("messenger: agent connection", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

type shower struct {
	o   Options
	log *slog.Logger
	d   *Desktop
}

func (s *shower) close() {
	if s.d != nil {
		s.d.Close()
	}
}

// show tries the desktop, then the terminals.
func (s *shower) show(ctx context.Context, r Record) {
	if !s.o.NoDesktop {
		if s.d == nil {
			d, err := ConnectDesktop(ctx)
			if err == nil {
				s.d = d
			} else if !errors.Is(err, ErrNoSessionBus) {
				s.log.Debug("desktop", "err", err)
			}
		}
		if s.d != nil {
			err := s.d.Notify(ctx, r)
			if err == nil {
				return
			}
			s.log.Debug("desktop notification failed; using terminals", "err", err)
			s.d.Close()
			s.d = nil // reconnect next time: the session may come back
		}
	}
	ttys := s.o.Terminals
	if len(ttys) == 0 {
		if u, err := user.Current(); err == nil {
			ttys = UserTerminals(u.Username, os.Getuid())
		}
	}
	for _, t := range ttys {
		if err := WriteTerminal(t, r); err != nil {
			s.log.Debug("terminal", "tty", t, "err", err)
		}
	}
}
