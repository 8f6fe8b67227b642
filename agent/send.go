package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mailslot/mailslot/winerr"
	"github.com/mailslot/mailslot/wire/netbios"
)

// Error is a failure the agent reports to a local client, with the Win32
// code the client's API returns.
type Error struct {
	Code winerr.Errno
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Win32Code returns the error's Win32 code.
func (e *Error) Win32Code() winerr.Errno { return e.Code }

var errTooMany = &Error{Code: winerr.ERROR_NOT_ENOUGH_QUOTA, Msg: "too many slots registered with the agent"}

func badNetPath(format string, a ...any) error {
	return &Error{Code: winerr.ERROR_BAD_NETPATH, Msg: fmt.Sprintf(format, a...)}
}

// Target is a resolved destination for writes to \\HOST\mailslot\PATH.
type Target struct {
	t    target
	path string
}

// MaxPayload is the largest message one write to this target may carry.
func (t *Target) MaxPayload() int { return t.t.max }

// Group reports whether writes are broadcast to a group name.
func (t *Target) Group() bool { return t.t.group }

// Open resolves \\host\mailslot\path for writing: "*" and the agent's
// workgroup are its workgroup group name, the agent's own name is this
// host, and any other name is resolved (unique: one DIRECT_UNIQUE datagram
// to the owner; group: DIRECT_GROUP broadcasts). A name that cannot be
// resolved within ctx fails with ERROR_BAD_NETPATH naming the host.
func (a *Agent) Open(ctx context.Context, host, path string) (*Target, error) {
	if path == "" {
		return nil, &Error{Code: winerr.ERROR_INVALID_NAME, Msg: "empty mailslot path"}
	}
	t := target{display: `\\` + host}
	switch {
	case host == "*" || strings.EqualFold(host, a.wg.Base()):
		t.dest, t.group = a.wg, true
	case strings.EqualFold(host, a.host.Base()):
		t.dest, t.self = a.host, true
	default:
		n, err := netbios.New(host, netbios.Workstation)
		if err != nil {
			return nil, &Error{Code: winerr.ERROR_INVALID_NAME, Msg: err.Error()}
		}
		if err := a.resolveTarget(ctx, n, host, &t); err != nil {
			return nil, err
		}
	}
	t.max = maxPayload(path, t.group, a.cfg.Style)
	return &Target{t: t, path: path}, nil
}

// Write sends one message to t. Like a Windows remote write it reports no
// delivery failure, only what prevents sending (size, no interface).
func (a *Agent) Write(t *Target, p []byte) error {
	if err := a.dgram.send(&t.t, t.path, p); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return badNetPath("%v", err)
	}
	return nil
}

// Send is Open then Write.
func (a *Agent) Send(ctx context.Context, host, path string, p []byte) error {
	t, err := a.Open(ctx, host, path)
	if err != nil {
		return err
	}
	return a.Write(t, p)
}
