package messenger

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// NotifyTimeout bounds one notification call: a missing or stuck
// notification server must never block the messenger.
const NotifyTimeout = 3 * time.Second

// Desktop shows popups as freedesktop notifications on a session bus.
type Desktop struct {
	conn *dbus.Conn
}

// ErrNoSessionBus is returned by ConnectDesktop when the user has no
// session bus to talk to.
var ErrNoSessionBus = fmt.Errorf("messenger: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS unset and no /run/user/%d/bus)", os.Getuid())

// ConnectDesktop connects to the user's session bus. It never starts a bus
// (no autolaunch): without DBUS_SESSION_BUS_ADDRESS or the user's
// /run/user/UID/bus socket it returns ErrNoSessionBus at once.
func ConnectDesktop(ctx context.Context) (*Desktop, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		p := fmt.Sprintf("/run/user/%d/bus", os.Getuid())
		if _, err := os.Stat(p); err != nil {
			return nil, ErrNoSessionBus
		}
		addr = "unix:path=" + p
	}
	// dbus.WithContext would tie the connection's whole life to ctx, so
	// the bound on connecting (a bus that accepts and never answers) is
	// kept here; a late connection is closed.
	type result struct {
		c   *dbus.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := dbus.Connect(addr)
		ch <- result{c, err}
	}()
	t := time.NewTimer(NotifyTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("messenger: session bus: %w", r.err)
		}
		return &Desktop{conn: r.c}, nil
	case <-ctx.Done():
	case <-t.C:
	}
	go func() {
		if r := <-ch; r.c != nil {
			r.c.Close()
		}
	}()
	return nil, fmt.Errorf("messenger: session bus %s: no answer within %v", addr, NotifyTimeout)
}

// Notify shows r; it fails (within NotifyTimeout) when no notification
// server answers.
func (d *Desktop) Notify(ctx context.Context, r Record) error {
	ctx, cancel := context.WithTimeout(ctx, NotifyTimeout)
	defer cancel()
	obj := d.conn.Object("org.freedesktop.Notifications", "/org/freedesktop/Notifications")
	summary := "Message from " + r.From
	if r.To != "" {
		summary += " to " + r.To
	}
	call := obj.CallWithContext(ctx, "org.freedesktop.Notifications.Notify", 0,
		"mailslot", uint32(0), "dialog-information", summary, escapeMarkup(r.Text),
		[]string{}, map[string]dbus.Variant{"urgency": dbus.MakeVariant(byte(1))}, int32(-1))
	return call.Err
}

// Close closes the bus connection.
func (d *Desktop) Close() error { return d.conn.Close() }

// escapeMarkup keeps a popup's text from being read as the body markup
// some servers support.
var escapeMarkup = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
